//! `isolation: sandbox`: a step's command in Linux namespaces, through bubblewrap.
//!
//! What the command sees (everything else does not exist):
//!
//! - `/usr` read-only, with the host's top-level links into it (`/bin` -> `usr/bin`, ...;
//!   real directories on hosts without merged `/usr` are bound read-only),
//!   `/etc/alternatives` and `/etc/ld.so.cache` read-only, and an `/etc` of attest's own
//!   (`passwd` and `group` with the fixed user, `hosts` with `localhost`, `nsswitch.conf`);
//! - the step's `sandbox.system_paths`, read-only at the same place;
//! - the workspace at [`SANDBOX_ROOT`]: the declared inputs and the outputs of the steps it
//!   needs, read-only at their workspace-relative paths; the parents of its declared
//!   outputs writable (see `output_stage`); the working directory below it;
//! - a private `/tmp` (tmpfs), its own `/proc` and a minimal `/dev`;
//! - new user, PID, IPC, UTS, cgroup and network namespaces: uid [`SANDBOX_UID`], gid
//!   [`SANDBOX_GID`], hostname [`SANDBOX_HOSTNAME`], loopback only;
//! - the root is read-only: writing anywhere but the outputs' directories and `/tmp` fails
//!   with `EROFS`; undeclared files left in the outputs' directories fail the step.
//!
//! Why bubblewrap and these flags: it needs no daemon and no setuid on Debian (user
//! namespaces are on by default), and as root it works the same. A user namespace is
//! always requested (not `--unshare-user-try`): the fixed uid needs it, and a host that
//! forbids it gets a clear error from a probe rather than steps that silently run as
//! root. `--die-with-parent` and the PID namespace make killing bubblewrap (attest signals
//! the process group it started) kill everything inside; `--new-session` takes away the
//! controlling terminal (no `TIOCSTI` into the user's shell). No `unsafe`: everything is a
//! bubblewrap flag, nothing runs between fork and exec. Where the kernel has Landlock,
//! the command starts through `attest __landlock`, which adds Landlock's rules on top
//! (see `landlock_rules`).

mod bwrap_argv;
mod file_trace;
mod host_tools;

pub use host_tools::find_program;
mod input_mounts;
mod kvm_probe;
mod landlock_rules;
mod oci_image;
mod output_stage;
mod podman_argv;
mod runc_bundle;
mod vm_boot;
mod vm_guest;
mod workspace_view;

pub use landlock_rules::{
    LANDLOCK_SUBCOMMAND, landlock_exec, sandbox_landlock_abi, use_current_exe_as_landlock_helper,
};
pub use oci_image::local_image_digest;
pub use runc_bundle::container_engine_name;
pub use vm_boot::{VmBoot, VmSpec, resolve_vm};

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::{ExecError, ExecRequest};
use bwrap_argv::{ETC_FILES, HostLayout, MountPlan, bwrap_argv};
use input_mounts::{input_mounts, is_within};
use output_stage::{OutputStage, writable_dirs};
use podman_argv::{ContainerPlan, is_shown, podman_argv};
use runc_bundle::ContainerEngine;

/// Where the workspace is inside every sandbox.
pub const SANDBOX_ROOT: &str = "/work";
/// The sandbox's hostname.
pub const SANDBOX_HOSTNAME: &str = "attest";
/// The uid commands run as inside.
pub const SANDBOX_UID: u32 = 1000;
/// The gid commands run as inside.
pub const SANDBOX_GID: u32 = 1000;

