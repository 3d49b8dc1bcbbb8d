use std::path::PathBuf;

use attest_hash::Digest;

/// What went wrong in the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing a cache file failed.
    #[error("failed to {action} `{}`", path.display())]
    Io {
        /// What attest was doing ("write blob", "read action entry", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A blob's content does not match its name.
    #[error("cache blob `{expected}` is corrupt: its content hashes to `{actual}`")]
    DigestMismatch {
        /// The digest the blob should have.
        expected: Digest,
        /// What it has.
        actual: Digest,
    },
    /// A blob an entry refers to is not in the store.
    #[error("cache blob `{digest}` is missing")]
    MissingBlob {
        /// The missing digest.
        digest: Digest,
    },
    /// An action entry that cannot be parsed.
    #[error("cache entry `{}` is corrupt", path.display())]
    CorruptEntry {
        /// The entry file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A restore that would write outside the workspace.
    #[error("refusing to restore `{path}`: {reason}")]
    UnsafePath {
        /// The output path.
        path: String,
        /// Why it is unsafe.
        reason: String,
    },
}

impl CacheError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| CacheError::Io { action, path, source }
    }
}
