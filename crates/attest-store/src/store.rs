use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use crate::StoreError;
use crate::migrations::MIGRATIONS;

/// An open `.attest/attest.db`, migrated to the newest schema this build knows.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The write-ahead log's size beyond which [`Store::fold_wal`] folds it into the database:
/// about ten runs of a 200-step pipeline.
const WAL_FOLD_BYTES: u64 = 1 << 20;

impl Store {
    /// Opens (creating when missing) the database at `path` and applies the migrations it
    /// lacks, each in its own transaction together with its `user_version`, so a process
    /// killed mid-migration leaves the previous version intact.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| StoreError::Directory { path: parent.to_path_buf(), source })?;
        }
        let conn = Connection::open(path).map_err(|e| classify(path, e))?;
        let store = Self { conn, path: path.to_path_buf() };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    fn configure(&self) -> Result<(), StoreError> {
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| self.error(e))?;
        // WAL: readers never block the writer; NORMAL: a commit survives a crash of
        // attest (not necessarily of the machine), without an fsync per commit.
        self.conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(|e| self.error(e))?;
        self.conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").map_err(|e| self.error(e))?;
        // Closing would checkpoint the WAL into the database (and fsync it) at the end of
        // every command; SQLite's automatic checkpoint at 1000 pages does that work once
        // for many runs instead. Readers see the WAL either way.
        self.conn
            .set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let known = u32::try_from(MIGRATIONS.len()).expect("fewer than 2^32 migrations");
        let found = self.user_version()?;
        if found > known {
            return Err(StoreError::TooNew { path: self.path.clone(), found, known });
        }
        for (version, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            self.apply(version, migration).map_err(|e| {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.error(e)
            })?;
        }
        Ok(())
    }

    /// Applies `migration`, which takes the schema from `version` to the next, unless
    /// another process did since the version was read (checked inside the transaction).
    fn apply(&self, version: usize, migration: &str) -> rusqlite::Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let now: i64 = self.conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if usize::try_from(now) == Ok(version) {
            self.conn.execute_batch(&format!("{migration}; PRAGMA user_version = {};", version + 1))?;
        }
        self.conn.execute_batch("COMMIT")
    }

    /// Folds the write-ahead log into the database and empties it, when it has grown
    /// beyond [`WAL_FOLD_BYTES`] and no other connection is using the database at this
    /// moment (it never waits for one); returns whether it did. The first connection to
    /// open a database reads the whole log, so a long log costs every command; SQLite
    /// folds it on its own only at 1,000 pages, at the commit that crosses the mark (for
    /// `attest run`, the end of some run). A run calls this beside its steps instead.
    pub fn fold_wal(&self) -> Result<bool, StoreError> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        if std::fs::metadata(&wal).map_or(0, |m| m.len()) <= WAL_FOLD_BYTES {
            return Ok(false);
        }
        self.conn.busy_timeout(Duration::ZERO).map_err(|e| self.error(e))?;
        let folded = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get::<_, i64>(0));
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| self.error(e))?;
        match folded {
            Ok(busy) => Ok(busy == 0),
            Err(err) if err.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => Ok(false),
            Err(err) => Err(self.error(err)),
        }
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn user_version(&self) -> Result<u32, StoreError> {
        self.conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|e| self.error(e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn error(&self, err: rusqlite::Error) -> StoreError {
        classify(&self.path, err)
    }
}

/// Names a damaged file as such; every other failure keeps SQLite's own words.
pub(crate) fn classify(path: &Path, err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path: path.to_path_buf(), reason: err.to_string() }
        }
        _ => StoreError::Sqlite { path: path.to_path_buf(), source: err },
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_is_migrated_to_the_newest_version_and_reopens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/attest.db");
        let store = Store::open(&path).expect("opens");
        assert_eq!(store.user_version().expect("version") as usize, MIGRATIONS.len());
        drop(store);
        let again = Store::open(&path).expect("reopens");
        assert_eq!(again.user_version().expect("version") as usize, MIGRATIONS.len());
    }

    /// Processes that open a new database at once all succeed: each migration is applied
    /// by whichever gets there first, and skipped by the others.
    #[test]
    fn stores_opened_at_once_migrate_the_database_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("attest.db");
        let opened: Vec<Result<u32, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    scope.spawn(|| Store::open(&path).and_then(|store| store.user_version()).map_err(|e| e.to_string()))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("no panic")).collect()
        });
        for result in opened {
            assert_eq!(result, Ok(MIGRATIONS.len() as u32));
        }
    }

    /// A database written by an earlier attest (here: two migrations) gets the later ones.
    #[test]
    fn an_older_database_gets_the_later_migrations() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("attest.db");
        let conn = Connection::open(&path).expect("raw open");
        for (version, migration) in MIGRATIONS[..2].iter().enumerate() {
            conn.execute_batch(&format!("{migration}; PRAGMA user_version = {};", version + 1)).expect("old schema");
        }
        let indexes = |conn: &Connection| -> Vec<String> {
            let mut stmt =
                conn.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'steps'").unwrap();
            stmt.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        assert!(indexes(&conn).contains(&"steps_by_name".to_owned()));
        drop(conn);
        let store = Store::open(&path).expect("migrates");
        assert_eq!(store.user_version().expect("version") as usize, MIGRATIONS.len());
        assert!(!indexes(&store.conn).contains(&"steps_by_name".to_owned()), "dropped by migration 3");
        let plan: String = store
            .conn
            .query_row("EXPLAIN QUERY PLAN SELECT run_id, pid FROM runs WHERE status = 'running'", [], |row| row.get(3))
            .unwrap();
        assert!(plan.contains("runs_running"), "running runs are found by their index: {plan}");
    }

    /// A long log is folded and emptied, a short one left alone, and a reader in
    /// another connection makes the fold give up at once rather than wait.
    #[test]
    fn a_long_write_ahead_log_is_folded_unless_the_database_is_in_use() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("attest.db");
        let wal = dir.path().join("attest.db-wal");
        let store = Store::open(&path).expect("opens");
        store.conn.execute_batch("CREATE TABLE filler (data BLOB)").unwrap();
        let fill = |pages: usize| {
            for _ in 0..pages {
                store.conn.execute("INSERT INTO filler VALUES (zeroblob(4000))", []).unwrap();
            }
        };
        fill(10);
        assert!(!store.fold_wal().unwrap(), "a short log stays");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        fill(300);
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN; SELECT count(*) FROM filler;").unwrap();
        let started = std::time::Instant::now();
        assert!(!store.fold_wal().unwrap(), "another connection reads");
        assert!(started.elapsed() < BUSY_TIMEOUT / 2, "did not wait for the reader");
        reader.execute_batch("COMMIT").unwrap();
        drop(reader);
        assert!(store.fold_wal().unwrap());
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "emptied");
        let rows: i64 = store.conn.query_row("SELECT count(*) FROM filler", [], |row| row.get(0)).unwrap();
        assert_eq!(rows, 310, "nothing lost");
        drop(store);
        let again = Store::open(&path).unwrap();
        let rows: i64 = again.conn.query_row("SELECT count(*) FROM filler", [], |row| row.get(0)).unwrap();
        assert_eq!(rows, 310);
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("attest.db");
        std::fs::write(&path, b"this is not a database, just some bytes that fill a header page.......")
            .expect("write");
        let err = Store::open(&path).expect_err("not a database");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("move it aside"), "{err}");
    }

    #[test]
    fn a_database_from_a_newer_attest_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("attest.db");
        drop(Store::open(&path).expect("opens"));
        let conn = Connection::open(&path).expect("raw open");
        conn.execute_batch("PRAGMA user_version = 999").expect("bump");
        drop(conn);
        let err = Store::open(&path).expect_err("too new");
        assert!(matches!(err, StoreError::TooNew { found: 999, .. }), "{err:?}");
    }
}
