//! Which read-only mounts show a step its declared inputs, and nothing else.
//!
//! One bind mount per file costs a mount each (and bubblewrap's command line grows with
//! it), so a directory whose every entry on disk is declared is bound whole: a step with
//! `inputs: [src/]` or the default "whole workspace" input costs a mount per complete
//! directory, not per file. A directory holding anything undeclared (an ignored file, an
//! output) is never bound whole; its declared entries are bound one by one. The check
//! reads the directories just before the command starts: a file created in a complete
//! directory after that moment is visible to the step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::Path;

/// One read-only mount of a workspace path at the same relative path inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InputMount {
    /// A file or directory, bound read-only.
    Bind(String),
    /// A symlink, recreated with the same target text (which is what its digest covers).
    Symlink {
        /// Workspace-relative path.
        path: String,
        /// The link's target, as written.
        target: OsString,
    },
}

impl InputMount {
    /// The workspace-relative path it shows.
    pub(crate) fn path(&self) -> &str {
        match self {
            InputMount::Bind(path) | InputMount::Symlink { path, .. } => path,
        }
    }
}

/// Whether `path` is `other` or lies below it (both workspace-relative, `/`-separated).
pub(crate) fn is_within(path: &str, other: &str) -> bool {
    other.is_empty() || path == other || path.strip_prefix(other).is_some_and(|rest| rest.starts_with('/'))
}

/// The parent directories of `path`, nearest first (`a/b/c` -> `a/b`, `a`).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices().rev().filter(|(_, c)| *c == '/').map(move |(i, _)| &path[..i])
}

/// The mounts for `visible` (workspace-relative files, symlinks or directories) in
/// `workspace`. Paths inside a declared output are left out (the output's own copy is
/// writable in the sandbox), and so are paths missing on disk.
pub(crate) fn input_mounts(workspace: &Path, visible: &[String], outputs: &[String]) -> Vec<InputMount> {
    let mut declared: BTreeMap<&str, Option<OsString>> = BTreeMap::new();
    // Directories decided to be bound whole (declared directories are, by definition).
    let mut complete: HashMap<&str, bool> = HashMap::new();
    for path in visible {
        if path.is_empty() || outputs.iter().any(|o| is_within(path, o)) {
            continue;
        }
        match std::fs::symlink_metadata(workspace.join(path)) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(workspace.join(path)).map(|t| t.into_os_string()).ok();
                declared.insert(path, Some(target.unwrap_or_default()));
            }
            Ok(meta) if meta.is_dir() && !outputs.iter().any(|o| is_within(o, path)) => {
                complete.insert(path, true);
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                declared.insert(path, None);
            }
            Err(_) => {}
        }
    }
    // Deepest directories first, so that a directory's subdirectories are decided before it.
    let mut candidates: Vec<&str> = declared
        .keys()
        .chain(complete.keys())
        .flat_map(|p| ancestors(p))
        .filter(|d| !complete.contains_key(d))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    candidates.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for dir in candidates {
        let holds_output = outputs.iter().any(|o| is_within(o, dir));
        let whole = !holds_output && every_entry_declared(workspace, dir, &declared, &complete);
        complete.insert(dir, whole);
    }
    let covered = |path: &str| ancestors(path).any(|d| complete.get(d) == Some(&true));
    let mut mounts: Vec<InputMount> = complete
        .iter()
        .filter(|(dir, whole)| **whole && !covered(dir))
        .map(|(dir, _)| InputMount::Bind((*dir).to_owned()))
        .collect();
    for (path, link) in &declared {
        if covered(path) {
            continue;
        }
        mounts.push(match link {
            Some(target) => InputMount::Symlink { path: (*path).to_owned(), target: target.clone() },
            None => InputMount::Bind((*path).to_owned()),
        });
    }
    mounts.sort_by(|a, b| a.path().cmp(b.path()));
    mounts
}

fn every_entry_declared(
    workspace: &Path,
    dir: &str,
    declared: &BTreeMap<&str, Option<OsString>>,
    complete: &HashMap<&str, bool>,
) -> bool {
    let Ok(entries) = std::fs::read_dir(workspace.join(dir)) else { return false };
    for entry in entries {
        let Ok(entry) = entry else { return false };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { return false };
        let path = format!("{dir}/{name}");
        if !declared.contains_key(path.as_str()) && complete.get(path.as_str()) != Some(&true) {
            return false;
        }
    }
    true
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn workspace(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        dir
    }

    fn paths(mounts: &[InputMount]) -> Vec<&str> {
        mounts.iter().map(InputMount::path).collect()
    }

    fn strings(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn complete_directories_are_bound_whole_and_partial_ones_file_by_file() {
        let ws = workspace(&["src/a.c", "src/lib/b.c", "docs/x.md", "docs/secret.md", "top.txt"]);
        let visible = strings(&["src/a.c", "src/lib/b.c", "docs/x.md", "top.txt", "missing.txt"]);
        let mounts = input_mounts(ws.path(), &visible, &[]);
        assert_eq!(paths(&mounts), ["docs/x.md", "src", "top.txt"]);
    }

    #[test]
    fn a_directory_holding_an_output_is_never_bound_whole() {
        let ws = workspace(&["build/config.h", "build/main.o"]);
        let visible = strings(&["build/config.h", "build/main.o"]);
        let mounts = input_mounts(ws.path(), &visible, &strings(&["build/main.o"]));
        assert_eq!(paths(&mounts), ["build/config.h"], "the output itself is left to the writable stage");
    }

    #[test]
    fn a_declared_directory_covers_its_files() {
        let ws = workspace(&["gen/a", "gen/b", "other/c", "other/d"]);
        let mounts = input_mounts(ws.path(), &strings(&["gen", "gen/a", "other", "other/c"]), &[]);
        assert_eq!(paths(&mounts), ["gen", "other"]);
    }

    #[test]
    fn symlinks_are_recreated_with_their_target_text() {
        let ws = workspace(&["a.txt", "other.txt"]);
        std::os::unix::fs::symlink("a.txt", ws.path().join("link")).unwrap();
        let mounts = input_mounts(ws.path(), &strings(&["link"]), &[]);
        assert_eq!(mounts, [InputMount::Symlink { path: "link".to_owned(), target: "a.txt".into() }]);
    }

    #[test]
    fn within_means_equal_or_below() {
        assert!(is_within("a/b", "a") && is_within("a", "a") && is_within("a", ""));
        assert!(!is_within("ab", "a") && !is_within("a", "a/b"));
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a/b", "a"]);
    }
}
