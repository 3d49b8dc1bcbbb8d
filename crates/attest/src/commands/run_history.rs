//! Recording a run in `.attest/attest.db`. History is a record, not a precondition: when
//! the database cannot be opened or written, the run warns and goes on.

use std::path::Path;
use std::sync::mpsc;
use std::time::SystemTime;

use attest_run::{GateOpener, RunOptions, RunSummary};
use attest_store::{RunEnd, RunQuery, RunRow, RunStart, RunStatus, StepRow, Store};

use crate::printer::Printer;
use crate::settings::LoadedPipeline;
use crate::user_error::UserError;

/// The store of the workspace at `root`, or none when no run has been recorded yet (a
/// missing database is an empty history, and reading it creates nothing).
pub(crate) fn open_store(root: &Path) -> Result<Option<Store>, UserError> {
    let path = attest_run::Workspace::new(root).database_path();
    if !path.exists() {
        return Ok(None);
    }
    Store::open(&path).map(Some).map_err(|e| {
        UserError::new(format!("cannot read the run history: {e}"))
            .hint("the history is only a record: `attest run` works without it and starts a new one")
    })
}

/// The last `limit` runs recorded in the workspace at `root`, newest first.
pub(crate) fn recent_runs(root: &Path, limit: usize) -> Result<Vec<RunRow>, UserError> {
    let Some(store) = open_store(root)? else { return Ok(Vec::new()) };
    store
        .runs(&RunQuery { limit: Some(limit), ..RunQuery::default() })
        .map_err(|e| UserError::new(format!("cannot read the run history: {e}")))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn epoch_ms(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What the recording thread is told.
enum Record {
    /// The steps' rows, written as soon as they are known.
    Steps(Vec<StepRow>),
    /// How the run ended: committed with the rows.
    End(RunEnd),
}

/// A run being recorded, on a thread of its own so that the database never holds the run
/// up: the store opens and the start is recorded beside the first steps, and the steps'
/// rows are written while the receipt is. When the store fails, the run warns and goes on.
pub(crate) struct RunHistory {
    to_recorder: mpsc::Sender<Record>,
    recorder: Option<std::thread::JoinHandle<()>>,
}

impl RunHistory {
    /// Starts recording the run: opens the store and records the start, then opens the
    /// run's execution gate (also when recording fails: history never stops a run).
    pub(crate) fn begin(
        loaded: &LoadedPipeline,
        run_id: &str,
        started: SystemTime,
        options: &RunOptions,
        on_record: GateOpener,
        printer: Printer,
    ) -> Self {
        let path = loaded.workspace.database_path();
        let start = RunStart {
            run_id: run_id.to_owned(),
            started_ms: epoch_ms(started),
            pipeline: loaded.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            pipeline_digest: loaded.pipeline.digest.to_string(),
            targets: options.targets.clone(),
            jobs: u32::try_from(options.jobs).unwrap_or(u32::MAX),
            attest_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let (to_recorder, records) = mpsc::channel();
        let recorder = std::thread::Builder::new()
            .name("history".to_owned())
            .spawn(move || record(&path, &start, on_record, &records, printer))
            .map_err(|err| printer.warn(&format!("run history is not recorded: {err}")))
            .ok();
        Self { to_recorder, recorder }
    }

    /// Hands the steps of `summary` to the history, to be written while the run finishes.
    pub(crate) fn record_steps(&self, summary: &RunSummary) {
        let _ = self.to_recorder.send(Record::Steps(attest_run::step_rows(summary)));
    }

    /// Records how the run ended, `summary` when it got that far and `receipt` when one
    /// was written, and waits until the history has it.
    pub(crate) fn finish(mut self, summary: Option<&RunSummary>, receipt: Option<String>, receipt_failed: bool) {
        let status = match summary {
            None => RunStatus::Error,
            Some(s) if s.interrupted => RunStatus::Interrupted,
            Some(s) if !s.success() => RunStatus::Failed,
            Some(_) if receipt_failed => RunStatus::Error,
            Some(_) => RunStatus::Succeeded,
        };
        let end = RunEnd { status, finished_ms: epoch_ms(SystemTime::now()), receipt };
        let _ = self.to_recorder.send(Record::End(end));
        if let Some(recorder) = self.recorder.take() {
            let _ = recorder.join();
        }
    }
}

/// The recording thread: the start, then the steps (if they come) and the end, in one
/// transaction.
fn record(path: &Path, start: &RunStart, on_record: GateOpener, records: &mpsc::Receiver<Record>, printer: Printer) {
    let store = Store::open(path).and_then(|mut store| store.begin_run(start).map(|()| store));
    on_record.open();
    let mut store = match store {
        Ok(store) => store,
        Err(err) => return printer.warn(&format!("run history is not recorded: {err}")),
    };
    // Beside the steps, rather than at some run's last commit.
    if let Err(err) = store.fold_wal() {
        printer.warn(&format!("failed to fold the history's write-ahead log: {err}"));
    }
    // The end is awaited only once the rows are written (inside `finish_run`).
    let (steps, end) = match records.recv() {
        Ok(Record::Steps(steps)) => (steps, None),
        other => (Vec::new(), Some(other)),
    };
    let end = || match end.unwrap_or_else(|| records.recv()) {
        Ok(Record::End(end)) => end,
        // The run stopped without saying how (an error return dropped the history).
        Ok(Record::Steps(_)) | Err(_) => {
            RunEnd { status: RunStatus::Error, finished_ms: epoch_ms(SystemTime::now()), receipt: None }
        }
    };
    if let Err(err) = store.finish_run(&start.run_id, &steps, end) {
        printer.warn(&format!("failed to record the end of the run in the history: {err}"));
    }
}
