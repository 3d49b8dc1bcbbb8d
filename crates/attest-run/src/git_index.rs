//! A fast proof that a git work tree is clean, read from git's own index (the `DIRC`
//! file format, versions 2 and 3) instead of running `git status`.
//!
//! `git status` over a large tree costs more than the rest of a null run (it re-reads
//! the index, stats every tracked file and refreshes its view on several threads). The
//! common case, a tree where nothing changed since the index was written, needs only
//! the index and one `lstat` per entry. So [`clean_against_index`] answers
//! `Some(Clean)` only when every check passes the way git's own would: each entry's
//! recorded stat data (mtime and ctime to the nanosecond, inode, device, mode, owner,
//! size) matches the file, no entry is racily clean (modified in the same instant the
//! index was written), no entry carries a flag this reader does not handle (conflicts,
//! assume-unchanged, skip-worktree, intent-to-add), and the index's cache tree (the
//! `TREE` extension) names HEAD's tree, so nothing is staged either. Anything else,
//! including any doubt, answers `None` and the caller asks `git status`, which then
//! compares contents. The fast path can therefore say "clean" wrongly only where git's
//! own stat check would.

use std::path::Path;

use attest_hash::FileStat;

/// Entry flag bits (the 16-bit flags field).
const ASSUME_VALID: u16 = 0x8000;
const EXTENDED: u16 = 0x4000;
const STAGE_MASK: u16 = 0x3000;
const NAME_MASK: u16 = 0x0fff;

/// The fixed part of an entry: ten 32-bit stat fields, a SHA-1 and the flags.
const ENTRY_FIXED: usize = 40 + 20 + 2;

/// One index entry's stat data, as git records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry<'a> {
    path: &'a str,
    ctime: (u32, u32),
    mtime: (u32, u32),
    dev: u32,
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u32,
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads an index of version 2 or 3 with SHA-1 object names as it goes: hands each
/// entry to `visit`, in order, and returns the root of the cache tree, when it is valid.
/// `None` when `visit` answers `false` (and from then on nothing is read), or for
/// anything this reader does not understand (version 4's compressed paths, split or
/// sparse indexes, flags it does not handle, a truncated file). Nothing is copied: a
/// large index costs no memory beyond its bytes.
fn parse<'a>(bytes: &'a [u8], mut visit: impl FnMut(Entry<'a>) -> bool) -> Option<Option<String>> {
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be32(bytes, 4)?;
    if version != 2 && version != 3 {
        return None;
    }
    let count = usize::try_from(be32(bytes, 8)?).ok()?;
    let body_end = bytes.len().checked_sub(20)?; // the trailing SHA-1 of the file
    let mut at = 12;
    for _ in 0..count {
        let field = |i: usize| be32(bytes, at + 4 * i);
        let flags = be16(bytes, at + 60)?;
        if flags & (ASSUME_VALID | STAGE_MASK) != 0 {
            return None;
        }
        let mut name_at = at + ENTRY_FIXED;
        if flags & EXTENDED != 0 {
            // skip-worktree and intent-to-add live here: either changes what "clean" means.
            if version < 3 || be16(bytes, name_at)? != 0 {
                return None;
            }
            name_at += 2;
        }
        let name_len = bytes.get(name_at..body_end)?.iter().position(|&b| b == 0)?;
        if usize::from(flags & NAME_MASK) != name_len.min(usize::from(NAME_MASK)) {
            return None;
        }
        let path = std::str::from_utf8(&bytes[name_at..name_at + name_len]).ok()?;
        let entry = Entry {
            path,
            ctime: (field(0)?, field(1)?),
            mtime: (field(2)?, field(3)?),
            dev: field(4)?,
            ino: field(5)?,
            mode: field(6)?,
            uid: field(7)?,
            gid: field(8)?,
            size: field(9)?,
        };
        if !visit(entry) {
            return None;
        }
        // Entries are NUL-padded to a multiple of eight bytes (one to eight NULs).
        let entry_len = name_at - at + name_len;
        at += (entry_len + 8) & !7;
    }
    let mut root_tree = None;
    let body = bytes.get(..body_end)?;
    while at + 8 <= body_end {
        let signature = &body[at..at + 4];
        let len = usize::try_from(be32(body, at + 4)?).ok()?;
        let data = body.get(at + 8..(at + 8).checked_add(len)?)?;
        match signature {
            b"TREE" => root_tree = root_of_cache_tree(data),
            // A split index keeps entries elsewhere; a sparse one collapses directories.
            b"link" | b"sdir" => return None,
            _ => {}
        }
        at += 8 + len;
    }
    Some(root_tree)
}