/// How a command is sandboxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The workspace on the host.
    pub workspace: PathBuf,
    /// A directory for this execution, on the workspace's filesystem (outputs are moved
    /// through it by renaming); emptied before and removed after.
    pub scratch: PathBuf,
    /// Workspace-relative files, symlinks or directories the command may read: its
    /// declared inputs and the outputs of the steps it needs.
    pub visible: Vec<String>,
    /// Workspace-relative paths it may write: its declared outputs.
    pub outputs: Vec<String>,
    /// Absolute host paths shown read-only at the same place (`sandbox.system_paths`).
    pub system_paths: Vec<String>,
    /// The working directory, workspace-relative (`""` for the root).
    pub working_dir: String,
    /// Where `bwrap` (and `strace`, or `podman`) are looked up: the host's `PATH`.
    pub search_path: Option<String>,
    /// Trace file accesses and report the undeclared files the command looked for.
    pub explain: bool,
    /// Run in a container from this image (`isolation: container`, a reference pinned by
    /// digest) with podman instead of bubblewrap; the same inputs and outputs.
    pub container: Option<String>,
    /// Run in a QEMU virtual machine (`isolation: vm`) instead; the same inputs and
    /// outputs, shared over virtio-9p.
    pub vm: Option<VmSpec>,
    /// Where local images are unpacked for runc (`.attest/containers`), by digest.
    pub image_cache: PathBuf,
}

/// What a sandboxed command did beyond its exit status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxReport {
    /// Workspace files that exist but were not declared, which the command tried to open
    /// (only with [`SandboxSpec::explain`]), sorted.
    pub undeclared_reads: Vec<String>,
    /// Paths it created beside its declared outputs (discarded), sorted.
    pub undeclared_writes: Vec<String>,
    /// The exit code of the command inside a VM (`None`: not a VM step, or the guest
    /// stopped before the command finished).
    pub guest_exit: Option<i32>,
}

/// A sandbox ready to run: its command line, and what to undo afterwards.
#[derive(Debug)]
pub(crate) struct Sandbox {
    argv: Vec<OsString>,
    spec: SandboxSpec,
    stage: OutputStage,
    /// Mount points of inputs and the working directory, workspace-relative.
    expected: HashSet<String>,
    /// The container to remove if its engine's client is killed.
    container: Option<Container>,
    /// A private directory outside the workspace, deleted when dropped: a VM step's `meta`
    /// share, a runc container's bundle (both hold the environment).
    private: Option<tempfile::TempDir>,
}

/// The workspace paths a step's sandbox mounts (its inputs, its working directory), which
/// are therefore not undeclared writes when they appear beside its outputs.
fn mount_points(inputs: &[input_mounts::InputMount], working_dir: &str) -> HashSet<String> {
    let mut points: HashSet<String> = inputs.iter().map(|m| m.path().to_owned()).collect();
    if !working_dir.is_empty() {
        points.insert(working_dir.to_owned());
    }
    points
}

/// A container of a step, by engine.
#[derive(Debug)]
enum Container {
    /// podman and the container's name.
    Podman { podman: PathBuf, name: String },
    /// runc, its state directory and the container's id.
    Runc { runc: PathBuf, state: PathBuf, id: String },
}

/// An error about `path` in the scratch directory.
fn scratch_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExecError {
    let path = path.to_owned();
    move |source| ExecError::Scratch { path, source }
}

/// Removes what an earlier execution left in `scratch` (one killed mid-step).
fn clear_scratch(scratch: &Path) -> Result<(), ExecError> {
    if std::fs::symlink_metadata(scratch).is_ok() {
        std::fs::remove_dir_all(scratch).map_err(scratch_error(scratch))?;
    }
    Ok(())
}

