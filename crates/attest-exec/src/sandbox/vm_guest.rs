//! The guest protocol of `isolation: vm`: what the host prepares, what the guest's
//! `/init` does with it, and how the exit code comes back.
//!
//! Three virtio-9p shares (QEMU `-fsdev local`, `security_model=none`):
//!
//! - `ws`, read-only: a *view* of the workspace holding only the step's declared inputs
//!   (hard links, or copies across filesystems) and the outputs of the steps it needs,
//!   at their workspace-relative paths, plus empty directories where outputs go. The
//!   guest mounts it at `/work` ([`crate::SANDBOX_ROOT`]), read-only;
//! - `out`, writable: the staged output directories (see `output_stage`), each
//!   bind-mounted by the guest over its empty directory in `/work`;
//! - `meta`, writable, in a private temporary directory of the host (never under
//!   `.attest/`, since the environment may hold secrets): `run.sh` (the command),
//!   `env` (the step's environment, deleted by the guest once read), `writable` (one
//!   output directory per line). The guest writes `exit` (the command's exit code).
//!
//! The guest has no network device, a private `/tmp`, busybox as its userland, and runs
//! the command as root of the VM. The command's output goes to the serial console, which
//! is QEMU's stdout, so it is captured and streamed like any step's; the kernel prints
//! nothing there (`quiet loglevel=0`). A custom `vm_image.initramfs` must follow this
//! protocol (the README shows the `/init` below).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use crate::ExecError;

/// The protocol's version: part of the initramfs recipe, so a change rebuilds it and
/// changes the cache keys of VM steps.
pub(crate) const PROTOCOL: u32 = 1;

/// The guest's `/init` in attest's initramfs.
pub(crate) const INIT: &str = r#"#!/bin/busybox sh
# attest guest protocol 1 (see attest-exec's vm_guest module)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "attest-guest: $*" >/dev/console; poweroff -f; }
while read -r m; do insmod "/lib/modules/$m" || fail "cannot load module $m"; done </lib/modules/order
o=trans=virtio,version=9p2000.L,msize=512000,cache=none
mount -t 9p -o "$o" meta /meta || fail "cannot mount the meta share"
mount -t 9p -o "$o,ro" ws /work || fail "cannot mount the workspace"
mount -t 9p -o "$o" out /out || fail "cannot mount the outputs"
while read -r d; do
  mount --bind "/out/$d" "/work/$d" || fail "cannot mount output directory $d"
done </meta/writable
mount -t tmpfs -o mode=1777 tmpfs /tmp
hostname attest
ip link set lo up 2>/dev/null
. /meta/env
rm -f /meta/env
export PATH=/bin
sh /meta/run.sh </dev/null >/dev/console 2>&1
echo $? >/meta/exit
sync
poweroff -f
"#;

/// `'text'` for sh, with embedded single quotes closed and escaped.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Whether `name` can be an environment variable of the guest's shell.
fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes `run.sh`, `env` and `writable` into `meta`.
pub(crate) fn write_meta(
    meta: &Path,
    argv: &[String],
    env: &BTreeMap<String, String>,
    writable: &[String],
    working_dir: &str,
) -> Result<(), ExecError> {
    let write = |name: &str, text: String| {
        let path = meta.join(name);
        std::fs::write(&path, text).map_err(super::scratch_error(&path))
    };
    let dir = if working_dir.is_empty() {
        crate::SANDBOX_ROOT.to_owned()
    } else {
        format!("{}/{working_dir}", crate::SANDBOX_ROOT)
    };
    let command: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
    write("run.sh", format!("cd {} || exit 126\nexec {}\n", sh_quote(&dir), command.join(" ")))?;
    let mut exports = String::new();
    for (name, value) in env.iter().filter(|(name, _)| is_shell_name(name)) {
        exports.push_str(&format!("export {name}={}\n", sh_quote(value)));
    }
    if let Some(home) = env.get("HOME").filter(|h| h.starts_with("/tmp/")) {
        exports.push_str(&format!("mkdir -p {}\n", sh_quote(home)));
    }
    write("env", exports)?;
    write("writable", writable.iter().map(|d| format!("{d}\n")).collect())
}

/// The QEMU command line of one VM step.
pub(crate) struct QemuPlan<'a> {
    pub(crate) qemu: &'a Path,
    pub(crate) kernel: &'a Path,
    pub(crate) initramfs: &'a Path,
    pub(crate) view: &'a Path,
    pub(crate) out: &'a Path,
    pub(crate) meta: &'a Path,
    pub(crate) accel: &'a str,
}

