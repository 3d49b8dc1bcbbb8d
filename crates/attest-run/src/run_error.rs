/// Why attest could not run the pipeline at all (as opposed to a step failing).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `attest run NAME` with a name that is not a step.
    #[error("there is no step `{name}` in the pipeline")]
    UnknownStep {
        /// The name given.
        name: String,
        /// The closest step name.
        suggestion: Option<String>,
    },
    /// The workspace could not be read (ignore files, walks).
    #[error("failed to read the workspace: {message}")]
    Workspace {
        /// What happened, with causes.
        message: String,
    },
    /// The cache could not be opened or locked.
    #[error("failed to open the cache: {message}")]
    Cache {
        /// What happened, with causes.
        message: String,
    },
}
