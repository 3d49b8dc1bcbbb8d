use std::process::ExitCode;

/// How attest exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    /// Everything succeeded.
    Success,
    /// A step failed, or a check found a problem.
    Failure,
    /// attest could not do its job (usage, configuration, I/O).
    Error,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
            ExitStatus::Interrupted => 130,
        })
    }
}
