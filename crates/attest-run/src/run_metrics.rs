//! A finished run as the metrics `attest run --metrics-endpoint` pushes.

use std::time::SystemTime;

use attest_events::{RunMetrics, StepMetric};

use crate::{CacheStatus, RunSummary, StepStatus};

/// The metrics of `summary`, grouped under `pipeline`.
pub fn run_metrics(summary: &RunSummary, pipeline: &str, run_id: &str, finished: SystemTime) -> RunMetrics {
    let steps = summary
        .steps
        .iter()
        .map(|s| StepMetric {
            step: s.step.clone(),
            status: match s.status {
                StepStatus::Succeeded => "succeeded",
                StepStatus::Failed { .. } => "failed",
                StepStatus::Skipped { .. } => "skipped",
                StepStatus::Cancelled => "cancelled",
            },
            cache: match s.cache {
                Some(CacheStatus::Hit) => "hit",
                Some(CacheStatus::Miss { .. }) => "miss",
                None => "none",
            },
            seconds: s.duration.as_secs_f64(),
        })
        .collect();
    RunMetrics {
        pipeline: pipeline.to_owned(),
        run_id: run_id.to_owned(),
        success: summary.success(),
        seconds: summary.wall.as_secs_f64(),
        finished_at: finished.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
        ran: summary.ran,
        cached: summary.cached,
        failed: summary.failed,
        skipped: summary.skipped,
        steps,
    }
}
