//! The bubblewrap command line of a sandboxed step: pure, from a [`MountPlan`].

use std::ffi::OsString;
use std::path::Path;

use super::input_mounts::InputMount;
use super::landlock_rules::HELPER_INSIDE;
use super::{SANDBOX_GID, SANDBOX_HOSTNAME, SANDBOX_ROOT, SANDBOX_UID};

/// Top-level entries mirrored from the host: on Debian (merged `/usr`) they are symlinks
/// into `/usr`; elsewhere real directories, then bound read-only.
const TOP_LEVEL: [&str; 6] = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// Host paths shown read-only besides `/usr`, when they exist: Debian's alternatives
/// (`/usr/bin/cc` is a symlink through `/etc/alternatives`) and the dynamic linker's cache.
const BASE_ETC: [&str; 2] = ["/etc/alternatives", "/etc/ld.so.cache"];

/// Files attest writes for the sandbox's `/etc` (in the scratch directory's `etc/`): a
/// user for the fixed uid, `localhost` and the fixed hostname, and "files only" lookups.
pub(crate) const ETC_FILES: [(&str, &str); 4] = [
    (
        "passwd",
        "root:x:0:0:root:/root:/bin/sh\nattest:x:1000:1000:attest:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    ),
    ("group", "root:x:0:\nattest:x:1000:\nnogroup:x:65534:\n"),
    ("hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n127.0.1.1 attest\n"),
    ("nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files\n"),
];

/// The namespaces and identity of every sandbox: new user (for the fixed uid and gid),
/// IPC, PID, network (loopback only), UTS (the fixed hostname) and, where the kernel has
/// it, cgroup namespaces.
pub(crate) fn namespace_args() -> Vec<String> {
    [
        "--unshare-user",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--uid",
        &SANDBOX_UID.to_string(),
        "--gid",
        &SANDBOX_GID.to_string(),
        "--hostname",
        SANDBOX_HOSTNAME,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// What the host looks like where the sandbox mirrors it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct HostLayout {
    /// Symlinks recreated inside (`/bin` -> `usr/bin`), as path and target.
    pub(crate) links: Vec<(String, OsString)>,
    /// Host paths bound read-only at the same place (`/usr` is always first).
    pub(crate) read_only: Vec<String>,
}

impl HostLayout {
    /// Looks at this host's top-level directories and `/etc`.
    pub(crate) fn probe() -> Self {
        let mut layout = HostLayout { links: Vec::new(), read_only: vec!["/usr".to_owned()] };
        for path in TOP_LEVEL {
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(path) {
                        layout.links.push((path.to_owned(), target.into_os_string()));
                    }
                }
                Ok(meta) if meta.is_dir() => layout.read_only.push(path.to_owned()),
                _ => {}
            }
        }
        layout.read_only.extend(BASE_ETC.iter().filter(|p| Path::new(p).exists()).map(|p| (*p).to_owned()));
        layout
    }
}

/// Everything the command line is made of.
#[derive(Debug)]
pub(crate) struct MountPlan<'a> {
    /// The workspace on the host.
    pub(crate) workspace: &'a Path,
    /// This execution's scratch directory on the host (holds `etc/` and `work/`).
    pub(crate) scratch: &'a Path,
    /// The host's layout.
    pub(crate) layout: &'a HostLayout,
    /// The step's `sandbox.system_paths`.
    pub(crate) system_paths: &'a [String],
    /// Workspace directories (`""` is the root) mounted writable from `scratch/work/`:
    /// the parents of the declared outputs.
    pub(crate) writable_dirs: &'a [String],
    /// The declared inputs, read-only.
    pub(crate) inputs: &'a [InputMount],
    /// The working directory, workspace-relative (`""` is the root).
    pub(crate) working_dir: &'a str,
    /// `HOME` when it is a directory under `/tmp` (created empty in the private `/tmp`).
    pub(crate) home: Option<&'a str>,
    /// The `attest` binary, bound read-only at [`HELPER_INSIDE`] to apply Landlock.
    pub(crate) helper: Option<&'a Path>,
}

/// Where the workspace-relative `path` is inside the sandbox.
pub(crate) fn inside(path: &str) -> String {
    if path.is_empty() { SANDBOX_ROOT.to_owned() } else { format!("{SANDBOX_ROOT}/{path}") }
}

