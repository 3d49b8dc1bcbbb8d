//! Run history: a row per run, written when it starts and completed when it ends, and a
//! row per step. A run whose process died before it ended stays `running` on disk and is
//! read back as `interrupted` (see [`RunStatus::Interrupted`]).

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::{Store, StoreError};

/// How a run ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Its process is still working.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A step failed or was skipped.
    Failed,
    /// Stopped by a signal, or its process died before it could record the end.
    Interrupted,
    /// attest itself could not finish the run (I/O, receipt).
    Error,
}

impl RunStatus {
    /// The name stored in the database and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Error => "error",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Error,
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known when a run starts.
#[derive(Debug, Clone)]
pub struct RunStart {
    /// The run id (also the receipt's invocation id).
    pub run_id: String,
    /// Start, in milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// The pipeline file, as the user named it.
    pub pipeline: String,
    /// The pipeline's digest.
    pub pipeline_digest: String,
    /// The steps asked for (empty: all).
    pub targets: Vec<String>,
    /// Parallel workers.
    pub jobs: u32,
    /// The attest version.
    pub attest_version: String,
}

/// One step of a finished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRow {
    /// Step name.
    pub step: String,
    /// `succeeded`, `failed`, `skipped` or `cancelled`.
    pub status: String,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `hit` or `miss` (absent when the cache was not asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// Why it missed, e.g. `input changed: src/main.c`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miss_reason: Option<String>,
    /// The command's exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// When it started, in milliseconds after the run started.
    pub start_ms: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The worker that ran it (0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<u32>,
    /// Its cache key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
}

impl StepRow {
    /// Whether it succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }

    /// Whether it was restored from the cache.
    pub fn cache_hit(&self) -> bool {
        self.cache.as_deref() == Some("hit")
    }

    /// Whether the cache was asked and missed (it executed).
    pub fn cache_miss(&self) -> bool {
        self.cache.as_deref() == Some("miss")
    }
}

/// What is known when a run ends.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// How it ended.
    pub status: RunStatus,
    /// End, in milliseconds since the Unix epoch.
    pub finished_ms: i64,
    /// The receipt file, relative to the workspace, when one was written.
    pub receipt: Option<String>,
}

/// A recorded run with its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    /// The run id.
    pub run_id: String,
    /// Start, in milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// End, when it ended.
    pub finished_ms: Option<i64>,
    /// How it ended.
    pub status: RunStatus,
    /// The pipeline file.
    pub pipeline: String,
    /// The pipeline's digest.
    pub pipeline_digest: String,
    /// The steps asked for (empty: all).
    pub targets: Vec<String>,
    /// Parallel workers.
    pub jobs: u32,
    /// The attest version that ran it.
    pub attest_version: String,
    /// The receipt file.
    pub receipt: Option<String>,
    /// Steps executed successfully.
    pub ran: u32,
    /// Steps restored from the cache.
    pub cached: u32,
    /// Steps that failed.
    pub failed: u32,
    /// Steps skipped or cancelled.
    pub skipped: u32,
    /// Its steps, in the order they finished.
    pub steps: Vec<StepRow>,
}

impl RunRow {
    /// Wall time, when the run ended.
    pub fn duration_ms(&self) -> Option<u64> {
        self.finished_ms.map(|end| u64::try_from(end - self.started_ms).unwrap_or(0))
    }
}

/// Which runs to read.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// At most this many, newest first.
    pub limit: Option<usize>,
    /// Only runs that started at or after this time (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    /// Only runs that include this step (their other steps are still returned).
    pub step: Option<String>,
}

fn pid_is_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(err) => err == rustix::io::Errno::PERM,
    }
}

/// Step rows written per statement: a statement per row cost more than its row.
const ROWS_PER_INSERT: usize = 64;