/// The host's TSC rate in kHz for the guest's `tsc_early_khz`: under TCG, a `microvm`
/// guest without it hangs calibrating its timer. A wrong value only makes guest clocks
/// run fast or slow; the CPU's nominal MHz from `/proc/cpuinfo` is close enough.
fn tsc_khz() -> u64 {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("cpu MHz"))?;
            let mhz: f64 = line.split(':').nth(1)?.trim().parse().ok()?;
            Some((mhz * 1000.0) as u64)
        })
        .filter(|khz| *khz > 0)
        .unwrap_or(2_000_000)
}

/// Memory of the guest.
const GUEST_MEMORY: &str = "512M";

pub(crate) fn qemu_argv(plan: &QemuPlan<'_>) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![plan.qemu.into()];
    let mut push = |args: &[&str]| argv.extend(args.iter().map(OsString::from));
    push(&["-machine", "microvm,x-option-roms=off", "-accel", plan.accel, "-cpu", "qemu64", "-m", GUEST_MEMORY]);
    push(&["-display", "none", "-no-reboot", "-nodefaults", "-no-user-config", "-serial", "stdio"]);
    let kernel = plan.kernel.to_string_lossy();
    let initramfs = plan.initramfs.to_string_lossy();
    push(&["-kernel", &kernel, "-initrd", &initramfs]);
    let append = format!(
        "console=ttyS0 quiet loglevel=0 panic=-1 mitigations=off cryptomgr.notests tsc_early_khz={}",
        tsc_khz()
    );
    push(&["-append", &append]);
    for (tag, path, read_only) in [("ws", plan.view, true), ("out", plan.out, false), ("meta", plan.meta, false)] {
        let mut fsdev = OsString::from(format!("local,id={tag},security_model=none,path="));
        fsdev.push(path);
        if read_only {
            fsdev.push(",readonly=on");
        }
        argv.push("-fsdev".into());
        argv.push(fsdev);
        argv.push("-device".into());
        argv.push(format!("virtio-9p-device,fsdev={tag},mount_tag={tag}").into());
    }
    argv
}

/// The exit code the guest wrote, if it got that far.
pub(crate) fn guest_exit(meta: &Path) -> Option<i32> {
    std::fs::read_to_string(meta.join("exit")).ok()?.trim().parse().ok()
}

/// A private directory for the `meta` share (mode 0700, outside the workspace).
pub(crate) fn meta_dir() -> Result<tempfile::TempDir, ExecError> {
    tempfile::Builder::new()
        .prefix("attest-vm-")
        .tempdir()
        .map_err(|source| ExecError::Scratch { path: std::env::temp_dir(), source })
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn meta_files_quote_everything() {
        let dir = tempfile::tempdir().unwrap();
        let env = BTreeMap::from([
            ("GREETING".to_owned(), "it's $HOME".to_owned()),
            ("bad-name".to_owned(), "x".to_owned()),
            ("HOME".to_owned(), "/tmp/attest-home".to_owned()),
        ]);
        let argv = ["sh".to_owned(), "-c".to_owned(), "echo 'hi' > out/a".to_owned()];
        write_meta(dir.path(), &argv, &env, &["out".to_owned()], "sub").unwrap();
        let run = std::fs::read_to_string(dir.path().join("run.sh")).unwrap();
        assert_eq!(run, "cd '/work/sub' || exit 126\nexec 'sh' '-c' 'echo '\\''hi'\\'' > out/a'\n");
        let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
        assert!(env.contains("export GREETING='it'\\''s $HOME'\n"));
        assert!(!env.contains("bad-name"));
        assert!(env.contains("mkdir -p '/tmp/attest-home'"));
        // What sh makes of it is exactly the original text.
        let out =
            std::process::Command::new("sh").arg("-c").arg(format!("{env}printf %s \"$GREETING\"")).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's $HOME");
        assert_eq!(std::fs::read_to_string(dir.path().join("writable")).unwrap(), "out\n");
    }

    #[test]
    fn qemu_gets_three_shares_and_no_network() {
        let plan = QemuPlan {
            qemu: Path::new("/usr/bin/qemu-system-x86_64"),
            kernel: Path::new("/k"),
            initramfs: Path::new("/i"),
            view: Path::new("/v"),
            out: Path::new("/o"),
            meta: Path::new("/m"),
            accel: "tcg",
        };
        let argv: Vec<String> = qemu_argv(&plan).iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let text = argv.join(" ");
        assert!(text.contains("-machine microvm,x-option-roms=off -accel tcg"));
        assert!(text.contains("tsc_early_khz="));
        assert!(text.contains("local,id=ws,security_model=none,path=/v,readonly=on"));
        assert!(text.contains("local,id=out,security_model=none,path=/o -device"));
        assert!(text.contains("-nodefaults"), "no default NIC or other devices");
        assert!(!text.contains("-netdev") && !text.contains("-nic"));
    }
}
