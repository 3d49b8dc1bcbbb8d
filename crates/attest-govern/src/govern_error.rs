/// Why a governance command was refused. Nothing is written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct GovernError {
    /// A stable code, e.g. `DECISION_NOT_FOUND`.
    pub code: &'static str,
    /// What went wrong and what to do, for people.
    pub message: String,
}

impl GovernError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}