/// Inserts the rows of `steps` (numbered in order) for the run `run_id`.
fn insert_steps(tx: &rusqlite::Transaction<'_>, run_id: &str, steps: &[StepRow]) -> rusqlite::Result<()> {
    let prepare = |rows: usize| {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(", ");
        tx.prepare(&format!(
            "INSERT INTO steps (run_id, seq, step, status, detail, cache, miss_reason, exit_code,
                                start_ms, duration_ms, worker, cache_key) VALUES {rows}"
        ))
    };
    // Every chunk but the last has the same length: one statement serves them all.
    let mut whole_chunk = None;
    for (chunk_at, chunk) in steps.chunks(ROWS_PER_INSERT).enumerate() {
        let mut last_chunk = None;
        let insert = if chunk.len() == ROWS_PER_INSERT {
            match &mut whole_chunk {
                Some(insert) => insert,
                None => whole_chunk.insert(prepare(ROWS_PER_INSERT)?),
            }
        } else {
            last_chunk.insert(prepare(chunk.len())?)
        };
        let numbers: Vec<[i64; 3]> = (chunk_at * ROWS_PER_INSERT..)
            .zip(chunk)
            .map(|(seq, step)| {
                [i64::try_from(seq).unwrap_or(i64::MAX), to_sql_int(step.start_ms), to_sql_int(step.duration_ms)]
            })
            .collect();
        let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * 12);
        for (step, [seq, start_ms, duration_ms]) in chunk.iter().zip(&numbers) {
            values.extend([
                &run_id as &dyn rusqlite::ToSql,
                seq,
                &step.step,
                &step.status,
                &step.detail,
                &step.cache,
                &step.miss_reason,
                &step.exit_code,
                start_ms,
                duration_ms,
                &step.worker,
                &step.cache_key,
            ]);
        }
        insert.execute(values.as_slice())?;
    }
    Ok(())
}

impl Store {
    /// Records that a run started. Runs left `running` by processes that no longer exist
    /// are marked `interrupted` first.
    pub fn begin_run(&mut self, start: &RunStart) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(|e| crate::store::classify(&self.path, e))?;
        let stale: Vec<(String, u32)> = {
            let mut stmt = tx
                .prepare("SELECT run_id, pid FROM runs WHERE status = 'running'")
                .map_err(|e| crate::store::classify(&self.path, e))?;
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(|e| crate::store::classify(&self.path, e))?
        };
        for (run_id, pid) in stale {
            if !pid_is_alive(pid) {
                tx.execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ?1", [&run_id])
                    .map_err(|e| crate::store::classify(&self.path, e))?;
            }
        }
        tx.execute(
            "INSERT INTO runs (run_id, started_ms, status, pipeline, pipeline_digest, targets, jobs, pid,
                               attest_version)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                start.run_id,
                start.started_ms,
                start.pipeline,
                start.pipeline_digest,
                start.targets.join(","),
                start.jobs,
                std::process::id(),
                start.attest_version,
            ],
        )
        .map_err(|e| crate::store::classify(&self.path, e))?;
        tx.commit().map_err(|e| crate::store::classify(&self.path, e))
    }

    /// Records a run's steps (every selected one, in the order they finished), then asks
    /// `end` how the run ended and records that, all in one transaction. The caller
    /// finishes the run's receipt inside `end`, beside the steps' rows being written; a
    /// process killed before the commit leaves the run as it was, `running` (read back as
    /// interrupted), never half-recorded.
    pub fn finish_run(
        &mut self,
        run_id: &str,
        steps: &[StepRow],
        end: impl FnOnce() -> RunEnd,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(|e| crate::store::classify(&self.path, e))?;
        insert_steps(&tx, run_id, steps).map_err(|e| crate::store::classify(&self.path, e))?;
        let end = end();
        let count = |f: &dyn Fn(&StepRow) -> bool| steps.iter().filter(|s| f(s)).count();
        let ran = count(&|s| s.succeeded() && !s.cache_hit());
        let cached = count(&|s| s.succeeded() && s.cache_hit());
        let failed = count(&|s| s.status == "failed");
        let skipped = count(&|s| s.status == "skipped" || s.status == "cancelled");
        tx.execute(
            "UPDATE runs SET status = ?2, finished_ms = ?3, receipt = ?4, ran = ?5, cached = ?6, failed = ?7,
                             skipped = ?8
             WHERE run_id = ?1",
            params![
                run_id,
                end.status.as_str(),
                end.finished_ms,
                end.receipt,
                ran as i64,
                cached as i64,
                failed as i64,
                skipped as i64
            ],
        )
        .map_err(|e| crate::store::classify(&self.path, e))?;
        tx.commit().map_err(|e| crate::store::classify(&self.path, e))
    }

    /// Recorded runs, newest first, with their steps. A run still marked `running` whose
    /// process is gone is returned as `interrupted`.
    pub fn runs(&self, query: &RunQuery) -> Result<Vec<RunRow>, StoreError> {
        self.load(query, None)
    }

    fn load(&self, query: &RunQuery, run_id: Option<&str>) -> Result<Vec<RunRow>, StoreError> {
        let limit = query.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, started_ms, finished_ms, status, pipeline, pipeline_digest, targets, jobs,
                        attest_version, receipt, ran, cached, failed, skipped, pid
                 FROM runs
                 WHERE started_ms >= ?1
                   AND (?2 IS NULL OR EXISTS (SELECT 1 FROM steps s WHERE s.run_id = runs.run_id AND s.step = ?2))
                   AND (?4 IS NULL OR run_id = ?4)
                 ORDER BY started_ms DESC, rowid DESC
                 LIMIT ?3",
            )
            .map_err(|e| self.error(e))?;
        let mut runs: Vec<RunRow> = stmt
            .query_map(params![query.since_ms.unwrap_or(i64::MIN), query.step, limit, run_id], run_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        let mut steps = self
            .conn
            .prepare(
                "SELECT step, status, detail, cache, miss_reason, exit_code, start_ms, duration_ms, worker,
                        cache_key
                 FROM steps WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.error(e))?;
        for run in &mut runs {
            run.steps =
                steps.query_map([&run.run_id], step_row).and_then(Iterator::collect).map_err(|e| self.error(e))?;
        }
        Ok(runs)
    }

    /// One run by id, or by a unique prefix of its id.
    pub fn run(&self, id_or_prefix: &str) -> Result<Option<RunRow>, StoreError> {
        let run_id: Option<String> = self
            .conn
            .query_row(
                "SELECT run_id FROM runs WHERE run_id = ?1
                 UNION ALL SELECT run_id FROM runs WHERE run_id LIKE ?2 ESCAPE '\\' AND run_id != ?1 LIMIT 2",
                params![id_or_prefix, format!("{}%", id_or_prefix.replace('%', "\\%").replace('_', "\\_"))],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))?;
        let Some(run_id) = run_id else { return Ok(None) };
        Ok(self.load(&RunQuery::default(), Some(&run_id))?.pop())
    }
}

