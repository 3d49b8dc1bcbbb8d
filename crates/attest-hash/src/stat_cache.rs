//! The persistent stat cache.
//!
//! A file whose `(size, mtime_ns, ctime_ns, inode, mode)` is unchanged since it was hashed is
//! not read again. A file modified within [`RACY_MARGIN_NS`] of the moment it was hashed
//! could have changed again without its timestamps moving (file-system timestamps are
//! coarse), so such an entry is not trusted and the file is re-hashed: git's "racy"
//! rule. The on-disk form ends with a BLAKE3 of everything before it, so a truncated or
//! corrupt file is detected and the cache is rebuilt rather than trusted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sealed_file::seal;
use crate::stat_table::{Entry, StatTable, WatchToken, encode};
use crate::{Digest, FileStat, HashError, RelPath, hash_file};

/// Timestamps within this distance of the hashing time are "racy".
pub(crate) const RACY_MARGIN_NS: i64 = 50_000_000;

impl Entry {
    /// Whether the file, whose stat is now `stat`, is still what was hashed.
    fn matches(&self, stat: &FileStat) -> bool {
        self.stat == *stat && self.stat.mtime_ns.saturating_add(RACY_MARGIN_NS) < self.hashed_at_ns
    }
}

/// The result of [`StatCache::load`]: the cache, and a warning when the file on disk was
/// unreadable and has been discarded.
#[derive(Debug)]
pub struct StatCacheLoad {
    /// The cache (empty when nothing usable was on disk).
    pub cache: StatCache,
    /// Why the on-disk cache was discarded, if it was.
    pub warning: Option<String>,
}

/// A [`StatCache::load`] started early (see [`crate::PendingLoad`]).
pub type PendingStatCache = crate::PendingLoad<StatCacheLoad>;

/// Maps workspace paths to digests for files whose stat is unchanged. Safe to share
/// between threads: the loaded part is read-only (but for its "seen" flags), new entries
/// go behind a mutex.
#[derive(Debug, Default)]
pub struct StatCache {
    loaded: StatTable,
    fresh: Mutex<HashMap<String, Entry, crate::PathHashBuilder>>,
    /// Whether `fresh` holds anything; lets the common case (a null run) skip the lock.
    has_fresh: AtomicBool,
    dirty: AtomicBool,
}

/// The time now, nanoseconds since the epoch.
pub(crate) fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)).unwrap_or(0)
}

