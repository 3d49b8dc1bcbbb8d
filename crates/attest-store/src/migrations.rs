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
