//! The stat cache's file format, and the read-only table a loaded file becomes.
//!
//! On disk: `ATSTSC02`, a little-endian `u64` entry count, the watch token (two `u64`s:
//! the watcher's instance and generation, zeros for none; see [`WatchToken`]), then per
//! entry (sorted by path). Files of the first version (`ATSTSC01`, without the token) are
//! still read.
//! a `u32` path length, the path and [`ENTRY_LEN`] bytes of fixed fields. The file is
//! sealed (`sealed_file`): it ends with a BLAKE3 of everything before it, so a truncated
//! or corrupt file is detected before it is decoded here.
//!
//! A loaded table keeps the file's bytes as they were read and where each path starts: no
//! allocation per entry and no index to build, which on a workspace of 100k files was
//! most of what loading cost. Files are looked up in path order, so a lookup tries the
//! entry after the last one found, and searches the sorted paths otherwise. It compares
//! whole paths: a file written out of order (only a damaged one is) can make a lookup
//! miss (the file is hashed again, which is always correct), never find the wrong entry.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::FileStat;

const MAGIC: &[u8; 8] = b"ATSTSC02";
/// Bytes before the first entry: magic, count, watch token.
const HEADER_LEN: usize = 8 + 8 + 16;
/// The first version: no watch token.
const MAGIC_V1: &[u8; 8] = b"ATSTSC01";
/// Bytes of an entry after its path: size, mtime, ctime, inode, mode, hashing time, digest.
const ENTRY_LEN: usize = FileStat::ENCODED_LEN + 8 + 32;

/// What the stat cache knows about one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The file's stat when it was hashed.
    pub(crate) stat: FileStat,
    pub(crate) hashed_at_ns: i64,
    pub(crate) digest: [u8; 32],
}

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        self.stat.encode(out);
        out.extend_from_slice(&self.hashed_at_ns.to_le_bytes());
        out.extend_from_slice(&self.digest);
    }

    /// The entry in `bytes`, which holds exactly [`ENTRY_LEN`] bytes.
    fn decode(bytes: &[u8]) -> Self {
        let (stat, rest) = bytes.split_at(FileStat::ENCODED_LEN);
        Self {
            stat: FileStat::decode(stat).expect("an entry holds a whole stat"),
            hashed_at_ns: i64::from_le_bytes(rest[..8].try_into().expect("eight bytes")),
            digest: rest[8..40].try_into().expect("32 bytes"),
        }
    }
}

/// A point in a file-system watcher's history (`attest watch`): every entry of a stat
/// cache that carries one matched its file at that point, so a file whose directory the
/// watcher has seen no change in since still has the entry's stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchToken {
    /// The watcher process's random id (a restarted watcher knows nothing before it).
    pub instance: u64,
    /// The watcher's generation at that point.
    pub generation: u64,
}

