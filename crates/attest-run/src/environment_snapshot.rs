//! The environment snapshot of a run statement: machine, attest, git state, lock files
//! and the versions of the tools steps declare. Taking it spawns `git` and `TOOL
//! --version`, so callers start it beside the run ([`environment_probe`]) and complete it
//! after the run ([`EnvironmentProbe::finish`]), when the run's own stats of the
//! workspace let git's index be checked without stat-ing every file again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::git_index::IndexFile;
use crate::{Workspace, git_clean_memo};
use attest_hash::{FileStat, WatchToken};
use attest_pipeline::Pipeline;
use attest_receipt::{EnvironmentSnapshot, GitInfo};

use crate::RunSummary;

/// Lock files whose digests the snapshot records, when present at the workspace root.
pub const LOCK_FILES: [&str; 8] = [
    "Cargo.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "uv.lock",
    "poetry.lock",
    "go.sum",
    "Gemfile.lock",
];

/// Runs `program args` in `cwd` with no input, finding it on `path_env` when given.
fn probe(program: &str, args: &[&str], cwd: &Path, path_env: Option<&str>) -> std::io::Result<Output> {
    // Found here so that std can spawn it without forking (see `program_path`).
    let mut command = Command::new(attest_exec::program_path(program, cwd, path_env));
    std::os::unix::process::CommandExt::arg0(&mut command, program);
    command.args(args).current_dir(cwd).stdin(Stdio::null());
    if let Some(path) = path_env {
        command.env("PATH", path);
    }
    command.output()
}