/// The root tree's object name from a `TREE` extension, when the root is valid:
/// `"" NUL entry_count SP subtrees LF sha1` (an entry count of -1 means invalid).
fn root_of_cache_tree(data: &[u8]) -> Option<String> {
    let (&0, rest) = data.split_first()? else { return None };
    let line_end = rest.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&rest[..line_end]).ok()?;
    let (entry_count, _subtrees) = line.split_once(' ')?;
    if entry_count.parse::<i64>().ok()? < 0 {
        return None;
    }
    rest.get(line_end + 1..line_end + 21).map(hex)
}

/// Git's file mode for the `st_mode` `lstat` saw, as the index records it.
fn index_mode(st_mode: u32) -> Option<u32> {
    match rustix::fs::FileType::from_raw_mode(st_mode) {
        rustix::fs::FileType::Symlink => Some(0o120_000),
        rustix::fs::FileType::RegularFile => Some(if st_mode & 0o100 != 0 { 0o100_755 } else { 0o100_644 }),
        _ => None,
    }
}

/// A file's device, owner and group, as a fresh `lstat` gives them.
type Owner = (u32, u32, u32);

/// What a fresh `lstat` says, in the form of the stats the run keeps.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::unnecessary_cast)] // field types differ by architecture
fn from_lstat(stat: &rustix::fs::Stat) -> (FileStat, Owner) {
    let ns = |secs: i64, nsecs: i64| secs.saturating_mul(1_000_000_000).saturating_add(nsecs);
    let seen = FileStat {
        size: stat.st_size as u64,
        mtime_ns: ns(stat.st_mtime as i64, stat.st_mtime_nsec as i64),
        ctime_ns: ns(stat.st_ctime as i64, stat.st_ctime_nsec as i64),
        inode: stat.st_ino as u64,
        mode: stat.st_mode as u32,
    };
    (seen, (stat.st_dev as u32, stat.st_uid, stat.st_gid))
}

/// Whether a file still has the stat data `entry` recorded, and was not modified in the
/// same instant as the index (`index_mtime`) was written. The index keeps the low 32 bits
/// of each field. A stat the run itself took has no `owner` (device, owner and group), but
/// none of them can change without the ctime changing (`chown`, `chgrp`, a copy to another
/// device), which is compared to the nanosecond.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn unchanged(entry: &Entry<'_>, stat: &FileStat, owner: Option<Owner>, index_mtime: (i64, i64)) -> bool {
    let split = |ns: i64| (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
    let (mtime, ctime) = (split(stat.mtime_ns), split(stat.ctime_ns));
    index_mode(stat.mode) == Some(entry.mode)
        && entry.mtime == (mtime.0 as u32, mtime.1 as u32)
        && entry.ctime == (ctime.0 as u32, ctime.1 as u32)
        && entry.ino == stat.inode as u32
        && entry.size == stat.size as u32
        && owner.is_none_or(|owner| owner == (entry.dev, entry.uid, entry.gid))
        && mtime < index_mtime
}

/// The result of the fast check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clean;

/// Git's index file as read at one moment: its bytes, and its stat to tell whether it
/// is still the file on disk.
pub(crate) struct IndexFile {
    bytes: Vec<u8>,
    stat: FileStat,
}

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile").field("bytes", &self.bytes.len()).field("stat", &self.stat).finish()
    }
}

impl IndexFile {
    /// Reads the index at `path`; `None` when it cannot be read.
    pub(crate) fn read(path: &Path) -> Option<Self> {
        let file = std::fs::File::open(path).ok()?;
        let stat = FileStat::from(&file.metadata().ok()?);
        let mut bytes = Vec::with_capacity(usize::try_from(stat.size).ok()?);
        std::io::Read::read_to_end(&mut &file, &mut bytes).ok()?;
        Some(Self { bytes, stat })
    }

    /// The file's stat when it was read.
    pub(crate) fn stat(&self) -> FileStat {
        self.stat
    }

