//! Landlock on top of bubblewrap: inside the sandbox, before the step's command, the
//! `attest` binary restricts itself and then `exec`s the command, which inherits the
//! restriction.
//!
//! Why a helper inside the sandbox: bubblewrap has no Landlock flag, a Landlock domain
//! forbids the mounts bubblewrap must still make, and attest runs no code of its own
//! between `fork` and `exec`. So the command line becomes
//! `bwrap ... -- /run/attest/attest __landlock --abi N --write DIR ... -- sh -c CMD`, with
//! the running `attest` bound read-only at [`HELPER_INSIDE`].
//!
//! The rules (all enforced, or the step fails: the receipt says they were):
//! - read and execute everywhere the sandbox shows;
//! - everything (create, remove, rename, truncate, ...) below the directories of the
//!   declared outputs and `/tmp`;
//! - only reading, writing and device ioctls below `/dev` (`/dev/null`, `/dev/tty`), so
//!   nothing can be created there although bubblewrap's `/dev` is a writable tmpfs;
//! - from ABI 6: no connecting to abstract UNIX sockets and no signals outside the sandbox.
//!
//! Network access stays with the network namespace (loopback only): Landlock's TCP rules
//! would also forbid the loopback servers steps legitimately start.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
    path_beneath_rules,
};

/// Where the helper (the running `attest`) is bound inside the sandbox.
pub(crate) const HELPER_INSIDE: &str = "/run/attest/attest";

/// The first argument that makes `attest` the helper.
pub const LANDLOCK_SUBCOMMAND: &str = "__landlock";

/// The newest Landlock ABI attest's rules are written and tested for.
const NEWEST_ABI: u8 = 6;

/// Whether the running program is attest's CLI, whose binary can be the helper (set once
/// at start; the binary's path is only looked up when a sandbox needs it).
static HELPER_DECLARED: AtomicBool = AtomicBool::new(false);

/// The running binary, looked up once.
static HELPER: OnceLock<Option<PathBuf>> = OnceLock::new();

/// The kernel's Landlock ABI, probed once per process.
static KERNEL_ABI: OnceLock<Option<u8>> = OnceLock::new();

/// Declares the running binary (attest's CLI) as the helper that applies Landlock inside
/// sandboxes. Without it (a library user, a test binary), sandboxes have no Landlock.
pub fn use_current_exe_as_landlock_helper() {
    HELPER_DECLARED.store(true, Ordering::Relaxed);
}

/// The Landlock ABI sandboxed steps get on this host (at most [`NEWEST_ABI`]): `None`
/// when the kernel has no Landlock or no helper was declared.
pub fn sandbox_landlock_abi() -> Option<u8> {
    landlock_helper().map(|(_, abi)| abi)
}

/// The helper and the ABI, when sandboxes get Landlock.
pub(crate) fn landlock_helper() -> Option<(&'static Path, u8)> {
    if !HELPER_DECLARED.load(Ordering::Relaxed) {
        return None;
    }
    let helper = HELPER.get_or_init(|| std::env::current_exe().ok()).as_deref()?;
    Some((helper, kernel_abi()?))
}

fn kernel_abi() -> Option<u8> {
    *KERNEL_ABI.get_or_init(|| (1..=NEWEST_ABI).rev().find(|&abi| ruleset(abi).and_then(Ruleset::create).is_ok()))
}

fn abi(version: u8) -> ABI {
    ABI::from(i32::from(version))
}

/// The ruleset of ABI `version`, every right required (creating it fails where the kernel
/// lacks one).
fn ruleset(version: u8) -> Result<Ruleset, landlock::RulesetError> {
    let abi = abi(version);
    let ruleset =
        Ruleset::default().set_compatibility(CompatLevel::HardRequirement).handle_access(AccessFs::from_all(abi))?;
    if Scope::from_all(abi).is_empty() { Ok(ruleset) } else { ruleset.scope(Scope::from_all(abi)) }
}

/// The command inside the sandbox: the helper with the rules, then `command`.
pub(crate) fn helper_argv(abi: u8, writable: &[String], command: &[String]) -> Vec<String> {
    let mut argv = vec![HELPER_INSIDE.to_owned(), LANDLOCK_SUBCOMMAND.to_owned(), "--abi".to_owned(), abi.to_string()];
    for dir in writable {
        argv.extend(["--write".to_owned(), dir.clone()]);
    }
    argv.push("--".to_owned());
    argv.extend(command.iter().cloned());
    argv
}