fn to_sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql_int(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn run_row(row: &Row<'_>) -> rusqlite::Result<RunRow> {
    let status = RunStatus::parse(&row.get::<_, String>(3)?);
    let pid: u32 = row.get(14)?;
    let status = if status == RunStatus::Running && !pid_is_alive(pid) { RunStatus::Interrupted } else { status };
    let targets: String = row.get(6)?;
    Ok(RunRow {
        run_id: row.get(0)?,
        started_ms: row.get(1)?,
        finished_ms: row.get(2)?,
        status,
        pipeline: row.get(4)?,
        pipeline_digest: row.get(5)?,
        targets: targets.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
        jobs: row.get(7)?,
        attest_version: row.get(8)?,
        receipt: row.get(9)?,
        ran: row.get(10)?,
        cached: row.get(11)?,
        failed: row.get(12)?,
        skipped: row.get(13)?,
        steps: Vec::new(),
    })
}

fn step_row(row: &Row<'_>) -> rusqlite::Result<StepRow> {
    Ok(StepRow {
        step: row.get(0)?,
        status: row.get(1)?,
        detail: row.get(2)?,
        cache: row.get(3)?,
        miss_reason: row.get(4)?,
        exit_code: row.get(5)?,
        start_ms: from_sql_int(row.get(6)?),
        duration_ms: from_sql_int(row.get(7)?),
        worker: row.get(8)?,
        cache_key: row.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(run_id: &str, started_ms: i64) -> RunStart {
        RunStart {
            run_id: run_id.to_owned(),
            started_ms,
            pipeline: "attest.yaml".to_owned(),
            pipeline_digest: "blake3:00".to_owned(),
            targets: vec!["build".to_owned(), "test".to_owned()],
            jobs: 2,
            attest_version: "0.1.0".to_owned(),
        }
    }

    fn step(name: &str, status: &str, cache: Option<&str>) -> StepRow {
        StepRow {
            step: name.to_owned(),
            status: status.to_owned(),
            detail: (status == "failed").then(|| "exit code 2".to_owned()),
            cache: cache.map(str::to_owned),
            miss_reason: (cache == Some("miss")).then(|| "input changed: src/main.c".to_owned()),
            exit_code: (status != "skipped").then_some(if status == "failed" { 2 } else { 0 }),
            start_ms: 5,
            duration_ms: 120,
            worker: Some(1),
            cache_key: Some("blake3:ab".to_owned()),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("attest.db")).expect("opens");
        (dir, store)
    }

    #[test]
    fn a_finished_run_reads_back_with_its_steps_and_counts() {
        let (_dir, mut store) = store();
        store.begin_run(&start("r1", 1_000)).expect("begin");
        let steps = vec![
            step("build", "succeeded", Some("miss")),
            step("test", "succeeded", Some("hit")),
            step("lint", "failed", Some("miss")),
            step("pack", "skipped", None),
        ];
        let end = RunEnd {
            status: RunStatus::Failed,
            finished_ms: 3_500,
            receipt: Some(".attest/receipts/x.intoto.jsonl".to_owned()),
        };
        store.finish_run("r1", &steps, || end).expect("finish");
        let runs = store.runs(&RunQuery::default()).expect("runs");
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!((run.ran, run.cached, run.failed, run.skipped), (1, 1, 1, 1));
        assert_eq!(run.duration_ms(), Some(2_500));
        assert_eq!(run.targets, ["build", "test"]);
        assert_eq!(run.steps, steps);
        assert_eq!(store.run("r").expect("by prefix").map(|r| r.run_id), Some("r1".to_owned()));
    }

    /// Rows go in several to a statement: every row comes back, in order, whether the
    /// steps fill whole statements, part of one or none.
    #[test]
    fn many_steps_read_back_in_order_across_statements() {
        let (_dir, mut store) = store();
        for (i, count) in [0, 1, ROWS_PER_INSERT, 2 * ROWS_PER_INSERT + 22].into_iter().enumerate() {
            let run_id = format!("r{i}");
            store.begin_run(&start(&run_id, 1_000 + i as i64)).expect("begin");
            let steps: Vec<StepRow> = (0..count)
                .map(|n| StepRow { start_ms: n as u64, ..step(&format!("s{n}"), "succeeded", Some("hit")) })
                .collect();
            let end = RunEnd { status: RunStatus::Succeeded, finished_ms: 2_000, receipt: None };
            store.finish_run(&run_id, &steps, || end).expect("finish");
            assert_eq!(store.run(&run_id).expect("read").expect("exists").steps, steps, "{count} steps");
        }
    }

    #[test]
    fn a_runs_steps_and_end_become_visible_together() {
        let (dir, mut store) = store();
        store.begin_run(&start("r1", 1_000)).expect("begin");
        let other = Store::open(&dir.path().join("attest.db")).expect("second connection");
        let steps = [step("build", "succeeded", Some("miss"))];
        store
            .finish_run("r1", &steps, || {
                let meanwhile = other.run("r1").expect("read").expect("exists");
                assert_eq!(meanwhile.status, RunStatus::Running);
                assert!(meanwhile.steps.is_empty(), "rows written but not committed");
                RunEnd { status: RunStatus::Succeeded, finished_ms: 2_000, receipt: None }
            })
            .expect("finish");
        let after = other.run("r1").expect("read").expect("exists");
        assert_eq!(after.status, RunStatus::Succeeded);
        assert_eq!(after.steps, steps);
    }

    #[test]
    fn a_run_whose_process_died_reads_as_interrupted_and_is_marked_so_by_the_next_run() {
        let (_dir, mut store) = store();
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let dead_pid = child.id();
        child.wait().expect("wait");
        store.begin_run(&start("dead", 1_000)).expect("begin");
        store.conn.execute("UPDATE runs SET pid = ?1 WHERE run_id = 'dead'", [dead_pid]).expect("pid");
        let read = store.run("dead").expect("read").expect("exists");
        assert_eq!(read.status, RunStatus::Interrupted);
        assert_eq!(read.finished_ms, None);

        store.begin_run(&start("live", 2_000)).expect("begin");
        let stored: String =
            store.conn.query_row("SELECT status FROM runs WHERE run_id = 'dead'", [], |r| r.get(0)).expect("row");
        assert_eq!(stored, "interrupted");
        // This process is alive: its own run stays running.
        assert_eq!(store.run("live").expect("read").expect("exists").status, RunStatus::Running);
    }

    #[test]
    fn queries_filter_by_step_time_and_limit_newest_first() {
        let (_dir, mut store) = store();
        for (i, names) in [vec!["build"], vec!["build", "test"], vec!["test"]].into_iter().enumerate() {
            let id = format!("run{i}");
            let started = 1_000 * (i as i64 + 1);
            store.begin_run(&start(&id, started)).expect("begin");
            let steps: Vec<StepRow> = names.iter().map(|n| step(n, "succeeded", Some("hit"))).collect();
            let end = RunEnd { status: RunStatus::Succeeded, finished_ms: started + 10, receipt: None };
            store.finish_run(&id, &steps, || end).expect("finish");
        }
        let ids =
            |q: RunQuery| -> Vec<String> { store.runs(&q).expect("runs").into_iter().map(|r| r.run_id).collect() };
        assert_eq!(ids(RunQuery::default()), ["run2", "run1", "run0"]);
        assert_eq!(ids(RunQuery { limit: Some(2), ..RunQuery::default() }), ["run2", "run1"]);
        assert_eq!(ids(RunQuery { step: Some("build".to_owned()), ..RunQuery::default() }), ["run1", "run0"]);
        assert_eq!(ids(RunQuery { since_ms: Some(2_000), ..RunQuery::default() }), ["run2", "run1"]);
        assert_eq!(store.run("nope").expect("read"), None);
    }
}