    /// The index at `path` now: this one when the file is unchanged since, else read
    /// again.
    pub(crate) fn current(self, path: &Path) -> Option<Self> {
        let now = std::fs::metadata(path).ok().map(|m| FileStat::from(&m));
        if now == Some(self.stat) { Some(self) } else { Self::read(path) }
    }
}

/// `Some(Clean)` when the work tree at `top` provably matches `index` and the index
/// matches HEAD's tree `head_tree`; `None` when that cannot be shown this way (the caller
/// then asks `git status`). `seen` gives the stat the run itself took of a file (by its
/// path relative to `top`); only the others are stat'ed here.
pub(crate) fn clean_against_index(
    top: &Path,
    index: &IndexFile,
    head_tree: &str,
    seen: &dyn Fn(&str) -> Option<FileStat>,
) -> Option<Clean> {
    let index_mtime = (index.stat.mtime_ns.div_euclid(1_000_000_000), index.stat.mtime_ns.rem_euclid(1_000_000_000));
    // The files the run stat'ed are compared as the index is read; the others are kept,
    // in order, to be stat'ed below.
    let mut unseen = Vec::new();
    let root_tree = parse(&index.bytes, |entry| match seen(entry.path) {
        Some(stat) => unchanged(&entry, &stat, None, index_mtime),
        None => {
            unseen.push(entry);
            true
        }
    })?;
    if root_tree.as_deref() != Some(head_tree) {
        return None;
    }
    // Relative to the repository's top, opened once: a short walk per file instead of one
    // from the file system's root.
    let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
    let top = rustix::fs::open(top, flags, rustix::fs::Mode::empty()).ok()?;
    for entry in unseen {
        let (stat, owner) =
            from_lstat(&rustix::fs::statat(&top, entry.path, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).ok()?);
        if !unchanged(&entry, &stat, Some(owner), index_mtime) {
            return None;
        }
    }
    Some(Clean)
}

