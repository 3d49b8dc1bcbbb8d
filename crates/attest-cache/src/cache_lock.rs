use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use crate::CacheError;

/// Shared (readers) or exclusive (runs, gc, clean).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once: stats, verify.
    Shared,
    /// One holder: runs and anything that deletes.
    Exclusive,
}

/// An advisory lock on `.attest/lock`, released when dropped (or when the process dies,
/// so a killed run never leaves a stale lock).
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
    path: PathBuf,
}

impl CacheLock {
    /// Takes the lock without waiting; `Ok(None)` when someone else holds it.
    pub fn try_acquire(path: &Path, mode: LockMode) -> Result<Option<Self>, CacheError> {
        let file = Self::open(path)?;
        let op = match mode {
            LockMode::Shared => FlockOperation::NonBlockingLockShared,
            LockMode::Exclusive => FlockOperation::NonBlockingLockExclusive,
        };
        match flock(&file, op) {
            Ok(()) => Ok(Some(Self { _file: file, path: path.to_owned() })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(err) => Err(CacheError::io("lock", path)(err.into())),
        }
    }

    /// Takes the lock, waiting as long as it takes.
    pub fn acquire(path: &Path, mode: LockMode) -> Result<Self, CacheError> {
        let file = Self::open(path)?;
        let op = match mode {
            LockMode::Shared => FlockOperation::LockShared,
            LockMode::Exclusive => FlockOperation::LockExclusive,
        };
        flock(&file, op).map_err(|e| CacheError::io("lock", path)(e.into()))?;
        Ok(Self { _file: file, path: path.to_owned() })
    }

    fn open(path: &Path) -> Result<File, CacheError> {
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(CacheError::io("create", parent))?;
        }
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(CacheError::io("open lock file", path))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = CacheLock::try_acquire(&path, LockMode::Exclusive).unwrap();
        assert!(first.is_some());
        assert!(CacheLock::try_acquire(&path, LockMode::Exclusive).unwrap().is_none());
        assert!(CacheLock::try_acquire(&path, LockMode::Shared).unwrap().is_none());
        drop(first);
        let shared = CacheLock::try_acquire(&path, LockMode::Shared).unwrap();
        assert!(shared.is_some());
        assert!(CacheLock::try_acquire(&path, LockMode::Shared).unwrap().is_some());
    }
}