/// What a successful `program args` printed on stdout.
fn command_output(program: &str, args: &[&str], cwd: &Path, path_env: Option<&str>) -> Option<String> {
    let output = probe(program, args, cwd, path_env).ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What `git rev-parse` says of the repository, for [`git_info`].
fn rev_parse(root: &Path, path_env: Option<&str>) -> Option<String> {
    let args =
        ["rev-parse", "--show-toplevel", "--git-path", "index", "HEAD", "HEAD^{tree}", "--symbolic-full-name", "HEAD"];
    command_output("git", &args, root, path_env)
}

/// Commit, branch and dirtiness. A cheap `git rev-parse` (`rev_parse`, taken earlier)
/// gives commit, tree and branch. The tree is clean when the watcher vouches that it is
/// as a run with the same HEAD and index last proved it (see [`crate::git_clean_memo`]),
/// or when git's index proves it (see [`crate::git_index`]; `seen` gives the stats the
/// run itself took, by workspace path, and the proof is kept for the next run when
/// `watch_token` says a watcher answered at the run's start). Otherwise one
/// `git status --porcelain=v2 --branch` decides (one process instead of three). That
/// `git status` may refresh the stat data in git's index, as it does when a user runs
/// it, so that the next run's check is fast again after files were touched; it runs
/// after the steps, never beside them.
fn git_info(
    root: &Path,
    path_env: Option<&str>,
    rev_parse: Option<&str>,
    index: Option<IndexFile>,
    seen: &dyn Fn(&str) -> Option<FileStat>,
    watch_token: Option<WatchToken>,
) -> Option<GitInfo> {
    let workspace = Workspace::new(root);
    if let Some(out) = rev_parse {
        if let Some(path) = index_path(root, out)
            && git_clean_memo::still_clean(&workspace, out, &path)
        {
            return clean_info(out);
        }
        match (clean_from_index(root, out, index, seen), watch_token) {
            (Some((info, Some(index_stat))), Some(token)) => {
                git_clean_memo::remember(&workspace, token, index_stat, out);
                return Some(info);
            }
            (Some((info, _)), _) => {
                git_clean_memo::forget(&workspace);
                return Some(info);
            }
            (None, _) => git_clean_memo::forget(&workspace),
        }
    }
    let args = ["status", "--porcelain=v2", "--branch", "--untracked-files=no"];
    parse_git_status(&command_output("git", &args, root, path_env)?)
}

/// The index file `rev_parse` (the output of the `rev-parse` above) names, relative to
/// `root`.
fn index_path(root: &Path, rev_parse: &str) -> Option<PathBuf> {
    Some(root.join(rev_parse.lines().nth(1)?.trim()))
}

/// The [`GitInfo`] of a clean tree at the HEAD `rev_parse` (the output of the
/// `rev-parse` above) names.
fn clean_info(rev_parse: &str) -> Option<GitInfo> {
    let mut lines = rev_parse.lines().map(str::trim);
    let (commit, head) = (lines.nth(2)?, lines.nth(1)?);
    let branch = head.strip_prefix("refs/heads/").map(str::to_owned);
    Some(GitInfo { commit: commit.to_owned(), branch, dirty: false })
}

/// The clean [`GitInfo`] when `rev_parse` (the output of the `rev-parse` above) and the
/// index (as read `early`, if it is unchanged since) show that nothing changed; `None`
/// when only `git status` can tell. With it, the proved index file's stat when the
/// watcher sees every file the proof looked at (the workspace is the repository's top
/// and nothing tracked lies under `.attest/`), so that the proof may be kept.
fn clean_from_index(
    root: &Path,
    rev_parse: &str,
    early: Option<IndexFile>,
    seen: &dyn Fn(&str) -> Option<FileStat>,
) -> Option<(GitInfo, Option<FileStat>)> {
    let mut lines = rev_parse.lines().map(str::trim);
    let (top, _, _, tree) = (lines.next()?, lines.next()?, lines.next()?, lines.next()?);
    let path = index_path(root, rev_parse)?;
    let index = match early {
        Some(early) => early.current(&path)?,
        None => IndexFile::read(&path)?,
    };
    // The index names files relative to the repository's top; the run, to the workspace.
    let prefix = root.strip_prefix(top).ok().map(|p| p.to_string_lossy().into_owned());
    let unwatched = std::cell::Cell::new(prefix.as_deref() != Some(""));
    let seen_by_index_path = |path: &str| match prefix.as_deref() {
        Some("") => {
            if path.starts_with(".attest/") {
                unwatched.set(true);
            }
            seen(path)
        }
        Some(prefix) => seen(path.strip_prefix(prefix)?.strip_prefix('/')?),
        None => None,
    };
    crate::git_index::clean_against_index(Path::new(top), &index, tree, &seen_by_index_path)?;
    Some((clean_info(rev_parse)?, (!unwatched.get()).then(|| index.stat())))
}

fn parse_git_status(text: &str) -> Option<GitInfo> {
    let mut commit = None;
    let mut branch = None;
    let mut dirty = false;
    for line in text.lines() {
        if let Some(oid) = line.strip_prefix("# branch.oid ") {
            commit = Some(oid.trim().to_owned()).filter(|c| c != "(initial)");
        } else if let Some(head) = line.strip_prefix("# branch.head ") {
            branch = Some(head.trim().to_owned()).filter(|b| b != "(detached)");
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            dirty = true;
        }
    }
    Some(GitInfo { commit: commit?, branch, dirty })
}

/// The first non-empty line `TOOL --version` prints (stdout, else stderr).
fn tool_version(tool: &str, root: &Path, path_env: Option<&str>) -> String {
    match probe(tool, &["--version"], root, path_env) {
        Ok(output) => {
            let text = [&output.stdout, &output.stderr]
                .iter()
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .find_map(|text| text.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned));
            match (output.status.success(), text) {
                (true, Some(line)) => line,
                (_, line) => {
                    format!("unknown (`{tool} --version` failed{})", line.map(|l| format!(": {l}")).unwrap_or_default())
                }
            }
        }
        Err(err) => format!("unavailable ({err})"),
    }
}

/// The first half of a run's environment snapshot, taken beside the run: everything but
/// git's dirtiness, which [`EnvironmentProbe::finish`] decides after it.
#[derive(Debug)]
pub struct EnvironmentProbe {
    snapshot: EnvironmentSnapshot,
    root: PathBuf,
    host_path: Option<String>,
    rev_parse: Option<String>,
    /// Git's index, read beside the run (it is large in a large repository).
    index: Option<IndexFile>,
}

impl EnvironmentProbe {
    /// What the snapshot knows before the run has finished: everything but git's state.
    pub fn snapshot(&self) -> &EnvironmentSnapshot {
        &self.snapshot
    }

    /// The snapshot, with git's state checked against the stats `summary`'s run took of
    /// the workspace (files it did not look at are stat'ed now).
    pub fn finish(mut self, summary: &RunSummary) -> EnvironmentSnapshot {
        let seen = |path: &str| summary.seen_stat(path);
        let (path_env, rev_parse) = (self.host_path.as_deref(), self.rev_parse.as_deref());
        self.snapshot.git = git_info(&self.root, path_env, rev_parse, self.index, &seen, summary.watch_token());
        self.snapshot
    }
}