/// What `attest __landlock` was asked to do.
#[derive(Debug, PartialEq, Eq)]
struct HelperArgs {
    abi: u8,
    writable: Vec<PathBuf>,
    command: Vec<OsString>,
}

fn parse(args: &[OsString]) -> Result<HelperArgs, String> {
    let mut abi = None;
    let mut writable = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.to_str() {
            Some("--abi") => {
                let value = rest.next().and_then(|v| v.to_str()).ok_or("`--abi` needs a version")?;
                abi = Some(value.parse::<u8>().map_err(|_| format!("`--abi {value}` is not a version"))?);
            }
            Some("--write") => writable.push(PathBuf::from(rest.next().ok_or("`--write` needs a directory")?)),
            Some("--") => {
                let command: Vec<OsString> = rest.cloned().collect();
                if command.is_empty() {
                    return Err("no command after `--`".to_owned());
                }
                let abi = abi.ok_or("`--abi` is missing")?;
                if abi == 0 || abi > NEWEST_ABI {
                    return Err(format!("ABI {abi} is not one attest's rules are written for (1 to {NEWEST_ABI})"));
                }
                return Ok(HelperArgs { abi, writable, command });
            }
            _ => return Err(format!("unexpected argument `{}`", arg.to_string_lossy())),
        }
    }
    Err("no `--` before the command".to_owned())
}

/// `attest __landlock --abi N [--write DIR]... -- COMMAND...`: restricts this process
/// with Landlock as the module's rules say, then replaces it with `COMMAND`. Returns only
/// on failure, with the message for stderr; nothing runs unrestricted.
pub fn landlock_exec(args: &[OsString]) -> String {
    let args = match parse(args) {
        Ok(args) => args,
        Err(message) => return format!("attest {LANDLOCK_SUBCOMMAND}: {message}"),
    };
    if let Err(message) = restrict(&args) {
        return format!("attest {LANDLOCK_SUBCOMMAND}: Landlock could not be applied: {message}");
    }
    let err =
        std::os::unix::process::CommandExt::exec(std::process::Command::new(&args.command[0]).args(&args.command[1..]));
    format!("attest {LANDLOCK_SUBCOMMAND}: failed to run `{}`: {err}", args.command[0].to_string_lossy())
}

fn restrict(args: &HelperArgs) -> Result<(), String> {
    let abi = abi(args.abi);
    let read = AccessFs::from_read(abi);
    let device = AccessFs::ReadFile
        | AccessFs::WriteFile
        | (AccessFs::from_all(abi) & (AccessFs::Truncate | AccessFs::IoctlDev));
    let mut writable: Vec<&Path> = args.writable.iter().map(PathBuf::as_path).collect();
    writable.push(Path::new("/tmp"));
    let status = ruleset(args.abi)
        .and_then(Ruleset::create)
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], read)))
        .and_then(|r| r.add_rules(path_beneath_rules(["/dev"], device)))
        .and_then(|r| r.add_rules(path_beneath_rules(&writable, AccessFs::from_all(abi))))
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(()),
        other => Err(format!("the kernel enforced the rules only partly ({other:?})")),
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_helper_command_line_round_trips() {
        let argv = helper_argv(6, &["/work/out".to_owned()], &["sh".to_owned(), "-c".to_owned(), "true".to_owned()]);
        assert_eq!(argv[..2], [HELPER_INSIDE, LANDLOCK_SUBCOMMAND]);
        let parsed = parse(&os(&argv.iter().skip(2).map(String::as_str).collect::<Vec<_>>())).unwrap();
        assert_eq!(
            parsed,
            HelperArgs { abi: 6, writable: vec![PathBuf::from("/work/out")], command: os(&["sh", "-c", "true"]) }
        );
    }

    #[test]
    fn bad_helper_arguments_are_refused() {
        for (args, said) in [
            (&["--abi", "6"][..], "no `--`"),
            (&["--abi", "6", "--"][..], "no command"),
            (&["--", "true"][..], "`--abi` is missing"),
            (&["--abi", "9", "--", "true"][..], "ABI 9"),
            (&["--abi", "x", "--", "true"][..], "not a version"),
            (&["--write"][..], "needs a directory"),
            (&["--what"][..], "unexpected argument `--what`"),
        ] {
            let err = parse(&os(args)).unwrap_err();
            assert!(err.contains(said), "{args:?}: {err}");
        }
    }

    #[test]
    fn without_a_declared_helper_sandboxes_get_no_landlock() {
        // Unit tests never declare the helper: only attest's CLI does.
        assert_eq!(sandbox_landlock_abi(), None);
        assert!(landlock_helper().is_none());
    }
}
