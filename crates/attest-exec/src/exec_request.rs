use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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
}
