//! How a run looks: one line per finished step for people (with a progress bar on a
//! terminal), or JSON Lines events for machines.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use attest_run::{
    CacheStatus, MissReason, PlanEntry, Prediction, Reporter, RunEvent, RunSummary, StepReport, StepStatus,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::printer::Printer;

/// `1.2s`, `45.0s`, `2m05s`.
pub(crate) fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", duration.as_secs() / 60, duration.as_secs() % 60)
    }
}

/// The summary line of one step, e.g. `[OK] build (45.2s) - cache miss (input changed: src/main.c)`.
pub(crate) fn step_line(report: &StepReport) -> String {
    let time = seconds(report.duration);
    match &report.status {
        StepStatus::Succeeded => {
            let detail = match &report.cache {
                Some(CacheStatus::Hit) if report.restored == 0 => "cache hit".to_owned(),
                Some(CacheStatus::Hit) => {
                    format!("cache hit, restored {} output{}", report.restored, plural(report.restored))
                }
                Some(CacheStatus::Miss { reason: MissReason::CacheDisabled }) => "cache disabled".to_owned(),
                Some(CacheStatus::Miss { reason }) => format!("cache miss ({reason})"),
                None => "done".to_owned(),
            };
            format!("[OK] {} ({time}) - {detail}", report.step)
        }
        StepStatus::Failed { failure } => format!("[FAIL] {} ({time}) - {failure}", report.step),
        StepStatus::Skipped { because } => format!("[SKIP] {} - {because}", report.step),
        StepStatus::Cancelled => format!("[STOP] {} - interrupted", report.step),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The final line of a run.
pub(crate) fn summary_line(summary: &RunSummary) -> String {
    let head = if summary.interrupted {
        "Interrupted"
    } else if summary.success() {
        "Done"
    } else {
        "Failed"
    };
    format!(
        "{head}: {} ran, {} cached, {} failed, {} skipped ({})",
        summary.ran,
        summary.cached,
        summary.failed,
        summary.skipped,
        seconds(summary.wall)
    )
}

/// The dry-run line of one step.
pub(crate) fn plan_line(entry: &PlanEntry) -> String {
    match &entry.prediction {
        Prediction::Hit { restore: 0 } => format!("[HIT]  {} - cache hit", entry.step),
        Prediction::Hit { restore } => {
            format!("[HIT]  {} - cache hit, would restore {restore} output{}", entry.step, plural(*restore))
        }
        Prediction::Miss { reason: MissReason::CacheDisabled } => format!("[RUN]  {} - cache disabled", entry.step),
        Prediction::Miss { reason } => format!("[RUN]  {} - cache miss ({reason})", entry.step),
        Prediction::WaitsFor { step } => format!("[RUN?] {} - decided after `{step}` runs", entry.step),
    }
}

fn indented_log(log: &[u8]) -> String {
    let text = String::from_utf8_lossy(log);
    let mut out = String::new();
    for line in text.lines() {
        out.push_str("  | ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// People's view of a run.
pub(crate) struct HumanReporter {
    printer: Printer,
    verbose: bool,
    stream: bool,
    quiet: bool,
    progress: Option<ProgressBar>,
    partial: Mutex<HashMap<String, Vec<u8>>>,
    running: Mutex<Vec<String>>,
}

impl HumanReporter {
    pub(crate) fn new(printer: Printer, verbose: bool, stream: bool, quiet: bool) -> Self {
        let progress = (!quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("[{pos}/{len}] {elapsed_precise} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            printer,
            verbose,
            stream,
            quiet,
            progress,
            partial: Mutex::new(HashMap::new()),
            running: Mutex::new(Vec::new()),
        }
    }

    fn line(&self, text: &str) {
        match &self.progress {
            Some(bar) => bar.suspend(|| self.printer.info(text)),
            None => self.printer.info(text),
        }
    }

    fn set_running(&self) {
        if let Some(bar) = &self.progress {
            let running = self.running.lock().expect("reporter lock is never poisoned");
            bar.set_message(format!("running: {}", running.join(", ")));
        }
    }

    /// Removes the progress bar before the final lines.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        if self.stream {
            let partial = std::mem::take(&mut *self.partial.lock().expect("reporter lock is never poisoned"));
            for (step, rest) in partial {
                if !rest.is_empty() {
                    self.line(&format!("[{step}] {}", String::from_utf8_lossy(&rest)));
                }
            }
        }
    }
}

impl Reporter for HumanReporter {
    fn report(&self, event: RunEvent<'_>) {
        match event {
            RunEvent::Started { selected, watcher, .. } => {
                if let Some(bar) = &self.progress {
                    bar.set_length(selected as u64);
                }
                if self.verbose {
                    match watcher {
                        Some(Some(1)) => self.line("watcher: 1 directory changed since the stat cache was saved"),
                        Some(Some(n)) => {
                            self.line(&format!("watcher: {n} directories changed since the stat cache was saved"));
                        }
                        Some(None) => self.line("watcher: no earlier point to compare with, every file is checked"),
                        None => {}
                    }
                }
            }
            // The running steps are shown only on the progress bar.
            RunEvent::StepStarted { step } if self.progress.is_some() => {
                self.running.lock().expect("reporter lock is never poisoned").push(step.to_owned());
                self.set_running();
            }
            RunEvent::StepStarted { .. } => {}
            RunEvent::StepOutput { step, chunk } if self.stream => {
                let mut partial = self.partial.lock().expect("reporter lock is never poisoned");
                let buffer = partial.entry(step.to_owned()).or_default();
                buffer.extend_from_slice(chunk);
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    self.line(&format!("[{step}] {}", String::from_utf8_lossy(&line[..line.len() - 1])));
                }
            }
            RunEvent::StepOutput { .. } => {}
            RunEvent::StepFinished(report) => {
                if let Some(bar) = &self.progress {
                    self.running.lock().expect("reporter lock is never poisoned").retain(|s| s != &report.step);
                    self.set_running();
                    bar.inc(1);
                }
                let failed = matches!(report.status, StepStatus::Failed { .. });
                if !self.quiet || failed {
                    let mut text = step_line(report);
                    if (failed || self.verbose) && !self.stream && !report.log.is_empty() {
                        text.push('\n');
                        text.push_str(indented_log(&report.log).trim_end());
                    }
                    self.line(&text);
                }
            }
            RunEvent::Planned(entry) => self.line(&plan_line(entry)),
            RunEvent::Warning(message) => self.line(&format!("warning: {message}")),
        }
    }
}

/// Machines' view of a run: JSON Lines on stdout.
pub(crate) struct JsonReporter {
    printer: Printer,
    stream: bool,
}

impl JsonReporter {
    pub(crate) fn new(printer: Printer, stream: bool) -> Self {
        Self { printer, stream }
    }

    pub(crate) fn emit(&self, value: serde_json::Value) {
        self.printer.data(&value.to_string());
    }
}

fn merge(event: &str, value: serde_json::Value) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    object.insert("event".to_owned(), json!(event));
    if let serde_json::Value::Object(fields) = value {
        object.extend(fields);
    }
    serde_json::Value::Object(object)
}

impl Reporter for JsonReporter {
    fn report(&self, event: RunEvent<'_>) {
        let value = match event {
            RunEvent::Started { selected, jobs, watcher } => json!({
                "event": "run_started",
                "steps": selected,
                "jobs": jobs,
                "watcher": watcher.map(|changed| json!({ "changed_directories": changed })),
            }),
            RunEvent::StepStarted { step } => json!({"event": "step_started", "step": step}),
            RunEvent::StepOutput { step, chunk } if self.stream => {
                json!({"event": "step_output", "step": step, "text": String::from_utf8_lossy(chunk)})
            }
            RunEvent::StepOutput { .. } => return,
            RunEvent::StepFinished(report) => merge("step_finished", serde_json::to_value(report).unwrap_or_default()),
            RunEvent::Planned(entry) => merge("planned", serde_json::to_value(entry).unwrap_or_default()),
            RunEvent::Warning(message) => json!({"event": "warning", "message": message}),
        };
        self.emit(value);
    }
}
