use std::fmt;

use crate::exit_status::ExitStatus;

/// An error meant for the user: what went wrong, what to try, and how to exit.
#[derive(Debug)]
pub(crate) struct UserError {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) status: ExitStatus,
}

impl UserError {
    /// attest could not do its job (exit 2).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None, status: ExitStatus::Error }
    }

    /// Adds a hint.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}