/// Starts the snapshot for a run of `steps` (indexes into the pipeline) in `root`.
/// `host_path` is the host's `PATH`, under which tools are looked up as the steps will
/// find them.
pub fn environment_probe(
    root: &Path,
    pipeline: &Pipeline,
    steps: &[usize],
    host_path: Option<&str>,
) -> EnvironmentProbe {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned());
    let lock_files = LOCK_FILES
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), attest_hash::sha256_file(&root.join(name)).ok()?.hex())))
        .collect();
    let mut tools = BTreeMap::new();
    for &index in steps {
        for tool in &pipeline.steps[index].tools {
            if !tools.contains_key(tool) {
                tools.insert(tool.clone(), tool_version(tool, root, host_path));
            }
        }
    }
    let snapshot = EnvironmentSnapshot {
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        kernel,
        attest_version: env!("CARGO_PKG_VERSION").to_owned(),
        git: None,
        lock_files,
        tools,
    };
    // Read from the repository's files when certain; git is asked (and its answer kept)
    // otherwise.
    let state_dir = crate::Workspace::new(root).state_dir();
    let git_variables = std::env::vars_os().any(|(name, _)| crate::git_head::redirects_git(name.as_encoded_bytes()));
    let rev_parse = crate::git_head::read(root, &state_dir, git_variables).or_else(|| {
        let answer = rev_parse(root, host_path)?;
        crate::git_head::learn(&state_dir, &answer);
        Some(answer)
    });
    // Not needed when the watcher vouches for the last proof that the tree is clean (asked
    // again when the run is over).
    let index = rev_parse.as_deref().and_then(|out| {
        let path = index_path(root, out)?;
        if git_clean_memo::still_clean(&Workspace::new(root), out, &path) { None } else { IndexFile::read(&path) }
    });
    EnvironmentProbe { snapshot, root: root.to_owned(), host_path: host_path.map(str::to_owned), rev_parse, index }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;
    use crate::git_index::git;

    /// `git_info` as a run without stats of its own gets it.
    fn git_now(root: &Path) -> Option<GitInfo> {
        git_info(root, None, rev_parse(root, None).as_deref(), None, &|_| None, None)
    }

    #[test]
    fn git_status_v2_gives_commit_branch_and_dirtiness() {
        let clean = "# branch.oid 0123456789abcdef0123456789abcdef01234567\n# branch.head main\n";
        let info = parse_git_status(clean).unwrap();
        assert_eq!(info.commit, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(info.branch.as_deref(), Some("main"));
        assert!(!info.dirty);
        let dirty = "# branch.oid 0123456789abcdef0123456789abcdef01234567\n# branch.head (detached)\n1 .M N... 100644 100644 100644 a b src/x.c\n";
        let info = parse_git_status(dirty).unwrap();
        assert_eq!(info.branch, None);
        assert!(info.dirty);
        assert!(parse_git_status("# branch.oid (initial)\n# branch.head main\n").is_none());
    }

    /// The fast path (git's index) and `git status` agree on every state of a real
    /// repository, from the workspace root and from a subdirectory of the repository.
    #[test]
    fn git_info_matches_git_status_in_every_state() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(git_now(root), None, "not a repository");
        git(root, &["init", "-q"]);
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        assert_eq!(git_now(root), None, "no commit yet");
        std::thread::sleep(std::time::Duration::from_millis(20));
        git(root, &["add", "."]);
        git(root, &["commit", "-q", "-m", "one"]);
        let commit = git(root, &["rev-parse", "HEAD"]);
        let expect = |dirty, branch: Option<&str>| {
            Some(GitInfo { commit: commit.clone(), branch: branch.map(str::to_owned), dirty })
        };
        assert_eq!(git_now(root), expect(false, Some("main")));
        assert_eq!(git_now(&root.join("sub")), expect(false, Some("main")));
        // Same content, new mtime: the index cannot prove it, git status compares contents.
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        assert_eq!(git_now(root), expect(false, Some("main")));
        std::fs::write(root.join("sub/a.txt"), "b").unwrap();
        assert_eq!(git_now(root), expect(true, Some("main")));
        git(root, &["checkout", "-q", "sub/a.txt"]);
        git(root, &["checkout", "-q", "--detach"]);
        assert_eq!(git_now(root), expect(false, None));
        std::fs::write(root.join("new.txt"), "untracked files do not count").unwrap();
        assert_eq!(git_now(root), expect(false, None));
        git(root, &["add", "new.txt"]);
        assert_eq!(git_now(root), expect(true, None));
    }
}