/// Containers started by this process (their names must be unique on the host).
static CONTAINERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Sandbox {
    /// Finds the programs, checks the host, prepares the scratch directory and moves the
    /// existing outputs into it. `request.argv` is the command to run inside.
    pub(crate) fn prepare(request: &ExecRequest, spec: &SandboxSpec) -> Result<Self, ExecError> {
        if let Some(image) = &spec.container {
            return Self::prepare_container(request, spec, image);
        }
        if let Some(vm) = &spec.vm {
            return Self::prepare_vm(request, spec, vm);
        }
        let search_path = spec.search_path.as_deref();
        let bwrap = host_tools::find_program(search_path, "bwrap").ok_or(ExecError::ProgramNotFound {
            needed_for: "isolation `sandbox`",
            package: "bubblewrap",
            program: "bwrap",
        })?;
        let strace = match spec.explain {
            true => Some(host_tools::find_program(search_path, "strace").ok_or(ExecError::ProgramNotFound {
                needed_for: "`--explain-sandbox`",
                package: "strace",
                program: "strace",
            })?),
            false => None,
        };
        host_tools::check_namespaces(&bwrap)?;
        if let Some(missing) = spec.system_paths.iter().find(|p| std::fs::symlink_metadata(p).is_err()) {
            return Err(ExecError::SystemPathMissing { path: missing.clone() });
        }
        let scratch = &spec.scratch;
        clear_scratch(scratch)?;
        let etc = scratch.join("etc");
        std::fs::create_dir_all(&etc).map_err(scratch_error(&etc))?;
        for (name, content) in ETC_FILES {
            std::fs::write(etc.join(name), content).map_err(scratch_error(&etc.join(name)))?;
        }
        let trace_dir = scratch.join("trace");
        if spec.explain {
            std::fs::create_dir_all(&trace_dir).map_err(scratch_error(&trace_dir))?;
        }
        let inputs = input_mounts(&spec.workspace, &spec.visible, &spec.outputs);
        let writable = writable_dirs(&spec.outputs);
        let layout = HostLayout::probe();
        let home = request.env.get("HOME").map(String::as_str).filter(|h| h.starts_with("/tmp/"));
        let landlock = landlock_rules::landlock_helper();
        let plan = MountPlan {
            workspace: &spec.workspace,
            scratch,
            layout: &layout,
            system_paths: &spec.system_paths,
            writable_dirs: &writable,
            inputs: &inputs,
            working_dir: &spec.working_dir,
            home,
            helper: landlock.map(|(helper, _)| helper),
        };
        let command = match landlock {
            Some((_, abi)) => {
                let writable_inside: Vec<String> = writable.iter().map(|dir| bwrap_argv::inside(dir)).collect();
                landlock_rules::helper_argv(abi, &writable_inside, &request.argv)
            }
            None => request.argv.clone(),
        };
        let mut argv = bwrap_argv(&bwrap, &plan, &command);
        if let Some(strace) = strace {
            argv = file_trace::strace_argv(&strace, &trace_dir, argv);
        }
        let expected = mount_points(&inputs, &spec.working_dir);
        let stage = OutputStage::new(&spec.workspace, scratch, &spec.outputs);
        stage.stage_in()?;
        Ok(Self { argv, spec: spec.clone(), stage, expected, container: None, private: None })
    }

    /// A container step: `podman run` with the same read-only inputs and staged outputs
    /// as a sandbox (see `podman_argv`).
    fn prepare_container(request: &ExecRequest, spec: &SandboxSpec, image: &str) -> Result<Self, ExecError> {
        let podman = match runc_bundle::choose_engine(spec.search_path.as_deref(), image)? {
            ContainerEngine::Podman(podman) => podman,
            ContainerEngine::Runc { runc, umoci } => return Self::prepare_runc(request, spec, image, &runc, &umoci),
        };
        let scratch = &spec.scratch;
        clear_scratch(scratch)?;
        let inputs = input_mounts(&spec.workspace, &spec.visible, &spec.outputs);
        let writable = writable_dirs(&spec.outputs);
        let working_dir = spec.working_dir.as_str();
        let writable_refs: Vec<&str> = writable.iter().map(String::as_str).collect();
        let input_refs: Vec<&str> = inputs.iter().map(|m| m.path()).collect();
        let mount_working_dir = !is_shown(working_dir, &writable_refs) && !is_shown(working_dir, &input_refs);
        if mount_working_dir || is_shown(working_dir, &writable_refs) {
            let dir = scratch.join("work").join(working_dir);
            std::fs::create_dir_all(&dir).map_err(scratch_error(&dir))?;
        }
        // Last: from here on, the outputs are in the stage until `finish`.
        let stage = OutputStage::new(&spec.workspace, scratch, &spec.outputs);
        stage.stage_in()?;
        let name =
            format!("attest-{}-{}", std::process::id(), CONTAINERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let home = request.env.get("HOME").map(String::as_str).filter(|h| h.starts_with("/tmp/"));
        let plan = ContainerPlan {
            name: &name,
            image,
            workspace: &spec.workspace,
            scratch,
            writable_dirs: &writable,
            inputs: &inputs,
            working_dir,
            mount_working_dir,
            env: &request.env,
            home,
        };
        let argv = podman_argv(&podman, &plan, &request.argv);
        let expected = mount_points(&inputs, working_dir);
        Ok(Self {
            argv,
            spec: spec.clone(),
            stage,
            expected,
            container: Some(Container::Podman { podman, name }),
            private: None,
        })
    }

    /// A container step run by runc (no podman): the image unpacked once, the workspace
    /// view read-only with the staged outputs writable (see `runc_bundle`).
    fn prepare_runc(
        request: &ExecRequest,
        spec: &SandboxSpec,
        image: &str,
        runc: &Path,
        umoci: &Path,
    ) -> Result<Self, ExecError> {
        let rootfs = runc_bundle::unpacked_rootfs(umoci, image, &spec.image_cache)?;
        let scratch = &spec.scratch;
        clear_scratch(scratch)?;
        let inputs = input_mounts(&spec.workspace, &spec.visible, &spec.outputs);
        let writable = writable_dirs(&spec.outputs);
        let view = workspace_view::view_dir(scratch);
        workspace_view::write_view(&spec.workspace, &view, &inputs, &writable, &spec.working_dir)?;
        let bundle = tempfile::Builder::new()
            .prefix("attest-runc-")
            .tempdir()
            .map_err(|source| ExecError::Scratch { path: std::env::temp_dir(), source })?;
        // Last: from here on, the outputs are in the stage until `finish`.
        let stage = OutputStage::new(&spec.workspace, scratch, &spec.outputs);
        stage.stage_in()?;
        let work = scratch.join("work");
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        let config = runc_bundle::runc_config(&runc_bundle::RuncPlan {
            rootfs: &rootfs,
            view: &view,
            stage: &work,
            writable_dirs: &writable,
            working_dir: &spec.working_dir,
            argv: &request.argv,
            env: &request.env,
            rootless: (uid != 0).then_some((uid, gid)),
        });
        let config_path = bundle.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).map_err(scratch_error(&config_path))?;
        let state = scratch.join("runc");
        let id =
            format!("attest-{}-{}", std::process::id(), CONTAINERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let argv = runc_bundle::runc_argv(runc, &state, bundle.path(), &id);
        let expected = mount_points(&inputs, &spec.working_dir);
        let container = Some(Container::Runc { runc: runc.to_owned(), state, id });
        Ok(Self { argv, spec: spec.clone(), stage, expected, container, private: Some(bundle) })
    }

    /// A VM step: QEMU booting the step's kernel and initramfs, with the declared inputs
    /// in a read-only view of the workspace and the staged outputs writable (see
    /// `vm_guest`).
    fn prepare_vm(request: &ExecRequest, spec: &SandboxSpec, vm: &VmSpec) -> Result<Self, ExecError> {
        let search_path = spec.search_path.as_deref();
        let qemu = host_tools::find_program(search_path, "qemu-system-x86_64").ok_or(ExecError::ProgramNotFound {
            needed_for: "isolation `vm`",
            package: "qemu-system-x86",
            program: "qemu-system-x86_64",
        })?;
        let writable = writable_dirs(&spec.outputs);
        if writable.iter().any(String::is_empty) {
            return Err(ExecError::VmUnavailable {
                message: "isolation `vm` needs every output inside a directory (e.g. `out/result.txt`): the \
                          workspace root is the guest's read-only share"
                    .to_owned(),
            });
        }
        let boot = resolve_vm(vm, search_path)?;
        let (kernel, initramfs) = vm_boot::boot_files(&boot, &vm.cache_dir, search_path)?;
        let scratch = &spec.scratch;
        clear_scratch(scratch)?;
        let inputs = input_mounts(&spec.workspace, &spec.visible, &spec.outputs);
        let view = workspace_view::view_dir(scratch);
        workspace_view::write_view(&spec.workspace, &view, &inputs, &writable, &spec.working_dir)?;
        let meta = vm_guest::meta_dir()?;
        vm_guest::write_meta(meta.path(), &request.argv, &request.env, &writable, &spec.working_dir)?;
        // Last: from here on, the outputs are in the stage until `finish`.
        let stage = OutputStage::new(&spec.workspace, scratch, &spec.outputs);
        stage.stage_in()?;
        // The `out` share must exist even for a step without outputs.
        let out = scratch.join("work");
        std::fs::create_dir_all(&out).map_err(scratch_error(&out))?;
        let argv = vm_guest::qemu_argv(&vm_guest::QemuPlan {
            qemu: &qemu,
            kernel: &kernel,
            initramfs: &initramfs,
            view: &view,
            out: &out,
            meta: meta.path(),
            accel: kvm_probe::choose_accel(
                &qemu,
                &kernel,
                &initramfs,
                &format!("{} {}", boot.kernel_sha256, boot.initramfs_sha256),
            )
            .as_str(),
        });
        let expected = mount_points(&inputs, &spec.working_dir);
        Ok(Self { argv, spec: spec.clone(), stage, expected, container: None, private: Some(meta) })
    }

    /// After the command was killed by a signal: a container outlives a killed podman
    /// client (conmon keeps it), so it is removed by name; runc's is removed likewise.
    pub(crate) fn after_signal(&self) {
        match &self.container {
            Some(Container::Podman { podman, name }) => {
                let _ = std::process::Command::new(podman)
                    .args(["rm", "--force", "--ignore", "--time=0", name])
                    .env_clear()
                    .envs(self.spec.search_path.iter().map(|path| ("PATH", path)))
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
            Some(Container::Runc { runc, state, id }) => runc_bundle::force_delete(runc, state, id),
            None => {}
        }
    }

    /// The command line to spawn.
    pub(crate) fn argv(&self) -> &[OsString] {
        &self.argv
    }

    /// After the command: reports undeclared writes (and, explaining, reads), moves the
    /// outputs back into the workspace and removes the scratch directory.
    pub(crate) fn finish(self) -> Result<SandboxReport, ExecError> {
        let undeclared_writes = self.stage.undeclared_writes(&self.expected);
        let moved = self.stage.stage_out();
        let undeclared_reads = if self.spec.explain {
            let spec = &self.spec;
            let declared =
                |path: &str| spec.visible.iter().chain(&spec.outputs).any(|d| is_within(path, d) || is_within(d, path));
            file_trace::undeclared_reads(&spec.scratch.join("trace"), &spec.workspace, &spec.working_dir, &declared)
        } else {
            Vec::new()
        };
        let guest_exit = match (&self.spec.vm, &self.private) {
            (Some(_), Some(meta)) => vm_guest::guest_exit(meta.path()),
            _ => None,
        };
        if let Some(Container::Runc { runc, state, id }) = &self.container {
            runc_bundle::force_delete(runc, state, id);
        }
        moved?;
        std::fs::remove_dir_all(&self.spec.scratch).map_err(scratch_error(&self.spec.scratch))?;
        Ok(SandboxReport { undeclared_reads, undeclared_writes, guest_exit })
    }
}

/// The host paths a sandbox on this host shows read-only at the same place: `/usr`, the
/// top-level directories of hosts without merged `/usr`, `/etc/alternatives` and
/// `/etc/ld.so.cache` when present, then `step_paths` (`sandbox.system_paths`). For
/// records such as the receipt.
pub fn read_only_system_paths(step_paths: &[String]) -> Vec<String> {
    let mut paths = HostLayout::probe().read_only;
    paths.extend(step_paths.iter().cloned());
    paths
}

#[cfg(test)]
mod tests;
