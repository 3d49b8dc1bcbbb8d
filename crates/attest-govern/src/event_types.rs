//! The event types of the governance log (nexus-attest's names).

/// A decision was made: goal, mode, labels, pipeline, steps.
pub const DECISION_CREATED: &str = "DECISION_CREATED";
/// A policy (from a template or the defaults) was attached.
pub const POLICY_ATTACHED: &str = "POLICY_ATTACHED";
/// An approver approved.
pub const APPROVAL_GRANTED: &str = "APPROVAL_GRANTED";
/// An approver withdrew an approval.
pub const APPROVAL_REVOKED: &str = "APPROVAL_REVOKED";
/// Execution was asked for (mode, adapter).
pub const EXECUTION_REQUESTED: &str = "EXECUTION_REQUESTED";
/// The run started (the run request's digest).
pub const EXECUTION_STARTED: &str = "EXECUTION_STARTED";
/// The run finished (run id, receipt digest).
pub const EXECUTION_COMPLETED: &str = "EXECUTION_COMPLETED";
/// The run failed.
pub const EXECUTION_FAILED: &str = "EXECUTION_FAILED";
/// A template was created.
pub const TEMPLATE_CREATED: &str = "TEMPLATE_CREATED";