/// Runs `git args` in `dir` with a fixed identity and default branch `main`, for tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    /// A committed repository whose index was written a moment after its files (so no
    /// entry is racily clean).
    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        for (name, text) in [("a.txt", "a"), ("src/b.c", "int b;"), ("src/deep/c.h", "#define C 1")] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        std::os::unix::fs::symlink("a.txt", dir.path().join("link")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "one"]);
        dir
    }

    fn check(dir: &Path) -> Option<Clean> {
        let tree = git(dir, &["rev-parse", "HEAD^{tree}"]);
        clean_against_index(dir, &IndexFile::read(&dir.join(".git/index")).unwrap(), &tree, &|_| None)
    }

    /// The check with the stats a stat cache took of `files` (as a run's input hashing does).
    fn check_seen(dir: &Path, files: &[&str]) -> Option<Clean> {
        let cache = attest_hash::StatCache::new();
        for file in files {
            let meta = std::fs::symlink_metadata(dir.join(file)).unwrap();
            cache.file_digest(dir, &attest_hash::RelPath::new(file).unwrap(), &(&meta).into()).unwrap();
        }
        let tree = git(dir, &["rev-parse", "HEAD^{tree}"]);
        let index = IndexFile::read(&dir.join(".git/index")).unwrap();
        clean_against_index(dir, &index, &tree, &|path| cache.seen_stat(path))
    }

    #[test]
    fn the_runs_own_stats_stand_in_for_stating_again() {
        let dir = repo();
        assert_eq!(check_seen(dir.path(), &["a.txt", "src/b.c"]), Some(Clean));
        // Proof they are used: a file seen unchanged is not looked at again.
        let cache = attest_hash::StatCache::new();
        let meta = std::fs::symlink_metadata(dir.path().join("a.txt")).unwrap();
        cache.file_digest(dir.path(), &attest_hash::RelPath::new("a.txt").unwrap(), &(&meta).into()).unwrap();
        std::fs::remove_file(dir.path().join("a.txt")).unwrap();
        let tree = git(dir.path(), &["rev-parse", "HEAD^{tree}"]);
        let index = IndexFile::read(&dir.path().join(".git/index")).unwrap();
        assert_eq!(clean_against_index(dir.path(), &index, &tree, &|p| cache.seen_stat(p)), Some(Clean));
        assert_eq!(check(dir.path()), None, "stat'ed, the deletion shows");

        // A file the run saw touched (same content, new stat data) falls back to git.
        let touched = repo();
        std::fs::write(touched.path().join("src/b.c"), "int b;").unwrap();
        assert_eq!(check_seen(touched.path(), &["src/b.c"]), None);
        let chmodded = repo();
        std::fs::set_permissions(chmodded.path().join("a.txt"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(check_seen(chmodded.path(), &["a.txt"]), None);
    }

    #[test]
    fn parses_what_git_writes() {
        let dir = repo();
        let bytes = std::fs::read(dir.path().join(".git/index")).unwrap();
        let mut entries = Vec::new();
        let root_tree = parse(&bytes, |entry| {
            entries.push(entry);
            true
        })
        .unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path).collect();
        assert_eq!(paths, ["a.txt", "link", "src/b.c", "src/deep/c.h"]);
        assert_eq!(entries[1].mode, 0o120_000);
        assert_eq!(entries[2].size, 6);
        assert_eq!(root_tree.as_deref(), Some(git(dir.path(), &["rev-parse", "HEAD^{tree}"]).as_str()));
        let mut visited = 0;
        let stop_at_second = |_| {
            visited += 1;
            visited < 2
        };
        assert_eq!(parse(&bytes, stop_at_second), None, "stops where the visitor says");
        assert_eq!(visited, 2);
    }

    #[test]
    fn a_fresh_commit_is_clean_and_every_change_falls_back_to_git() {
        let dir = repo();
        assert_eq!(check(dir.path()), Some(Clean));

        // A touched file: same content, new stat data; only git can tell it is clean.
        let touched = repo();
        std::fs::write(touched.path().join("src/b.c"), "int b;").unwrap();
        assert_eq!(check(touched.path()), None);

        let edited = repo();
        std::fs::write(edited.path().join("a.txt"), "changed").unwrap();
        assert_eq!(check(edited.path()), None);

        let deleted = repo();
        std::fs::remove_file(deleted.path().join("src/deep/c.h")).unwrap();
        assert_eq!(check(deleted.path()), None);

        let chmodded = repo();
        std::fs::set_permissions(chmodded.path().join("a.txt"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(check(chmodded.path()), None);
    }

    #[test]
    fn staged_changes_and_special_entries_fall_back() {
        // A staged change: the index's tree is no longer HEAD's.
        let staged = repo();
        std::fs::write(staged.path().join("new.txt"), "new").unwrap();
        git(staged.path(), &["add", "new.txt"]);
        git(staged.path(), &["write-tree"]);
        assert_eq!(check(staged.path()), None);

        let assumed = repo();
        git(assumed.path(), &["update-index", "--assume-unchanged", "a.txt"]);
        assert_eq!(check(assumed.path()), None);

        let intent = repo();
        std::fs::write(intent.path().join("later.txt"), "x").unwrap();
        git(intent.path(), &["add", "-N", "later.txt"]);
        assert_eq!(check(intent.path()), None);

        let v4 = repo();
        git(v4.path(), &["update-index", "--index-version", "4"]);
        assert!(parse(&std::fs::read(v4.path().join(".git/index")).unwrap(), |_| true).is_none());
    }

    #[test]
    fn damaged_indexes_are_refused_not_misread() {
        let dir = repo();
        let bytes = std::fs::read(dir.path().join(".git/index")).unwrap();
        for cut in [0, 3, 12, 40, bytes.len() / 2, bytes.len() - 21] {
            assert!(parse(&bytes[..cut], |_| true).is_none(), "truncated at {cut}");
        }
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert!(parse(&wrong, |_| true).is_none());
    }

    /// An index read before the run serves when the file is unchanged, and is read again
    /// when git wrote it since.
    #[test]
    fn an_index_read_early_is_read_again_once_changed() {
        let dir = repo();
        let path = dir.path().join(".git/index");
        let early = IndexFile::read(&path).unwrap();
        let kept = early.current(&path).unwrap();
        std::fs::write(dir.path().join("a.txt"), "changed").unwrap();
        git(dir.path(), &["add", "a.txt"]);
        let again = kept.current(&path).unwrap();
        assert!(again.bytes == std::fs::read(&path).unwrap(), "the new index");
        let tree = git(dir.path(), &["rev-parse", "HEAD^{tree}"]);
        assert_eq!(clean_against_index(dir.path(), &again, &tree, &|_| None), None, "a.txt is staged");
    }
}
