//! [`Event`]: one thing that happened in a run, as handlers receive it.

use serde::Serialize;
use serde_json::Value;

/// One run event. Its JSON is what a file handler appends as a line and a webhook POSTs:
/// `{"type", "id", "time", "run_id", "step"?, "data"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// One of `attest_pipeline::EVENT_TYPES`, e.g. `step.failed`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Unique per event: the run id and a sequence number.
    pub id: String,
    /// When it happened, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// The run it belongs to (the receipt's invocation id).
    pub run_id: String,
    /// The step, for step and cache events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What else is known: duration, exit code, miss reason, digests ...
    pub data: Value,
}
