//! Directory listings remembered between runs, so that a walk takes an unchanged
//! directory's entries from memory instead of reading the directory (as git's "untracked
//! cache" does). Stat'ing the entries is still the walk's job: a file's content changes
//! without its directory changing.
//!
//! A directory's entries change only together with its mtime and ctime: creating,
//! removing or renaming an entry sets both, and setting the mtime back (as `tar` does)
//! sets the ctime, which nobody can set back. A listing is trusted when the directory's
//! stat is the one it was listed with and both times are more than [`RACY_MARGIN_NS`]
//! older than the listing: timestamps are coarse, and a change within the same tick as
//! the listing would not move them.
//!
//! On disk: `ATSTDL01`, a little-endian `u64` count, then per directory (sorted by path) a
//! `u32` path length and the path (empty for the workspace root), its stat (size, mtime,
//! ctime, inode, mode), the listing's time, a `u32` entry count and per entry a kind byte,
//! a `u32` name length and the name. The file is sealed (`sealed_file`), so a truncated
//! or corrupt one is detected (and the directories are read again).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::FileType;

use crate::FileStat;
use crate::sealed_file::seal;
use crate::stat_cache::RACY_MARGIN_NS;

const MAGIC: &[u8; 8] = b"ATSTDL01";

/// Entry kinds as stored: what a directory entry's type says. Other types (devices,
/// sockets, pipes: rare in a workspace) are stored as unknown, which a walk stats.
const UNKNOWN: u8 = 0;
const DIRECTORY: u8 = 1;
const REGULAR: u8 = 2;
const SYMLINK: u8 = 3;

fn kind_byte(kind: FileType) -> u8 {
    match kind {
        FileType::Directory => DIRECTORY,
        FileType::RegularFile => REGULAR,
        FileType::Symlink => SYMLINK,
        _ => UNKNOWN,
    }
}

fn file_type(kind: u8) -> FileType {
    match kind {
        DIRECTORY => FileType::Directory,
        REGULAR => FileType::RegularFile,
        SYMLINK => FileType::Symlink,
        _ => FileType::Unknown,
    }
}

/// One directory's listing as read this run.
#[derive(Debug)]
struct Fresh {
    stat: FileStat,
    listed_at_ns: i64,
    entries: Vec<(String, FileType)>,
}

/// A listing in the loaded file.
#[derive(Debug, Clone)]
struct Loaded {
    stat: FileStat,
    listed_at_ns: i64,
    /// Where its entries lie in the file, and how many there are.
    entries: std::ops::Range<usize>,
    count: u32,
}

/// The result of [`DirListings::load`]: the listings, and a warning when the file on disk
/// was unreadable and has been discarded.
#[derive(Debug)]
pub struct DirListingsLoad {
    /// The listings (none when nothing usable was on disk).
    pub listings: DirListings,
    /// Why the file was discarded, if it was.
    pub warning: Option<String>,
}

/// A [`DirListings::load`] started early (see [`crate::PendingLoad`]).
pub type PendingDirListings = crate::PendingLoad<DirListingsLoad>;

/// Remembered directory listings: the loaded file (read-only) and the listings read this
/// run (behind a mutex), which [`DirListings::save`] writes back.
#[derive(Debug, Default)]
pub struct DirListings {
    bytes: Vec<u8>,
    loaded: HashMap<String, Loaded, crate::PathHashBuilder>,
    fresh: Mutex<HashMap<String, Fresh, crate::PathHashBuilder>>,
    dirty: AtomicBool,
}

/// A little-endian reader over the file's bytes that fails (`None`) past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(slice)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn text(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.u32()?).ok()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn stat(&mut self) -> Option<FileStat> {
        FileStat::decode(self.take(FileStat::ENCODED_LEN)?)
    }
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

impl DirListings {
    /// Reads the listings at `path`: none when the file is missing; none and a warning
    /// when it is unreadable, corrupt or truncated.
    pub fn load(path: &Path) -> DirListingsLoad {
        let (listings, warning) =
            crate::sealed_file::load(path, "directory listings", "listing directories again", Self::decode);
        DirListingsLoad { listings: listings.unwrap_or_default(), warning }
    }

