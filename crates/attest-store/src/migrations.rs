//! The schema, as an append-only list of migrations: entry `i` takes a database from
//! `user_version = i` to `i + 1`. Never edit an entry that has shipped; append a new one.

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: run history.
    "CREATE TABLE runs (
        run_id          TEXT PRIMARY KEY,
        started_ms      INTEGER NOT NULL,
        finished_ms     INTEGER,
        status          TEXT NOT NULL,
        pipeline        TEXT NOT NULL,
        pipeline_digest TEXT NOT NULL,
        targets         TEXT NOT NULL,
        jobs            INTEGER NOT NULL,
        pid             INTEGER NOT NULL,
        attest_version  TEXT NOT NULL,
        receipt         TEXT,
        ran             INTEGER NOT NULL DEFAULT 0,
        cached          INTEGER NOT NULL DEFAULT 0,
        failed          INTEGER NOT NULL DEFAULT 0,
        skipped         INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX runs_by_start ON runs (started_ms);
    CREATE TABLE steps (
        run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        step        TEXT NOT NULL,
        status      TEXT NOT NULL,
        detail      TEXT,
        cache       TEXT,
        miss_reason TEXT,
        exit_code   INTEGER,
        start_ms    INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        worker      INTEGER,
        cache_key   TEXT,
        PRIMARY KEY (run_id, seq)
    ) STRICT;
    CREATE INDEX steps_by_name ON steps (step);",
    // 2: the governance event log, append-only.
    "CREATE TABLE governance_events (
        seq                  INTEGER PRIMARY KEY,
        event_id             TEXT NOT NULL UNIQUE,
        decision_id          TEXT,
        event_type           TEXT NOT NULL,
        occurred_at          TEXT NOT NULL,
        actor_type           TEXT NOT NULL,
        actor                TEXT NOT NULL,
        payload              TEXT NOT NULL,
        prev_digest          TEXT NOT NULL,
        prev_decision_digest TEXT,
        digest               TEXT NOT NULL
    ) STRICT;
    CREATE INDEX governance_events_by_decision ON governance_events (decision_id, seq);
    CREATE TRIGGER governance_events_no_update BEFORE UPDATE ON governance_events
        BEGIN SELECT RAISE(ABORT, 'the governance log is append-only'); END;
    CREATE TRIGGER governance_events_no_delete BEFORE DELETE ON governance_events
        BEGIN SELECT RAISE(ABORT, 'the governance log is append-only'); END;",
    // 3: no index of steps by name. Every run adds one entry per step to it, each in
    // another page (the entries sort by name, then age): a 200-step run dirtied 200
    // pages, rewrote 800 KiB of write-ahead log and checkpointed every fourth run. Runs
    // that include a step are found through the runs' own step rows (by run id) instead.
    // The runs still marked running, which every run looks up, get a (small) index.
    "DROP INDEX IF EXISTS steps_by_name;
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';",
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn every_migration_applies_in_order_on_an_empty_database() {
        let conn = rusqlite::Connection::open_in_memory().expect("in-memory database");
        for migration in MIGRATIONS {
            conn.execute_batch(migration).expect("migration applies");
        }
    }
}
