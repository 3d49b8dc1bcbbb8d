use std::path::PathBuf;

/// Why the store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused, with the file it was working on.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not a SQLite database (or is damaged beyond SQLite's reading).
    #[error("{path} is not a readable SQLite database ({reason}); move it aside and attest starts a new one")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// The database was migrated by a newer attest.
    #[error("{path} has schema version {found}, newer than this attest knows ({known}); upgrade attest")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// A value could not be stored as asked (e.g. a float in a digested payload).
    #[error("{path}: {reason}")]
    Invalid {
        /// The database file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The directory holding the database could not be created.
    #[error("failed to create {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
