//! What `git rev-parse` says of a repository (top, index, HEAD's commit and tree, HEAD's
//! ref), read from the repository's files when that is certain, without starting git.
//!
//! Starting `git rev-parse` costs every run about 2 ms of CPU (a process, its dynamic
//! linking, git's configuration, a commit read from the object store), beside steps
//! that want both cores. The files answer most of it: `.git/HEAD` names the ref, the
//! ref's file (or `packed-refs`) the commit. Only the commit's tree needs an object read;
//! a commit's tree never changes, so the tree git gave for the last commit is kept in
//! `.attest/state/v1/git-head` ([`learn`]) and [`read`] answers only for that commit.
//!
//! Anything unusual leaves the answer to git ([`read`] returns `None`): a `GIT_*`
//! variable that can change where git looks or what it reads ([`redirects_git`]), a `.git` that is a file (worktrees, submodules) or not owned by this user,
//! a repository found across a file system boundary or inside a bare one, a
//! configuration with extensions (other object formats, ref storage), a work tree
//! setting or includes, replace refs, a symbolic ref that points at another symbolic ref,
//! an unborn branch, a commit without a known tree.

use std::path::{Path, PathBuf};

/// `GIT_*` variables known not to change what `git rev-parse` answers: transport,
/// credentials, identities, editors and tracing.
const HARMLESS_GIT_VARIABLES: [&str; 14] = [
    "GIT_SSL_",
    "GIT_SSH",
    "GIT_ASKPASS",
    "GIT_TERMINAL_PROMPT",
    "GIT_HTTP_",
    "GIT_CURL_",
    "GIT_PROXY_",
    "GIT_AUTHOR_",
    "GIT_COMMITTER_",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_PAGER",
    "GIT_TRACE",
    "GIT_LFS_",
];

/// Whether the variable called `name` may change what git answers: every `GIT_*`
/// variable but the [`HARMLESS_GIT_VARIABLES`] (`GIT_DIR`, `GIT_INDEX_FILE`,
/// `GIT_CEILING_DIRECTORIES`, `GIT_CONFIG_*` and any this list does not know).
pub(crate) fn redirects_git(name: &[u8]) -> bool {
    name.starts_with(b"GIT_") && !HARMLESS_GIT_VARIABLES.iter().any(|prefix| name.starts_with(prefix.as_bytes()))
}

/// The state file holding the last commit and its tree.
fn tree_file(state_dir: &Path) -> PathBuf {
    state_dir.join("git-head")
}

