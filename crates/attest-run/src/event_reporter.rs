//! [`EventReporter`]: turns what a run reports into the events of `events.handlers`
//! (`step.*`, `cache.*`) and passes everything on to the CLI's reporter.

use attest_events::EventBus;
use serde_json::{Value, json};

use crate::{CacheStatus, Reporter, RunEvent, StepReport, StepStatus};

/// A [`Reporter`] that also emits step and cache events on an [`EventBus`].
pub struct EventReporter<'a> {
    inner: &'a dyn Reporter,
    bus: &'a EventBus,
}

impl<'a> EventReporter<'a> {
    /// Reports to `inner` and emits on `bus`.
    pub fn new(inner: &'a dyn Reporter, bus: &'a EventBus) -> Self {
        Self { inner, bus }
    }
}

fn seconds(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn finished(bus: &EventBus, report: &StepReport) {
    let step = Some(report.step.as_str());
    let key = report.key.map(|k| k.to_string());
    match &report.cache {
        Some(CacheStatus::Hit) => bus.emit(
            "cache.hit",
            step,
            json!({ "key": key, "restored": report.restored, "duration": seconds(report.duration) }),
        ),
        Some(CacheStatus::Miss { reason }) => {
            bus.emit("cache.miss", step, json!({ "key": key, "reason": reason.to_string() }));
        }
        None => {}
    }
    let cache = match &report.cache {
        Some(CacheStatus::Hit) => Value::from("hit"),
        Some(CacheStatus::Miss { .. }) => Value::from("miss"),
        None => Value::Null,
    };
    match &report.status {
        StepStatus::Succeeded => {
            let outputs: serde_json::Map<String, Value> = report
                .output_sha256
                .iter()
                .map(|(path, digest)| (path.clone(), Value::from(digest.to_string())))
                .collect();
            bus.emit(
                "step.completed",
                step,
                json!({
                    "duration": seconds(report.duration),
                    "exit_code": report.exit_code,
                    "cache": cache,
                    "key": key,
                    "outputs": outputs,
                }),
            );
        }
        StepStatus::Failed { failure } => bus.emit(
            "step.failed",
            step,
            json!({
                "duration": seconds(report.duration),
                "exit_code": report.exit_code,
                "failure": failure.to_string(),
                "cache": cache,
            }),
        ),
        // It was running when the run was interrupted.
        StepStatus::Cancelled if report.worker.is_some() => {
            bus.emit("step.failed", step, json!({ "duration": seconds(report.duration), "failure": "interrupted" }))
        }
        StepStatus::Cancelled | StepStatus::Skipped { .. } => {}
    }
}

impl Reporter for EventReporter<'_> {
    fn report(&self, event: RunEvent<'_>) {
        if self.bus.is_active() {
            match &event {
                RunEvent::StepStarted { step } => self.bus.emit("step.started", Some(step), json!({})),
                RunEvent::StepFinished(report) => finished(self.bus, report),
                _ => {}
            }
        }
        self.inner.report(event);
    }
}
