//! One run of a pipeline: select steps, schedule them over a bounded worker pool
//! (critical path first), and for each step hash its inputs, compute its [`CacheKey`],
//! restore its outputs from the cache or execute it, and store a successful result.
//!
//! - [`run`]: the run itself; events go to a [`Reporter`], the result is a [`RunSummary`].
//! - [`plan`]: `--dry-run` and `attest explain`, with no side effects.
//! - [`CacheKey`], [`MissReason`], [`KeyRecord`]: what a key is made of, why it missed.
//! - [`ReceiptFeed`]: the run's receipt, written while the run goes; [`run_record`]:
//!   what it records, from the run's summary and an [`environment_probe`];
//!   [`step_rows`]: what the run history records.
//!
//! The CLI owns signals and the environment: it passes the host environment and an
//! interrupt flag in, so this crate never reads either itself.

mod cache_key;
mod chrome_trace;
mod coordinator;
mod deterministic;
mod environment_snapshot;
mod event_reporter;
mod execution_gate;
mod git_clean_memo;
mod git_head;
mod git_index;
mod history_rows;
mod key_record;
mod last_keys;
mod mailbox;
mod miss_reason;
mod plan;
mod receipt_feed;
mod reproducibility;
mod run_error;
mod run_event;
mod run_metrics;
mod run_receipt;
mod run_summary;
mod stat_source;
mod step_runner;
mod step_sandbox;
mod watch_daemon;
mod watch_view;
mod workspace;

pub use cache_key::{CacheKey, KEY_VERSION, command_env, platform, secret_env};
pub use chrome_trace::chrome_trace;
pub use coordinator::run;
pub use deterministic::{DETERMINISTIC_UMASK, Deterministic};
pub use environment_snapshot::{EnvironmentProbe, LOCK_FILES, environment_probe};
pub use event_reporter::EventReporter;
pub use execution_gate::{ExecutionGate, GateOpener};
pub use history_rows::step_rows;
pub use key_record::{KeyRecord, KeyRecords};
pub(crate) use last_keys::LastKeys;
pub use miss_reason::{MissReason, differences};
pub use plan::{PlanEntry, Prediction, plan};
pub use receipt_feed::{FedReceipt, PendingReceipt, ReceiptFeed};
pub use reproducibility::{OutputDifference, Reproducibility};
pub use run_error::RunError;
pub use run_event::{CacheStatus, Failure, Reporter, RunEvent, StepReport, StepStatus};
pub use run_metrics::run_metrics;
pub use run_receipt::{ReceiptContext, pipeline_ref, run_record};
pub use run_summary::{RunOptions, RunSummary};
pub use step_runner::error_chain;
pub use watch_daemon::{WatchError, WatchSocket, WatchStatus, Watcher, bind, stop_watcher, watch_status};
pub use watch_view::WatchView;
pub use workspace::Workspace;

/// The steps to run, as a mask over the pipeline's steps: `targets` and everything they
/// need, or every step.
pub fn select(pipeline: &attest_pipeline::Pipeline, targets: &[String]) -> Result<Vec<bool>, RunError> {
    if targets.is_empty() {
        return Ok(vec![true; pipeline.steps.len()]);
    }
    let mut roots = Vec::new();
    for target in targets {
        match pipeline.step_index(target) {
            Some(index) => roots.push(index),
            None => {
                return Err(RunError::UnknownStep {
                    name: target.clone(),
                    suggestion: pipeline.suggest_step(target).map(str::to_owned),
                });
            }
        }
    }
    Ok(pipeline.graph().closure(&roots))
}
