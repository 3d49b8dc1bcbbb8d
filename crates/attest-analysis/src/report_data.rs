//! [`ReportData`]: what `attest audit report` shows, in every format. It is the JSON form
//! (`--format json`) and the one input of [`markdown_report`](crate::markdown_report) and
//! [`html_report`](crate::html_report), so the three cannot disagree.

use attest_store::{RunRow, RunStatus};
use serde::Serialize;

use crate::RunAnalysis;

/// The version of the report's JSON form; bumped when a field changes meaning or goes.
pub const REPORT_VERSION: u32 = 1;

/// A report of the runs of a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportData {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// When the report was made (RFC 3339, UTC).
    pub generated_at: String,
    /// The attest version that made it.
    pub attest_version: String,
    /// The analysis of the period (its fields sit at the top level of the JSON form).
    #[serde(flatten)]
    pub analysis: RunAnalysis,
    /// The newest run that ended, with its steps (`start_ms`, `duration_ms`, `worker`,
    /// `cache`): the timeline. `null` when no run of the period ended.
    pub last_run: Option<RunRow>,
    /// The cache hit rate of each run of the period, oldest first.
    pub hit_rate_over_time: Vec<RunHitRate>,
}

/// The cache lookups of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunHitRate {
    /// The run.
    pub run_id: String,
    /// Its start, in milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// How it ended.
    pub status: RunStatus,
    /// Steps restored from the cache.
    pub hits: usize,
    /// Steps that asked the cache (hits and misses).
    pub lookups: usize,
    /// `hits / lookups` (`null` without lookups).
    pub rate: Option<f64>,
}

impl ReportData {
    /// The report of `runs` (newest first, as `Store::runs` returns them) and their
    /// `analysis`. `generated_at` and `attest_version` come from the caller: this crate
    /// reads no clock.
    pub fn new(analysis: RunAnalysis, runs: &[RunRow], generated_at: String, attest_version: String) -> Self {
        let last_run = runs.iter().find(|r| r.status != RunStatus::Running).cloned();
        let hit_rate_over_time = runs
            .iter()
            .rev()
            .map(|run| {
                let hits = run.steps.iter().filter(|s| s.cache_hit()).count();
                let lookups = run.steps.iter().filter(|s| s.cache_hit() || s.cache_miss()).count();
                RunHitRate {
                    run_id: run.run_id.clone(),
                    started_ms: run.started_ms,
                    status: run.status,
                    hits,
                    lookups,
                    rate: (lookups > 0).then(|| hits as f64 / lookups as f64),
                }
            })
            .collect();
        Self { version: REPORT_VERSION, generated_at, attest_version, analysis, last_run, hit_rate_over_time }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use attest_store::StepRow;

    use super::*;
    use crate::analyze;

    /// A step row: `outcome` is `executed`, `hit`, `failed` or `skipped`.
    pub(crate) fn step(name: &str, outcome: &str, worker: u32, start_ms: u64, duration_ms: u64) -> StepRow {
        let ran = outcome != "skipped";
        StepRow {
            step: name.to_owned(),
            status: match outcome {
                "failed" => "failed",
                "skipped" => "skipped",
                _ => "succeeded",
            }
            .to_owned(),
            detail: (outcome == "failed").then(|| "exit code 1".to_owned()),
            cache: ran.then(|| if outcome == "hit" { "hit" } else { "miss" }.to_owned()),
            miss_reason: (ran && outcome != "hit").then(|| "input changed: src/<x>.c".to_owned()),
            exit_code: ran.then_some(i32::from(outcome == "failed")),
            start_ms,
            duration_ms,
            worker: ran.then_some(worker),
            cache_key: None,
        }
    }

    /// A run started at `started_ms`.
    pub(crate) fn run(id: &str, started_ms: i64, status: RunStatus, steps: Vec<StepRow>) -> RunRow {
        RunRow {
            run_id: id.to_owned(),
            started_ms,
            finished_ms: (status != RunStatus::Running).then_some(started_ms + 2_000),
            status,
            pipeline: "attest.yaml".to_owned(),
            pipeline_digest: String::new(),
            targets: Vec::new(),
            jobs: 2,
            attest_version: "0.1.0".to_owned(),
            receipt: None,
            ran: 0,
            cached: 0,
            failed: 0,
            skipped: 0,
            steps,
        }
    }

    /// Three runs, newest first; the newest ended and has a hit, an execution, a failure
    /// and a skipped step on two workers.
    pub(crate) fn sample_runs() -> Vec<RunRow> {
        vec![
            run(
                "run3",
                3_000_000,
                RunStatus::Failed,
                vec![
                    step("gen", "hit", 0, 0, 3),
                    step("a<b>&\"c", "executed", 1, 1, 900),
                    step("lint", "failed", 0, 5, 400),
                    step("pack", "skipped", 0, 0, 0),
                ],
            ),
            run("run2", 2_000_000, RunStatus::Succeeded, vec![step("gen", "hit", 0, 0, 2)]),
            run("run1", 1_000_000, RunStatus::Succeeded, vec![step("gen", "executed", 0, 0, 1_500)]),
        ]
    }

    pub(crate) fn sample_report() -> ReportData {
        let runs = sample_runs();
        let analysis = analyze(&runs, None, 30);
        ReportData::new(analysis, &runs, "2026-12-01T21:39:44.000Z".to_owned(), "0.1.0".to_owned())
    }

    pub(crate) fn empty_report() -> ReportData {
        ReportData::new(analyze(&[], None, 7), &[], "2026-12-01T21:39:44.000Z".to_owned(), "0.1.0".to_owned())
    }

    #[test]
    fn the_last_run_is_the_newest_that_ended_and_rates_go_oldest_first() {
        let mut runs = sample_runs();
        runs.insert(0, run("running", 4_000_000, RunStatus::Running, Vec::new()));
        let report = ReportData::new(analyze(&runs, None, 30), &runs, String::new(), String::new());
        assert_eq!(report.last_run.as_ref().map(|r| r.run_id.as_str()), Some("run3"));
        let rates: Vec<(&str, usize, usize, Option<f64>)> =
            report.hit_rate_over_time.iter().map(|r| (r.run_id.as_str(), r.hits, r.lookups, r.rate)).collect();
        assert_eq!(
            rates,
            [
                ("run1", 0, 1, Some(0.0)),
                ("run2", 1, 1, Some(1.0)),
                ("run3", 1, 3, Some(1.0 / 3.0)),
                ("running", 0, 0, None)
            ]
        );
    }

    #[test]
    fn the_json_form_is_the_analysis_plus_the_report_fields() {
        let value = serde_json::to_value(sample_report()).expect("serializes");
        assert_eq!(value["version"], REPORT_VERSION);
        assert_eq!(value["runs"], 3, "the analysis is flattened");
        assert_eq!(value["last_run"]["steps"][1]["worker"], 1);
        assert_eq!(value["hit_rate_over_time"][0]["run_id"], "run1");
        let empty = serde_json::to_value(empty_report()).expect("serializes");
        assert!(empty["last_run"].is_null());
        assert_eq!(empty["hit_rate_over_time"], serde_json::json!([]));
    }
}
