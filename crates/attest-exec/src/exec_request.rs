use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::{SandboxReport, SandboxSpec};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Program and arguments (the shell, its flags, and the script as the last argument).
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// The complete environment of the command; nothing else from the host reaches it.
    pub env: BTreeMap<String, String>,
    /// At most this many bytes of output are kept (the end of the output, which is
    /// where failures usually explain themselves).
    pub output_limit: usize,
    /// Run the command in a sandbox (`isolation: sandbox`) rather than as a plain child.
    pub sandbox: Option<SandboxSpec>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl Exit {
    /// Exit code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

/// The outcome of a command that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// How it ended.
    pub exit: Exit,
    /// Its merged stdout and stderr (the last `output_limit` bytes).
    pub output: Vec<u8>,
    /// Whether earlier output was dropped to respect the limit.
    pub truncated: bool,
    /// Wall time from spawn to exit.
    pub duration: Duration,
    /// What the sandbox saw, for sandboxed commands.
    pub sandbox: Option<SandboxReport>,
}

/// A command that could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program could not be started (not found, not executable, bad cwd).
    #[error("failed to start `{program}` in `{}`", cwd.display())]
    Spawn {
        /// The program.
        program: String,
        /// The working directory.
        cwd: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Reading output or waiting for the exit failed.
    #[error("failed while waiting for `{program}`")]
    Wait {
        /// The program.
        program: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The request had no program.
    #[error("empty command line")]
    EmptyCommand,
    /// A program the request needs is not installed.
    #[error("{needed_for} needs {package} (`{program}`); not found on PATH")]
    ProgramNotFound {
        /// What needs it, e.g. "isolation `sandbox`".
        needed_for: &'static str,
        /// The Debian package that has it.
        package: &'static str,
        /// The program.
        program: &'static str,
    },
    /// No container engine is installed.
    #[error(
        "isolation `container` needs podman, or runc and umoci (for local OCI images); none found on PATH (apt-get install podman)"
    )]
    NoContainerEngine,
    /// bubblewrap is installed but cannot create the sandbox's namespaces here.
    #[error(
        "isolation `sandbox` needs user, mount, pid and network namespaces, which bubblewrap cannot create on this host: {message}"
    )]
    NamespacesUnavailable {
        /// What bubblewrap said.
        message: String,
    },
    /// A VM step cannot run on this host, or its guest stopped before the command ended.
    #[error("{message}")]
    VmUnavailable {
        /// What is missing or what happened.
        message: String,
    },
    /// A local OCI image (`image: oci-archive:PATH`) cannot be read.
    #[error("{message}")]
    ImageUnavailable {
        /// What is wrong with it.
        message: String,
    },
    /// A `sandbox.system_paths` entry does not exist on this host.
    #[error("sandbox system path `{path}` does not exist on this host")]
    SystemPathMissing {
        /// The path.
        path: String,
    },
    /// Preparing or clearing the sandbox's scratch directory failed.
    #[error("failed to prepare the sandbox in `{}`", path.display())]
    Scratch {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A declared output could not be moved into or out of the sandbox's scratch directory.
    #[error("failed to move output `{output}` {direction} the sandbox")]
    MoveOutput {
        /// The output, workspace-relative.
        output: String,
        /// `into` or `out of`.
        direction: &'static str,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}