impl StatCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the cache from `path`. A missing file gives an empty cache; a corrupt or
    /// truncated one gives an empty cache and a warning.
    pub fn load(path: &Path) -> StatCacheLoad {
        let (loaded, warning) = crate::sealed_file::load(
            path,
            "stat cache",
            "rebuilding the stat cache (every file is hashed once)",
            StatTable::decode,
        );
        StatCacheLoad { cache: Self { loaded: loaded.unwrap_or_default(), ..Self::default() }, warning }
    }

    /// Number of entries (loaded and new).
    pub fn len(&self) -> usize {
        let fresh = self.fresh.lock().expect("stat cache lock is never poisoned by a panic");
        self.loaded.len() + fresh.keys().filter(|k| self.loaded.get(k).is_none()).count()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The digest of the regular file `root/path` whose stat is `stat`: from the cache
    /// when that stat is unchanged (and not racy), else by reading and hashing the file.
    pub fn file_digest(&self, root: &Path, path: &RelPath, stat: &FileStat) -> Result<Digest, HashError> {
        if let Some(hit) = self.lookup(path.as_str(), stat) {
            return Ok(Digest::blake3(hit));
        }
        let hashed_at_ns = now_ns();
        let digest = hash_file(&path.under(root), stat.size)?;
        self.insert(path.as_str(), Entry { stat: *stat, hashed_at_ns, digest: *digest.as_bytes() });
        Ok(digest)
    }

    /// Records a digest that attest computed itself while writing `path` (a restored or
    /// stored output), so the next run need not read it again.
    pub fn record(&self, path: &RelPath, stat: &FileStat, digest: &Digest, hashed_at: SystemTime) {
        let hashed_at_ns =
            hashed_at.duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)).unwrap_or(0);
        self.insert(path.as_str(), Entry { stat: *stat, hashed_at_ns, digest: *digest.as_bytes() });
    }

    fn lookup(&self, path: &str, stat: &FileStat) -> Option<[u8; 32]> {
        if self.has_fresh.load(Ordering::Acquire) {
            let fresh = self.fresh.lock().expect("stat cache lock is never poisoned by a panic");
            if let Some(entry) = fresh.get(path) {
                return entry.matches(stat).then_some(entry.digest);
            }
        }
        let (i, entry) = self.loaded.get(path).filter(|(_, e)| e.matches(stat))?;
        self.loaded.mark_seen(i);
        Some(entry.digest)
    }

    /// The stat of the file at workspace path `path` as this process last saw it while
    /// hashing or writing it (`None` when it did not look at that file). A run's own
    /// observations, so that others (the git check) need not stat the same files again.
    pub fn seen_stat(&self, path: &str) -> Option<FileStat> {
        if self.has_fresh.load(Ordering::Acquire) {
            let fresh = self.fresh.lock().expect("stat cache lock is never poisoned by a panic");
            if let Some(entry) = fresh.get(path) {
                return Some(entry.stat);
            }
        }
        self.loaded.get(path).filter(|(i, _)| self.loaded.was_seen(*i)).map(|(_, e)| e.stat)
    }

    fn insert(&self, path: &str, entry: Entry) {
        let mut fresh = self.fresh.lock().expect("stat cache lock is never poisoned by a panic");
        if self.loaded.get(path).map(|(_, e)| e) != Some(entry) {
            self.dirty.store(true, Ordering::Relaxed);
        }
        fresh.insert(path.to_owned(), entry);
        self.has_fresh.store(true, Ordering::Release);
    }

    /// Whether anything changed since [`load`](Self::load).
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Relaxed)
    }

    /// The watch token of the file this cache was loaded from (see [`WatchToken`]).
    pub fn token(&self) -> Option<WatchToken> {
        self.loaded.token()
    }

    /// The stat the loaded file recorded for the file at workspace path `path`. It is the
    /// file's stat now only when something else says so: a watcher that has seen no change
    /// in the file's directory since [`StatCache::token`].
    pub fn recorded_stat(&self, path: &str) -> Option<FileStat> {
        self.loaded.get(path).map(|(_, entry)| entry.stat)
    }

    /// Whether this process checked every entry against its file (looked it up with a
    /// matching stat, or hashed the file again): then the whole cache holds as of any
    /// point before the first check.
    pub fn all_checked(&self) -> bool {
        let fresh = self.fresh.lock().expect("stat cache lock is never poisoned by a panic");
        self.loaded.unseen().all(|path| path.is_some_and(|path| fresh.contains_key(path)))
    }

    /// Writes the cache with `token` atomically (temp file in the same directory, fsync,
    /// rename).
    pub fn save(&self, path: &Path, token: Option<WatchToken>) -> std::io::Result<()> {
        let fresh = self.fresh.lock().expect("stat cache lock is never poisoned by a panic");
        let loaded: Vec<(&str, Entry)> = self.loaded.entries().filter(|(k, _)| !fresh.contains_key(*k)).collect();
        let mut all: Vec<(&str, &Entry)> =
            loaded.iter().map(|(k, e)| (*k, e)).chain(fresh.iter().map(|(k, e)| (k.as_str(), e))).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        crate::write_atomically(path, &seal(encode(&all, token)), crate::Durability::Synced)
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use std::time::Duration;

    use super::*;

    fn old_file(dir: &Path, name: &str, content: &str) -> RelPath {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        // Well in the past, so the entry is not racy.
        let past = SystemTime::now() - Duration::from_secs(10);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(past).unwrap();
        RelPath::new(name).unwrap()
    }

    #[test]
    fn unchanged_files_are_not_reread_and_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let rel = old_file(dir.path(), "a.txt", "hello");
        let meta = FileStat::from(&std::fs::symlink_metadata(dir.path().join("a.txt")).unwrap());
        let cache = StatCache::new();
        let digest = cache.file_digest(dir.path(), &rel, &meta).unwrap();
        assert_eq!(digest, Digest::of_bytes(b"hello"));
        let store = dir.path().join("state/stat-cache");
        cache.save(&store, None).unwrap();

        let loaded = StatCache::load(&store);
        assert!(loaded.warning.is_none());
        assert_eq!(loaded.cache.len(), 1);
        // Proof that the file is not read: make it unreadable; the digest still comes back.
        std::fs::remove_file(dir.path().join("a.txt")).unwrap();
        assert_eq!(loaded.cache.file_digest(dir.path(), &rel, &meta).unwrap(), digest);
        assert!(!loaded.cache.is_dirty());
    }

    #[test]
    fn only_files_this_process_looked_at_have_a_seen_stat() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (old_file(dir.path(), "a.txt", "a"), old_file(dir.path(), "b.txt", "b"));
        let meta = |name: &str| FileStat::from(&std::fs::symlink_metadata(dir.path().join(name)).unwrap());
        let first = StatCache::new();
        first.file_digest(dir.path(), &a, &meta("a.txt")).unwrap();
        assert_eq!(first.seen_stat("a.txt").map(|s| s.size), Some(1), "hashed now");
        first.file_digest(dir.path(), &b, &meta("b.txt")).unwrap();
        let store = dir.path().join("stat-cache");
        first.save(&store, None).unwrap();

        let loaded = StatCache::load(&store).cache;
        assert_eq!(loaded.seen_stat("a.txt"), None, "on disk, but not looked at by this process");
        loaded.file_digest(dir.path(), &a, &meta("a.txt")).unwrap();
        let seen = loaded.seen_stat("a.txt").unwrap();
        assert_eq!(seen.inode, meta("a.txt").inode);
        assert_eq!(seen.mode, meta("a.txt").mode);
        assert_eq!(loaded.seen_stat("b.txt"), None);
        assert_eq!(loaded.seen_stat("c.txt"), None);
    }

    #[test]
    fn a_cache_is_all_checked_once_every_entry_was_looked_at_and_keeps_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (old_file(dir.path(), "a.txt", "a"), old_file(dir.path(), "b.txt", "b"));
        let meta = |name: &str| FileStat::from(&std::fs::symlink_metadata(dir.path().join(name)).unwrap());
        let first = StatCache::new();
        first.file_digest(dir.path(), &a, &meta("a.txt")).unwrap();
        first.file_digest(dir.path(), &b, &meta("b.txt")).unwrap();
        assert!(first.all_checked(), "both hashed now");
        let store = dir.path().join("stat-cache");
        let token = WatchToken { instance: 9, generation: 3 };
        first.save(&store, Some(token)).unwrap();

        let loaded = StatCache::load(&store).cache;
        assert_eq!(loaded.token(), Some(token));
        assert_eq!(loaded.recorded_stat("a.txt"), Some(meta("a.txt")));
        assert_eq!(loaded.recorded_stat("c.txt"), None);
        assert!(!loaded.all_checked(), "nothing looked at yet");
        loaded.file_digest(dir.path(), &a, &meta("a.txt")).unwrap();
        assert!(!loaded.all_checked(), "b.txt not looked at");
        old_file(dir.path(), "b.txt", "changed");
        loaded.file_digest(dir.path(), &b, &meta("b.txt")).unwrap();
        assert!(loaded.all_checked(), "b.txt hashed again");
        assert!(loaded.is_dirty());
    }

    #[test]
    fn a_changed_stat_rehashes() {
        let dir = tempfile::tempdir().unwrap();
        let rel = old_file(dir.path(), "a.txt", "hello");
        let cache = StatCache::new();
        let meta = FileStat::from(&std::fs::symlink_metadata(dir.path().join("a.txt")).unwrap());
        cache.file_digest(dir.path(), &rel, &meta).unwrap();
        let rel = old_file(dir.path(), "a.txt", "HELLO");
        let meta = FileStat::from(&std::fs::symlink_metadata(dir.path().join("a.txt")).unwrap());
        assert_eq!(cache.file_digest(dir.path(), &rel, &meta).unwrap(), Digest::of_bytes(b"HELLO"));
    }

    #[test]
    fn racy_entries_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let rel = RelPath::new("a.txt").unwrap();
        let std_meta = std::fs::symlink_metadata(&path).unwrap();
        let meta = FileStat::from(&std_meta);
        let cache = StatCache::new();
        cache.file_digest(dir.path(), &rel, &meta).unwrap();
        // Same size, same (coarse) timestamps: only the racy rule saves us.
        std::fs::write(&path, "two").unwrap();
        let modified = std_meta.modified().unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
        let meta2 = FileStat::from(&std::fs::symlink_metadata(&path).unwrap());
        assert_eq!(cache.file_digest(dir.path(), &rel, &meta2).unwrap(), Digest::of_bytes(b"two"));
    }

    #[test]
    fn corrupt_and_truncated_files_are_rebuilt_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let rel = old_file(dir.path(), "a.txt", "hello");
        let meta = FileStat::from(&std::fs::symlink_metadata(dir.path().join("a.txt")).unwrap());
        let cache = StatCache::new();
        cache.file_digest(dir.path(), &rel, &meta).unwrap();
        let store = dir.path().join("stat-cache");
        cache.save(&store, None).unwrap();
        let bytes = std::fs::read(&store).unwrap();
        for bad in [
            bytes[..bytes.len() / 2].to_vec(),
            {
                let mut flipped = bytes.clone();
                flipped[20] ^= 1;
                flipped
            },
            Vec::new(),
        ] {
            std::fs::write(&store, &bad).unwrap();
            let loaded = StatCache::load(&store);
            assert!(loaded.warning.is_some());
            assert!(loaded.cache.is_empty());
        }
    }
}
