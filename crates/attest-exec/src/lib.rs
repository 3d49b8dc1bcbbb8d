//! Running a step's command.
//!
//! [`Executor`] is the seam for every isolation level; [`ProcessExecutor`] is the first
//! implementation: `sh -c` (or the step's shell) as a child in its own process group,
//! with exactly the environment it is given, stdin closed, stdout and stderr merged into
//! one captured stream. [`ProcessGroups`] lets the coordinator signal a running step's
//! whole process tree for timeouts and Ctrl-C. A request with a [`SandboxSpec`] runs
//! hermetically inside bubblewrap (`isolation: sandbox`): only its declared inputs are
//! visible, only its declared outputs writable, and there is no network. With
//! [`SandboxSpec::container`] set (`isolation: container`) the same mounts are given to
//! `podman run` in a pinned image instead.

mod exec_request;
mod executor;
mod process_groups;
mod program_path;
mod sandbox;

pub use exec_request::{ExecError, ExecRequest, ExecResult, Exit};
pub use executor::{Executor, ProcessExecutor};
pub use process_groups::{ProcessGroups, Signal};
pub use program_path::program_path;
pub use sandbox::{
    LANDLOCK_SUBCOMMAND, SANDBOX_GID, SANDBOX_HOSTNAME, SANDBOX_ROOT, SANDBOX_UID, SandboxReport, SandboxSpec, VmBoot,
    VmSpec, container_engine_name, find_program, landlock_exec, local_image_digest, read_only_system_paths, resolve_vm,
    sandbox_landlock_abi, use_current_exe_as_landlock_helper,
};
