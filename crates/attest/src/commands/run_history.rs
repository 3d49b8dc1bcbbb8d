//! Recording a run in `.attest/attest.db`. History is a record, not a precondition: when
//! the database cannot be opened or written, the run warns and goes on.

use std::path::Path;
use std::time::SystemTime;

use attest_run::RunSummary;
use attest_store::{RunEnd, RunQuery, RunRow, RunStart, RunStatus, Store};

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

/// A run being recorded (or, when the store failed, not).
pub(crate) struct RunHistory {
    store: Option<Store>,
    run_id: String,
    printer: Printer,
}

impl RunHistory {
    /// Opens the store and records the start of the run.
    pub(crate) fn begin(
        loaded: &LoadedPipeline,
        run_id: &str,
        started: SystemTime,
        targets: &[String],
        jobs: usize,
        printer: Printer,
    ) -> Self {
        let path = loaded.workspace.database_path();
        let start = RunStart {
            run_id: run_id.to_owned(),
            started_ms: epoch_ms(started),
            pipeline: loaded.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            pipeline_digest: loaded.pipeline.digest.to_string(),
            targets: targets.to_vec(),
            jobs: u32::try_from(jobs).unwrap_or(u32::MAX),
            attest_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let store = Store::open(&path).and_then(|mut store| store.begin_run(&start).map(|()| store));
        let store = match store {
            Ok(store) => Some(store),
            Err(err) => {
                printer.warn(&format!("run history is not recorded: {err}"));
                None
            }
        };
        Self { store, run_id: run_id.to_owned(), printer }
    }

    /// Records how the run ended: `summary` when it got that far, `receipt` when one was
    /// written.
    pub(crate) fn finish(mut self, summary: Option<&RunSummary>, receipt: Option<String>, receipt_failed: bool) {
        let Some(store) = self.store.as_mut() else { return };
        let status = match summary {
            None => RunStatus::Error,
            Some(s) if s.interrupted => RunStatus::Interrupted,
            Some(s) if !s.success() => RunStatus::Failed,
            Some(_) if receipt_failed => RunStatus::Error,
            Some(_) => RunStatus::Succeeded,
        };
        let end = RunEnd {
            status,
            finished_ms: epoch_ms(SystemTime::now()),
            receipt,
            steps: summary.map(attest_run::step_rows).unwrap_or_default(),
        };
        if let Err(err) = store.finish_run(&self.run_id, &end) {
            self.printer.warn(&format!("failed to record the end of the run in the history: {err}"));
        }
    }
}