/// The file's bytes for `entries`, which must be sorted by path, and `token`.
pub(crate) fn encode(entries: &[(&str, &Entry)], token: Option<WatchToken>) -> Vec<u8> {
    let paths: usize = entries.iter().map(|(p, _)| p.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + entries.len() * (4 + ENTRY_LEN) + paths + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    let token = token.filter(|t| t.instance != 0).map_or([0; 2], |t| [t.instance, t.generation]);
    out.extend_from_slice(&token[0].to_le_bytes());
    out.extend_from_slice(&token[1].to_le_bytes());
    for (path, entry) in entries {
        let len = u32::try_from(path.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        entry.encode(&mut out);
    }
    out
}

/// A loaded stat-cache file: read-only but for one "seen" flag per entry.
#[derive(Debug, Default)]
pub(crate) struct StatTable {
    bytes: Vec<u8>,
    /// The file's watch token.
    token: Option<WatchToken>,
    /// Where each entry's path starts, in file (path) order.
    paths: Vec<(usize, u32)>,
    /// Whether this process has seen the file match its entry.
    seen: Vec<AtomicBool>,
}

impl StatTable {
    /// The table of a stat-cache file's (unsealed) body, or `None` when the bytes are not
    /// one (wrong magic, truncated, inconsistent lengths).
    pub(crate) fn decode(bytes: Vec<u8>) -> Option<Self> {
        let body_len = bytes.len();
        let v1 = match bytes.get(..8)? {
            magic if magic == MAGIC => false,
            magic if magic == MAGIC_V1 => true,
            _ => return None,
        };
        let count = usize::try_from(u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?)).ok()?;
        // Every entry takes more than ENTRY_LEN bytes: a larger count is a lie.
        if count > body_len / ENTRY_LEN {
            return None;
        }
        let word = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
        let (instance, generation) = if v1 { (0, 0) } else { (word(16)?, word(24)?) };
        let token = (instance != 0).then_some(WatchToken { instance, generation });
        let mut paths = Vec::with_capacity(count);
        let mut at = if v1 { 16 } else { HEADER_LEN };
        for _ in 0..count {
            let len = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
            let start = at + 4;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            bytes.get(start..end.checked_add(ENTRY_LEN)?)?;
            paths.push((start, len));
            at = end + ENTRY_LEN;
        }
        if at != bytes.len() {
            return None;
        }
        let seen = std::iter::repeat_with(|| AtomicBool::new(false)).take(count).collect();
        Some(Self { bytes, token, paths, seen })
    }

    fn path(&self, i: usize) -> (&[u8], usize) {
        let (start, len) = self.paths[i];
        let end = start + len as usize;
        (&self.bytes[start..end], end)
    }

    /// Position and entry of `path`, if the table has it.
    pub(crate) fn get(&self, path: &str) -> Option<(usize, Entry)> {
        // Files are looked up in path order, step by step, and the table is in path order:
        // the entry after this thread's last one is tried first.
        thread_local! {
            static NEXT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        let next = NEXT.get();
        let i = if next < self.paths.len() && self.path(next).0 == path.as_bytes() {
            next
        } else {
            let (bytes, wanted) = (&self.bytes, path.as_bytes());
            self.paths.binary_search_by(|&(start, len)| bytes[start..start + len as usize].cmp(wanted)).ok()?
        };
        NEXT.set(i + 1);
        let end = self.path(i).1;
        Some((i, Entry::decode(&self.bytes[end..end + ENTRY_LEN])))
    }

    /// The file's watch token.
    pub(crate) fn token(&self) -> Option<WatchToken> {
        self.token
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.paths.len()
    }

    /// Marks entry `i` as seen matching its file.
    pub(crate) fn mark_seen(&self, i: usize) {
        self.seen[i].store(true, Ordering::Relaxed);
    }

    /// Whether entry `i` was seen matching its file.
    pub(crate) fn was_seen(&self, i: usize) -> bool {
        self.seen[i].load(Ordering::Relaxed)
    }

    /// The path of every entry not seen matching its file (`None` for one that is not
    /// text).
    pub(crate) fn unseen(&self) -> impl Iterator<Item = Option<&str>> {
        (0..self.len()).filter(|&i| !self.was_seen(i)).map(|i| std::str::from_utf8(self.path(i).0).ok())
    }

    /// Every entry whose path is text, in path order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, Entry)> {
        (0..self.len()).filter_map(|i| {
            let (path, end) = self.path(i);
            Some((std::str::from_utf8(path).ok()?, Entry::decode(&self.bytes[end..end + ENTRY_LEN])))
        })
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn entry(n: u8) -> Entry {
        Entry {
            stat: FileStat {
                size: u64::from(n),
                mtime_ns: -i64::from(n),
                ctime_ns: i64::from(n) << 40,
                inode: u64::MAX - u64::from(n),
                mode: 0o100_644,
            },
            hashed_at_ns: 7,
            digest: [n; 32],
        }
    }

    #[test]
    fn a_table_finds_every_entry_it_was_written_with_and_nothing_else() {
        let (a, b, c) = (entry(1), entry(2), entry(3));
        let bytes = encode(&[("a", &a), ("dir/b ä", &b), ("dir/c", &c)], None);
        let table = StatTable::decode(bytes).unwrap();
        assert_eq!(table.len(), 3);
        assert_eq!(table.get("dir/b ä"), Some((1, b)));
        assert_eq!(table.get("a"), Some((0, a)));
        assert_eq!(table.get("dir"), None);
        assert_eq!(table.get("dir/c/"), None);
        let all: Vec<(&str, Entry)> = table.entries().collect();
        assert_eq!(all, [("a", a), ("dir/b ä", b), ("dir/c", c)]);
        assert!(!table.was_seen(2));
        table.mark_seen(2);
        assert!(table.was_seen(2));
    }

    #[test]
    fn an_empty_table_round_trips() {
        let table = StatTable::decode(encode(&[], None)).unwrap();
        assert_eq!(table.len(), 0);
        assert_eq!(table.get(""), None);
        assert_eq!(table.token(), None);
    }

    #[test]
    fn the_watch_token_round_trips() {
        let token = WatchToken { instance: 0x0123_4567_89ab_cdef, generation: 42 };
        let table = StatTable::decode(encode(&[("a", &entry(1))], Some(token))).unwrap();
        assert_eq!(table.token(), Some(token));
        assert_eq!(table.get("a"), Some((0, entry(1))));
        // A file of the first version: the same but for the token.
        let mut v1 = encode(&[("a", &entry(1))], Some(token));
        v1.splice(0..HEADER_LEN, MAGIC_V1.iter().chain(&1u64.to_le_bytes()).copied());
        let v1 = StatTable::decode(v1).unwrap();
        assert_eq!((v1.token(), v1.get("a")), (None, Some((0, entry(1)))));
        let none = WatchToken { instance: 0, generation: 7 };
        assert_eq!(StatTable::decode(encode(&[], Some(none))).unwrap().token(), None, "instance 0 is no watcher");
    }

    #[test]
    fn lengths_that_do_not_add_up_are_refused() {
        let body = encode(&[("a", &entry(1))], None);
        let mut long_path = body.clone();
        long_path[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&1000u32.to_le_bytes());
        let mut huge_count = body.clone();
        huge_count[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut trailing = body.clone();
        trailing.push(0);
        for bad in [long_path, huge_count, trailing, body[..body.len() - 1].to_vec()] {
            assert!(StatTable::decode(bad).is_none());
        }
        assert!(StatTable::decode(body).is_some());
    }

    #[test]
    fn a_file_out_of_order_misses_but_never_confuses_two_paths() {
        let names = ["d", "a", "c", "b", "e"];
        let entries: Vec<Entry> = (1..=5).map(entry).collect();
        let unsorted: Vec<(&str, &Entry)> = names.iter().copied().zip(&entries).collect();
        let table = StatTable::decode(encode(&unsorted, None)).unwrap();
        for (i, name) in names.iter().enumerate() {
            for _ in 0..2 {
                let found = table.get(name);
                assert!(found.is_none() || found == Some((i, entries[i])), "{name}: {found:?}");
            }
        }
    }

    #[test]
    fn lookups_in_order_out_of_order_and_across_tables_agree() {
        let entries: Vec<(String, Entry)> = (0..50u8).map(|n| (format!("d/f{n:02}"), entry(n))).collect();
        let refs: Vec<(&str, &Entry)> = entries.iter().map(|(p, e)| (p.as_str(), e)).collect();
        let table = StatTable::decode(encode(&refs, None)).unwrap();
        let other = StatTable::decode(encode(&refs[10..20], None)).unwrap();
        let expect = |n: usize| Some((n, entry(u8::try_from(n).unwrap())));
        for n in (0..50).chain((0..50).rev()).chain([7, 3, 49, 0, 1, 2]) {
            assert_eq!(table.get(&format!("d/f{n:02}")), expect(n));
            // Another table in between: its positions mean nothing to this one.
            assert_eq!(other.get("d/f15"), Some((5, entry(15))));
            assert_eq!(table.get(&format!("d/f{n:02}x")), None);
        }
    }
}