/// A full SHA-1 object name in lowercase hex.
fn is_object_name(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The repository's `.git` directory and its work tree's top, found from `root` upwards
/// as git finds it, when nothing about it is unusual.
fn find_git_dir(root: &Path) -> Option<(PathBuf, PathBuf)> {
    use std::os::unix::fs::MetadataExt;
    let device = std::fs::metadata(root).ok()?.dev();
    let euid = rustix::process::geteuid().as_raw();
    let mut dir = root;
    loop {
        let dot_git = dir.join(".git");
        match std::fs::symlink_metadata(&dot_git) {
            Ok(meta) if meta.is_dir() && meta.uid() == euid && std::fs::metadata(dir).ok()?.uid() == euid => {
                return Some((dot_git, dir.to_path_buf()));
            }
            Ok(_) => return None,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
        // A bare repository here, or the next directory up on another file system: git
        // decides.
        if dir.join("HEAD").exists() && dir.join("objects").is_dir() {
            return None;
        }
        dir = dir.parent()?;
        if std::fs::metadata(dir).ok()?.dev() != device {
            return None;
        }
    }
}

/// The commit `reference` (such as `refs/heads/main`) names, from its file or
/// `packed-refs`.
fn resolve(git_dir: &Path, reference: &str) -> Option<String> {
    if !reference.starts_with("refs/") || reference.split('/').any(|part| part.is_empty() || part == "..") {
        return None;
    }
    match std::fs::read_to_string(git_dir.join(reference)) {
        Ok(text) => Some(text.trim_end().to_owned()).filter(|name| is_object_name(name)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let packed = std::fs::read_to_string(git_dir.join("packed-refs")).ok()?;
            packed.lines().find_map(|line| {
                let (name, listed) = line.split_once(' ')?;
                (listed == reference && is_object_name(name)).then(|| name.to_owned())
            })
        }
        Err(_) => None,
    }
}

/// `git rev-parse --show-toplevel --git-path index HEAD HEAD^{tree} --symbolic-full-name
/// HEAD` for the workspace at `root`, one answer per line, read from the repository's
/// files; `None` when git has to answer (see the module documentation). `git_variables`
/// says whether a variable that [`redirects_git`] is set for git.
pub(crate) fn read(root: &Path, state_dir: &Path, git_variables: bool) -> Option<String> {
    if git_variables {
        return None;
    }
    let (git_dir, top) = find_git_dir(root)?;
    let config = std::fs::read_to_string(git_dir.join("config")).ok()?.to_ascii_lowercase();
    if ["extensions", "worktree", "include", "bare = true"].iter().any(|word| config.contains(word))
        || git_dir.join("refs/replace").exists()
    {
        return None;
    }
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim_end();
    let (commit, reference) = match head.strip_prefix("ref: ") {
        Some(reference) => (resolve(&git_dir, reference)?, reference),
        None if is_object_name(head) => (head.to_owned(), "HEAD"),
        None => return None,
    };
    let known = std::fs::read_to_string(tree_file(state_dir)).ok()?;
    let tree = known.trim_end().strip_prefix(&commit)?.strip_prefix(' ').filter(|tree| is_object_name(tree))?;
    let (top, index) = (top.to_str()?, git_dir.join("index"));
    Some(format!("{top}\n{}\n{commit}\n{tree}\n{reference}\n", index.to_str()?))
}

/// Keeps the commit and tree of `rev_parse` (git's own answer to the question [`read`]
/// answers) for the next runs. Best effort: a state file that cannot be written only
/// means git is asked again.
pub(crate) fn learn(state_dir: &Path, rev_parse: &str) {
    let mut lines = rev_parse.lines().map(str::trim).skip(2);
    if let (Some(commit), Some(tree)) = (lines.next(), lines.next())
        && is_object_name(commit)
        && is_object_name(tree)
        && std::fs::create_dir_all(state_dir).is_ok()
    {
        let line = format!("{commit} {tree}\n");
        let _ = attest_hash::write_atomically(&tree_file(state_dir), line.as_bytes(), attest_hash::Durability::Atomic);
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;
    use crate::git_index::git;

    /// What git itself answers, run in `dir`.
    fn rev_parse(dir: &Path) -> String {
        let args = [
            "rev-parse",
            "--show-toplevel",
            "--git-path",
            "index",
            "HEAD",
            "HEAD^{tree}",
            "--symbolic-full-name",
            "HEAD",
        ];
        git(dir, &args) + "\n"
    }

    /// Git's answer with its index path made absolute (git prints it relative to `dir`
    /// when it can), as `read` gives it.
    fn expected(dir: &Path) -> String {
        let answer = rev_parse(dir);
        let mut lines: Vec<String> = answer.lines().map(str::to_owned).collect();
        lines[1] = std::fs::canonicalize(dir.join(&lines[1])).unwrap().to_str().unwrap().to_owned();
        lines.join("\n") + "\n"
    }

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "one"]);
        dir
    }

    /// `read` in `dir` (canonical, as git prints paths), with the state in `state`.
    fn read_in(dir: &Path, state: &Path) -> Option<String> {
        read(&std::fs::canonicalize(dir).unwrap(), state, false)
    }

    #[test]
    fn once_the_tree_is_learned_the_files_give_gits_answer() {
        let dir = repo();
        let state = tempfile::tempdir().unwrap();
        assert_eq!(read_in(dir.path(), state.path()), None, "the tree is not known yet");
        learn(state.path(), &rev_parse(dir.path()));
        assert_eq!(read_in(dir.path(), state.path()).unwrap(), expected(dir.path()));

        // A new commit: its tree is not known, until learned.
        std::fs::write(dir.path().join("b.txt"), "b").unwrap();
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "two"]);
        assert_eq!(read_in(dir.path(), state.path()), None);
        learn(state.path(), &rev_parse(dir.path()));
        assert_eq!(read_in(dir.path(), state.path()).unwrap(), expected(dir.path()));

        // Packed refs, a detached HEAD, a workspace in a subdirectory.
        git(dir.path(), &["pack-refs", "--all"]);
        assert!(!dir.path().join(".git/refs/heads/main").exists());
        assert_eq!(read_in(dir.path(), state.path()).unwrap(), expected(dir.path()));
        let commit = git(dir.path(), &["rev-parse", "HEAD"]);
        git(dir.path(), &["checkout", "-q", &commit]);
        assert_eq!(read_in(dir.path(), state.path()).unwrap(), expected(dir.path()));
        assert!(expected(dir.path()).ends_with("\nHEAD\n"));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let inner = read_in(&dir.path().join("sub"), state.path()).unwrap();
        assert_eq!(inner, expected(dir.path()), "the repository's top and index, as from its top");
    }

    #[test]
    fn anything_unusual_is_left_to_git() {
        let dir = repo();
        let state = tempfile::tempdir().unwrap();
        learn(state.path(), &rev_parse(dir.path()));
        assert!(read_in(dir.path(), state.path()).is_some());
        assert_eq!(read(dir.path(), state.path(), true), None, "a GIT_* variable is set");
        for name in ["GIT_DIR", "GIT_INDEX_FILE", "GIT_CEILING_DIRECTORIES", "GIT_CONFIG_COUNT", "GIT_NEW_THING"] {
            assert!(redirects_git(name.as_bytes()), "{name}");
        }
        for name in ["GIT_SSL_CAINFO", "GIT_TRACE", "GIT_AUTHOR_NAME", "GIT_SSH_COMMAND", "PATH", "MY_GIT_DIR"] {
            assert!(!redirects_git(name.as_bytes()), "{name}");
        }

        let with_config = |text: &str| {
            let config = dir.path().join(".git/config");
            let before = std::fs::read_to_string(&config).unwrap();
            std::fs::write(&config, format!("{before}{text}")).unwrap();
            let answer = read_in(dir.path(), state.path());
            std::fs::write(&config, before).unwrap();
            answer
        };
        assert_eq!(with_config("[extensions]\n\tobjectFormat = sha256\n"), None);
        assert_eq!(with_config("[core]\n\tworktree = /elsewhere\n"), None);
        assert_eq!(with_config("[include]\n\tpath = other\n"), None);
        assert!(with_config("[user]\n\tname = x\n").is_some());

        std::fs::write(dir.path().join(".git/HEAD"), "ref: refs/heads/unborn\n").unwrap();
        assert_eq!(read_in(dir.path(), state.path()), None, "an unborn branch");
        std::fs::write(dir.path().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        assert!(read_in(dir.path(), state.path()).is_some());

        std::fs::write(state.path().join("git-head"), "garbage").unwrap();
        assert_eq!(read_in(dir.path(), state.path()), None, "an unreadable state file");

        let not_a_repo = tempfile::tempdir().unwrap();
        assert_eq!(read_in(not_a_repo.path(), state.path()), None);

        // A work tree whose `.git` is a file (`git worktree add`).
        learn(state.path(), &rev_parse(dir.path()));
        let linked = tempfile::tempdir().unwrap();
        let worktree = linked.path().join("wt");
        git(dir.path(), &["worktree", "add", "-q", "--detach", worktree.to_str().unwrap()]);
        assert!(worktree.join(".git").is_file());
        assert_eq!(read_in(&worktree, state.path()), None);
    }
}