/// `bwrap` with every namespace, mount and the command. Order matters: bubblewrap applies
/// the operations in turn, so a mount point's parents are mounted before it, and the root
/// becomes read-only last.
pub(crate) fn bwrap_argv(bwrap: &Path, plan: &MountPlan<'_>, command: &[String]) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![bwrap.into()];
    let mut push = |parts: &[&dyn AsRef<std::ffi::OsStr>]| {
        argv.extend(parts.iter().map(|p| p.as_ref().to_owned()));
    };
    for arg in namespace_args() {
        push(&[&arg]);
    }
    // Killed with attest; no controlling terminal (no TIOCSTI into the user's shell).
    push(&[&"--die-with-parent", &"--new-session"]);
    for path in &plan.layout.read_only {
        push(&[&"--ro-bind", path, path]);
    }
    for (path, target) in &plan.layout.links {
        push(&[&"--symlink", target, path]);
    }
    for (name, _) in ETC_FILES {
        push(&[&"--ro-bind", &plan.scratch.join("etc").join(name), &format!("/etc/{name}")]);
    }
    for path in plan.system_paths {
        push(&[&"--ro-bind", path, path]);
    }
    if let Some(helper) = plan.helper {
        push(&[&"--ro-bind", &helper, &HELPER_INSIDE]);
    }
    push(&[&"--proc", &"/proc", &"--dev", &"/dev", &"--tmpfs", &"/tmp"]);
    if let Some(home) = plan.home {
        push(&[&"--dir", &home]);
    }
    push(&[&"--dir", &SANDBOX_ROOT]);
    for dir in plan.writable_dirs {
        push(&[&"--bind", &plan.scratch.join("work").join(dir), &inside(dir)]);
    }
    for input in plan.inputs {
        match input {
            InputMount::Bind(path) => push(&[&"--ro-bind", &plan.workspace.join(path), &inside(path)]),
            InputMount::Symlink { path, target } => push(&[&"--symlink", target, &inside(path)]),
        }
    }
    let cwd = inside(plan.working_dir);
    push(&[&"--dir", &cwd, &"--chdir", &cwd, &"--remount-ro", &"/", &"--"]);
    argv.extend(command.iter().map(OsString::from));
    argv
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn text(argv: &[OsString]) -> String {
        argv.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_command_line_mounts_in_order_and_ends_read_only() {
        let layout = HostLayout {
            links: vec![("/bin".to_owned(), "usr/bin".into()), ("/lib64".to_owned(), "usr/lib64".into())],
            read_only: vec!["/usr".to_owned(), "/etc/alternatives".to_owned()],
        };
        let inputs = vec![
            InputMount::Bind("src".to_owned()),
            InputMount::Symlink { path: "build/link".to_owned(), target: "../src/a.c".into() },
        ];
        let plan = MountPlan {
            workspace: Path::new("/home/me/ws"),
            scratch: Path::new("/home/me/ws/.attest/sandbox/3"),
            layout: &layout,
            system_paths: &["/etc/ssl".to_owned()],
            writable_dirs: &["build".to_owned()],
            inputs: &inputs,
            working_dir: "build",
            home: Some("/tmp/attest-home-x"),
            helper: Some(Path::new("/opt/attest")),
        };
        let argv =
            bwrap_argv(Path::new("/usr/bin/bwrap"), &plan, &["sh".to_owned(), "-c".to_owned(), "make".to_owned()]);
        let scratch = "/home/me/ws/.attest/sandbox/3";
        assert_eq!(
            text(&argv),
            [
                "/usr/bin/bwrap --unshare-user --unshare-ipc --unshare-pid --unshare-net --unshare-uts",
                "--unshare-cgroup-try --uid 1000 --gid 1000 --hostname attest --die-with-parent --new-session",
                "--ro-bind /usr /usr --ro-bind /etc/alternatives /etc/alternatives",
                "--symlink usr/bin /bin --symlink usr/lib64 /lib64",
                &format!("--ro-bind {scratch}/etc/passwd /etc/passwd --ro-bind {scratch}/etc/group /etc/group"),
                &format!("--ro-bind {scratch}/etc/hosts /etc/hosts"),
                &format!("--ro-bind {scratch}/etc/nsswitch.conf /etc/nsswitch.conf"),
                "--ro-bind /etc/ssl /etc/ssl --ro-bind /opt/attest /run/attest/attest --proc /proc --dev /dev",
                "--tmpfs /tmp --dir /tmp/attest-home-x",
                &format!("--dir /work --bind {scratch}/work/build /work/build"),
                "--ro-bind /home/me/ws/src /work/src --symlink ../src/a.c /work/build/link",
                "--dir /work/build --chdir /work/build --remount-ro / -- sh -c make",
            ]
            .join(" ")
        );
    }

    #[test]
    fn the_workspace_root_is_the_fixed_root() {
        assert_eq!(inside(""), "/work");
        assert_eq!(inside("a/b"), "/work/a/b");
    }

    #[test]
    fn this_host_has_usr_first() {
        assert_eq!(HostLayout::probe().read_only.first().map(String::as_str), Some("/usr"));
    }
}
