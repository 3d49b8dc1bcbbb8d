//! The podman command line of a container step (`isolation: container`): pure, from the
//! same mounts as a bubblewrap sandbox.
//!
//! Every setting is a flag, so nothing global (`/etc/containers/containers.conf`) has to
//! be edited: `--runtime runc` (crun fails on hosts with a hybrid cgroup layout) and
//! `--ulimit nofile=20000:20000 --ulimit nproc=4096:4096` (rootful podman otherwise asks
//! runc to raise the limits above what root may set in a container, and runc fails with
//! "error setting rlimits"). `--init` makes a small init PID 1, which forwards the SIGTERM
//! podman proxies to the command: without it a shell as PID 1 ignores SIGTERM and a
//! Ctrl-C waits for the command to finish. Environment variables are passed by name
//! (`--env NAME`, the value taken from podman's own environment, which is the step's), so
//! values never appear on a command line.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use super::bwrap_argv::inside;
use super::input_mounts::{InputMount, is_within};

/// The flags that make every container what the README promises.
pub(crate) const CONTAINER_FLAGS: [&str; 16] = [
    "--rm",
    "--init",
    "--pull",
    "never",
    "--network",
    "none",
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=4096:4096",
    "--hostname=attest",
];

/// Everything the podman command line is made of.
#[derive(Debug)]
pub(crate) struct ContainerPlan<'a> {
    /// The container's name (to remove it if podman itself is killed).
    pub(crate) name: &'a str,
    /// The image reference, pinned by digest.
    pub(crate) image: &'a str,
    /// The workspace on the host.
    pub(crate) workspace: &'a Path,
    /// This execution's scratch directory on the host (holds `work/`).
    pub(crate) scratch: &'a Path,
    /// Workspace directories mounted writable from `scratch/work/`.
    pub(crate) writable_dirs: &'a [String],
    /// The declared inputs, read-only.
    pub(crate) inputs: &'a [InputMount],
    /// The working directory, workspace-relative.
    pub(crate) working_dir: &'a str,
    /// Whether the working directory needs a directory of the output stage mounted at it
    /// (no mount shows it otherwise, and podman refuses a missing working directory).
    pub(crate) mount_working_dir: bool,
    /// The names of the command's environment variables.
    pub(crate) env: &'a BTreeMap<String, String>,
    /// `HOME` when it is a directory under `/tmp` (a tmpfs of its own).
    pub(crate) home: Option<&'a str>,
}

/// Whether any of `mounts` (workspace-relative) shows `dir`: one of them is `dir` or
/// one of its parents.
pub(crate) fn is_shown(dir: &str, mounts: &[&str]) -> bool {
    mounts.iter().any(|m| is_within(dir, m))
}

/// `podman run` with the fixed flags, the mounts, the environment and the command.
pub(crate) fn podman_argv(podman: &Path, plan: &ContainerPlan<'_>, command: &[String]) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![podman.into(), "run".into()];
    argv.extend(CONTAINER_FLAGS.iter().map(OsString::from));
    argv.push(format!("--name={}", plan.name).into());
    if let Some(home) = plan.home {
        argv.extend(["--tmpfs".into(), OsString::from(home)]);
    }
    let mut volume = |host: &Path, dir: &str, mode: &str| {
        let mut spec = OsString::from(host);
        spec.push(format!(":{}:{mode}", inside(dir)));
        argv.extend(["--volume".into(), spec]);
    };
    for dir in plan.writable_dirs {
        volume(&plan.scratch.join("work").join(dir), dir, "rw");
    }
    for input in plan.inputs {
        // A symlink is shown as what it points to (podman has no symlink mounts).
        volume(&plan.workspace.join(input.path()), input.path(), "ro");
    }
    if plan.mount_working_dir {
        // Writable: runc creates the mount points of deeper mounts in it. It is in the
        // output stage, so whatever the command leaves there is an undeclared write.
        volume(&plan.scratch.join("work").join(plan.working_dir), plan.working_dir, "rw");
    }
    argv.push(format!("--workdir={}", inside(plan.working_dir)).into());
    for name in plan.env.keys() {
        argv.push(format!("--env={name}").into());
    }
    argv.push(plan.image.into());
    argv.extend(command.iter().map(OsString::from));
    argv
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_mounts_inputs_read_only_and_output_dirs_writable() {
        let inputs = vec![
            InputMount::Bind("src".to_owned()),
            InputMount::Symlink { path: "link".to_owned(), target: "src/a.c".into() },
        ];
        let env: BTreeMap<String, String> = [("PATH".to_owned(), "/bin".to_owned())].into();
        let plan = ContainerPlan {
            name: "attest-1-2",
            image: "localhost/t@sha256:00",
            workspace: Path::new("/ws"),
            scratch: Path::new("/ws/.attest/sandbox/3"),
            writable_dirs: &["build".to_owned()],
            inputs: &inputs,
            working_dir: "sub",
            mount_working_dir: true,
            env: &env,
            home: None,
        };
        let argv =
            podman_argv(Path::new("/usr/bin/podman"), &plan, &["sh".to_owned(), "-c".to_owned(), "make".to_owned()]);
        let text: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            text.join(" "),
            [
                "/usr/bin/podman run --rm --init --pull never --network none --read-only --tmpfs /tmp",
                "--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --hostname=attest",
                "--name=attest-1-2 --volume /ws/.attest/sandbox/3/work/build:/work/build:rw",
                "--volume /ws/src:/work/src:ro --volume /ws/link:/work/link:ro",
                "--volume /ws/.attest/sandbox/3/work/sub:/work/sub:rw --workdir=/work/sub --env=PATH",
                "localhost/t@sha256:00 sh -c make",
            ]
            .join(" ")
        );
        assert!(is_shown("sub/x", &["sub"]) && is_shown("sub", &[""]) && !is_shown("sub", &["sub/x"]));
    }
}
