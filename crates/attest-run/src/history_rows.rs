//! A finished run as rows of the history store (`attest-store`).

use attest_store::StepRow;

use crate::{CacheStatus, RunSummary, StepReport, StepStatus};

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One history row per step of `summary`, in the order they finished.
pub fn step_rows(summary: &RunSummary) -> Vec<StepRow> {
    summary.steps.iter().map(step_row).collect()
}

fn step_row(report: &StepReport) -> StepRow {
    let (status, detail) = match &report.status {
        StepStatus::Succeeded => ("succeeded", None),
        StepStatus::Failed { failure } => ("failed", Some(failure.to_string())),
        StepStatus::Skipped { because } => ("skipped", Some(because.clone())),
        StepStatus::Cancelled => ("cancelled", Some("interrupted".to_owned())),
    };
    let (cache, miss_reason) = match &report.cache {
        Some(CacheStatus::Hit) => (Some("hit".to_owned()), None),
        Some(CacheStatus::Miss { reason }) => (Some("miss".to_owned()), Some(reason.to_string())),
        None => (None, None),
    };
    StepRow {
        step: report.step.clone(),
        status: status.to_owned(),
        detail,
        cache,
        miss_reason,
        exit_code: report.exit_code,
        start_ms: millis(report.started),
        duration_ms: millis(report.duration),
        worker: report.worker.and_then(|w| u32::try_from(w).ok()),
        cache_key: report.key.map(|k| k.to_string()),
    }
}