    /// The listings in a file's (unsealed) body, or `None` when the bytes are not one.
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        let mut loaded = HashMap::default();
        let mut reader = Reader { bytes: &bytes, at: 0 };
        if reader.take(8)? != MAGIC {
            return None;
        }
        let count = reader.u64()?;
        for _ in 0..count {
            let path = reader.text()?.to_owned();
            let stat = reader.stat()?;
            let listed_at_ns = reader.i64()?;
            let count = reader.u32()?;
            let start = reader.at;
            for _ in 0..count {
                reader.u8()?;
                reader.text()?;
            }
            loaded.insert(path, Loaded { stat, listed_at_ns, entries: start..reader.at, count });
        }
        if reader.at != bytes.len() {
            return None;
        }
        Some(Self { bytes, loaded, ..Self::default() })
    }

    /// The remembered entries (name, type) of the directory at workspace path `rel` (`""`
    /// for the root) whose stat is now `stat`, if its listing can be trusted.
    pub(crate) fn entries(&self, rel: &str, stat: &FileStat) -> Option<impl Iterator<Item = (&str, FileType)>> {
        let loaded = self.loaded.get(rel)?;
        let settled =
            loaded.stat.mtime_ns.max(loaded.stat.ctime_ns).saturating_add(RACY_MARGIN_NS) < loaded.listed_at_ns;
        if loaded.stat != *stat || !settled {
            return None;
        }
        let mut reader = Reader { bytes: &self.bytes, at: loaded.entries.start };
        Some((0..loaded.count).map_while(move |_| {
            let kind = file_type(reader.u8()?);
            Some((reader.text()?, kind))
        }))
    }

    /// Remembers the listing of the directory at `rel`, read at `listed_at_ns` (taken
    /// before reading it) with the directory's stat before that. The entries are kept by
    /// name, so that walks using them find files nearly in path order, which the sort of
    /// a step's files then only has to confirm.
    pub(crate) fn record(&self, rel: &str, stat: FileStat, listed_at_ns: i64, mut entries: Vec<(String, FileType)>) {
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.fresh
            .lock()
            .expect("listings lock is never poisoned by a panic")
            .insert(rel.to_owned(), Fresh { stat, listed_at_ns, entries });
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Whether any directory was listed since [`DirListings::load`].
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Relaxed)
    }

    /// Writes the listings (loaded and new) atomically: temp file, fsync, rename.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let fresh = self.fresh.lock().expect("listings lock is never poisoned by a panic");
        let mut paths: Vec<&str> = self
            .loaded
            .keys()
            .map(String::as_str)
            .filter(|p| !fresh.contains_key(*p))
            .chain(fresh.keys().map(String::as_str))
            .collect();
        paths.sort_unstable();
        let mut out = Vec::with_capacity(self.bytes.len() + 4096);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(paths.len() as u64).to_le_bytes());
        for path in paths {
            put_text(&mut out, path);
            if let Some(listing) = fresh.get(path) {
                listing.stat.encode(&mut out);
                out.extend_from_slice(&listing.listed_at_ns.to_le_bytes());
                out.extend_from_slice(&u32::try_from(listing.entries.len()).unwrap_or(u32::MAX).to_le_bytes());
                for (name, kind) in &listing.entries {
                    out.push(kind_byte(*kind));
                    put_text(&mut out, name);
                }
            } else if let Some(loaded) = self.loaded.get(path) {
                loaded.stat.encode(&mut out);
                out.extend_from_slice(&loaded.listed_at_ns.to_le_bytes());
                out.extend_from_slice(&loaded.count.to_le_bytes());
                out.extend_from_slice(&self.bytes[loaded.entries.clone()]);
            }
        }
        crate::write_atomically(path, &seal(out), crate::Durability::Synced)
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn stat(mtime_ns: i64) -> FileStat {
        FileStat { size: 4096, mtime_ns, ctime_ns: mtime_ns, inode: 7, mode: 0o040_755 }
    }

    const SECOND: i64 = 1_000_000_000;

    fn names<'a>(entries: impl Iterator<Item = (&'a str, FileType)>) -> Vec<(String, FileType)> {
        entries.map(|(n, k)| (n.to_owned(), k)).collect()
    }

    #[test]
    fn listings_round_trip_and_are_trusted_only_while_the_directory_is_unchanged_and_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("listings.bin");
        let listings = DirListings::default();
        assert!(!listings.is_dirty());
        let entries = vec![
            ("a.c".to_owned(), FileType::RegularFile),
            ("sub".to_owned(), FileType::Directory),
            ("link ä".to_owned(), FileType::Symlink),
            ("odd".to_owned(), FileType::Unknown),
        ];
        listings.record("src", stat(10 * SECOND), 20 * SECOND, entries.clone());
        listings.record("", stat(10 * SECOND), 10 * SECOND + 1, vec![("src".to_owned(), FileType::Directory)]);
        assert!(listings.is_dirty());
        assert!(listings.entries("src", &stat(10 * SECOND)).is_none(), "only loaded listings are used");
        listings.save(&path).unwrap();

        let load = DirListings::load(&path);
        assert!(load.warning.is_none());
        let loaded = load.listings;
        assert!(!loaded.is_dirty());
        let mut by_name = entries.clone();
        by_name.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(names(loaded.entries("src", &stat(10 * SECOND)).unwrap()), by_name, "kept by name");
        assert!(loaded.entries("src", &stat(11 * SECOND)).is_none(), "changed since");
        assert!(loaded.entries("", &stat(10 * SECOND)).is_none(), "listed within the racy margin");
        assert!(loaded.entries("other", &stat(10 * SECOND)).is_none());

        // Saving again keeps the loaded listings beside new ones, byte for byte.
        loaded.record("new", stat(SECOND), 5 * SECOND, Vec::new());
        let again = dir.path().join("again.bin");
        loaded.save(&again).unwrap();
        let reloaded = DirListings::load(&again).listings;
        assert_eq!(names(reloaded.entries("src", &stat(10 * SECOND)).unwrap()), by_name);
        assert_eq!(reloaded.entries("new", &stat(SECOND)).unwrap().count(), 0);
    }

    #[test]
    fn damaged_files_are_dropped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("listings.bin");
        assert!(DirListings::load(&path).warning.is_none(), "missing: nothing to say");
        let listings = DirListings::default();
        listings.record("src", stat(SECOND), 5 * SECOND, vec![("a".to_owned(), FileType::RegularFile)]);
        listings.save(&path).unwrap();
        let good = std::fs::read(&path).unwrap();
        for bad in [good[..good.len() - 1].to_vec(), good[..10].to_vec(), Vec::new(), {
            let mut flipped = good.clone();
            flipped[20] ^= 1;
            flipped
        }] {
            std::fs::write(&path, &bad).unwrap();
            let load = DirListings::load(&path);
            assert!(load.warning.is_some());
            assert!(load.listings.entries("src", &stat(SECOND)).is_none());
        }
    }
}
