//! A run as a Chrome trace-event file (`attest run --trace`): the JSON Object Format of
//! the Trace Event Format, which Perfetto and `chrome://tracing` open. One complete event
//! (`ph: "X"`) per step that started, on the track (`tid`) of the worker that ran it;
//! cache hits have their own category and colour so they stand out from executed steps.

use serde_json::{Value, json};

use crate::{CacheStatus, RunSummary, StepStatus};

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The trace of `summary`. `title` names the process track (the pipeline), `run_id`
/// goes into the metadata.
pub fn chrome_trace(summary: &RunSummary, title: &str, run_id: &str) -> Value {
    let mut events = vec![json!({
        "name": "process_name", "ph": "M", "pid": 1, "tid": 0,
        "args": { "name": format!("attest run {title}") },
    })];
    let mut workers: Vec<usize> = summary.steps.iter().filter_map(|s| s.worker).collect();
    workers.sort_unstable();
    workers.dedup();
    for worker in workers {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": 1, "tid": worker + 1,
            "args": { "name": format!("worker {}", worker + 1) },
        }));
    }
    for step in &summary.steps {
        let Some(worker) = step.worker else { continue };
        let (category, colour) = match (&step.status, &step.cache) {
            (StepStatus::Failed { .. }, _) => ("failed", "terrible"),
            (StepStatus::Cancelled, _) => ("cancelled", "grey"),
            (_, Some(CacheStatus::Hit)) => ("cache_hit", "good"),
            _ => ("executed", "thread_state_running"),
        };
        let mut args = json!({ "status": category });
        match &step.cache {
            Some(CacheStatus::Hit) => args["cache"] = json!("hit"),
            Some(CacheStatus::Miss { reason }) => {
                args["cache"] = json!("miss");
                args["miss_reason"] = json!(reason.to_string());
            }
            None => {}
        }
        if let StepStatus::Failed { failure } = &step.status {
            args["failure"] = json!(failure.to_string());
        }
        if let Some(code) = step.exit_code {
            args["exit_code"] = json!(code);
        }
        if let Some(key) = &step.key {
            args["cache_key"] = json!(key.to_string());
        }
        events.push(json!({
            "name": step.step,
            "cat": category,
            "ph": "X",
            "ts": micros(step.started),
            "dur": micros(step.duration),
            "pid": 1,
            "tid": worker + 1,
            "cname": colour,
            "args": args,
        }));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "run_id": run_id,
            "pipeline": title,
            "ran": summary.ran,
            "cached": summary.cached,
            "failed": summary.failed,
            "skipped": summary.skipped,
            "wall_ms": u64::try_from(summary.wall.as_millis()).unwrap_or(u64::MAX),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Failure, MissReason, StepReport};

    fn report(name: &str, worker: Option<usize>, status: StepStatus, cache: Option<CacheStatus>) -> StepReport {
        let mut report = StepReport::unfinished(name, status);
        report.cache = cache;
        report.worker = worker;
        report.started = Duration::from_millis(10);
        report.duration = Duration::from_millis(250);
        report
    }

    #[test]
    fn one_complete_event_per_started_step_on_its_workers_track() {
        let steps = vec![
            report("build", Some(0), StepStatus::Succeeded, Some(CacheStatus::Miss { reason: MissReason::NoEntry })),
            report("test", Some(1), StepStatus::Succeeded, Some(CacheStatus::Hit)),
            report("lint", Some(1), StepStatus::Failed { failure: Failure::ExitCode { code: 2 } }, None),
            report("pack", None, StepStatus::Skipped { because: "needs `lint`".into() }, None),
        ];
        let summary = RunSummary::new(steps, false, Duration::from_secs(1), Default::default(), None);
        let trace = chrome_trace(&summary, "attest.yaml", "abc");
        let events = trace["traceEvents"].as_array().expect("array");
        let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(complete.len(), 3, "skipped steps never ran");
        assert_eq!(complete[0]["name"], "build");
        assert_eq!(complete[0]["ts"], 10_000);
        assert_eq!(complete[0]["dur"], 250_000);
        assert_eq!(complete[0]["tid"], 1);
        assert_eq!(complete[1]["cat"], "cache_hit");
        assert_eq!(complete[1]["tid"], 2);
        assert_eq!(complete[2]["args"]["failure"], "exit code 2");
        let thread_names = events.iter().filter(|e| e["name"] == "thread_name").count();
        assert_eq!(thread_names, 2);
    }
}
