//! A clean verdict on git's work tree, kept with the watcher's token so that the next
//! run need not prove it again.
//!
//! Proving a large tree clean from git's index ([`crate::git_index`]) reads the whole
//! index (9 MB for 100k files) and compares every entry with a stat: about 11 ms at the
//! end of a null run over 100k files, on a path nothing else shortens. With a watcher
//! running (`attest watch`), a run that proved the tree clean keeps that verdict in
//! `.attest/state/v1/git-clean` with the watcher's token from the run's start, the
//! index file's stat and what `git rev-parse` said ([`remember`]). Every stat the proof
//! used was taken at or after that token, so when the next run finds the same HEAD, the
//! same index file, and the watcher says that no directory changed since the token,
//! the work tree is still what the index records ([`still_clean`]).
//!
//! Kept only where the watcher sees every tracked file: the workspace is the
//! repository's top and no tracked file lies under `.attest/` (which the watcher does
//! not watch). Anything else, and any doubt (another watcher, an unreadable file), means
//! the proof is made again.

use std::path::Path;

use attest_hash::{FileStat, WatchToken};

use crate::Workspace;

/// The state file, under the state directory.
const FILE: &str = "git-clean";

/// The file's first line: its format.
const HEADER: &str = "attest-git-clean 1";

/// A remembered verdict: the tree was clean at `token`, with this index and HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    token: WatchToken,
    index: FileStat,
    rev_parse: String,
}

impl Verdict {
    fn encode(&self) -> String {
        let Self { token, index, rev_parse } = self;
        format!(
            "{HEADER}\n{} {}\n{} {} {} {} {}\n{rev_parse}",
            token.instance, token.generation, index.size, index.mtime_ns, index.ctime_ns, index.inode, index.mode
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut lines = text.splitn(4, '\n');
        if lines.next()? != HEADER {
            return None;
        }
        let mut token = lines.next()?.split(' ').map(str::parse::<u64>);
        let token = WatchToken { instance: token.next()?.ok()?, generation: token.next()?.ok()? };
        let stat: Vec<&str> = lines.next()?.split(' ').collect();
        let [size, mtime_ns, ctime_ns, inode, mode] = stat.as_slice() else { return None };
        let index = FileStat {
            size: size.parse().ok()?,
            mtime_ns: mtime_ns.parse().ok()?,
            ctime_ns: ctime_ns.parse().ok()?,
            inode: inode.parse().ok()?,
            mode: mode.parse().ok()?,
        };
        Some(Self { token, index, rev_parse: lines.next()?.to_owned() })
    }

    fn load(state_dir: &Path) -> Option<Self> {
        Self::decode(&std::fs::read_to_string(state_dir.join(FILE)).ok()?)
    }
}

/// The index file's stat now.
fn index_stat(index: &Path) -> Option<FileStat> {
    std::fs::metadata(index).ok().map(|m| FileStat::from(&m))
}

/// Whether the work tree is still as clean as a kept verdict found it: same HEAD
/// (`rev_parse`), same index file, and the watcher knows of no change since.
pub(crate) fn still_clean(workspace: &Workspace, rev_parse: &str, index: &Path) -> bool {
    let Some(kept) = Verdict::load(&workspace.state_dir()) else { return false };
    if kept.rev_parse != rev_parse || Some(kept.index) != index_stat(index) {
        return false;
    }
    matches!(crate::WatchView::ask(workspace, Some(kept.token)), Ok(Some(view)) if view.changed_directories() == Some(0))
}

/// Keeps the verdict that the tree was clean, proved with stats taken at or after
/// `token`, against the index whose stat was `index` and HEAD as `rev_parse` said. Best
/// effort: without it the next run proves it again.
pub(crate) fn remember(workspace: &Workspace, token: WatchToken, index: FileStat, rev_parse: &str) {
    let verdict = Verdict { token, index, rev_parse: rev_parse.to_owned() };
    let _ = attest_hash::write_atomically(
        &workspace.state_dir().join(FILE),
        verdict.encode().as_bytes(),
        attest_hash::Durability::Atomic,
    );
}

/// Forgets any kept verdict (the tree was not proved clean).
pub(crate) fn forget(workspace: &Workspace) {
    let _ = std::fs::remove_file(workspace.state_dir().join(FILE));
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn verdict() -> Verdict {
        Verdict {
            token: WatchToken { instance: 7, generation: 42 },
            index: FileStat { size: 9, mtime_ns: -1, ctime_ns: 1_700_000_000_123_456_789, inode: 3, mode: 0o100_644 },
            rev_parse: "/repo\n.git/index\nabc\ndef\nrefs/heads/main\n".to_owned(),
        }
    }

    #[test]
    fn a_verdict_reads_back_as_written() {
        let verdict = verdict();
        assert_eq!(Verdict::decode(&verdict.encode()), Some(verdict));
    }

    #[test]
    fn a_damaged_or_foreign_file_is_no_verdict() {
        let text = verdict().encode();
        for cut in 0..text.find("/repo").unwrap() {
            assert_eq!(Verdict::decode(&text[..cut]), None, "cut at {cut}");
        }
        assert_eq!(Verdict::decode(&text.replace(HEADER, "attest-git-clean 2")), None);
        assert_eq!(Verdict::decode(&text.replace("7 42", "7 x")), None);
    }

    #[test]
    fn without_a_watcher_nothing_is_still_clean() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::new(dir.path());
        std::fs::create_dir_all(workspace.state_dir()).unwrap();
        let index = dir.path().join("index");
        std::fs::write(&index, b"DIRC").unwrap();
        let stat = index_stat(&index).unwrap();
        remember(&workspace, WatchToken { instance: 1, generation: 1 }, stat, "rev");
        assert_eq!(Verdict::load(&workspace.state_dir()).map(|v| v.index), Some(stat));
        assert!(!still_clean(&workspace, "rev", &index), "no watcher answers");
        forget(&workspace);
        assert_eq!(Verdict::load(&workspace.state_dir()), None);
    }
}
