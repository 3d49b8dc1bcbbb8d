//! Where a sandboxed step writes: its declared outputs, staged in the scratch directory.
//!
//! A declared output that does not exist yet may become a file or a directory, and tools
//! replace outputs by renaming or unlinking them, which a bind mount of the output itself
//! would refuse (`EBUSY`). So the *parent* directories of the outputs are mounted
//! writable, from `scratch/work/` rather than from the workspace (where they would show
//! undeclared siblings). Existing outputs are moved there first (incremental tools keep
//! state in them), and back afterwards; both are renames, so the scratch directory must be
//! on the workspace's filesystem (it is under `.attest/`). Anything else the step leaves in
//! those directories is an undeclared write: it is reported and discarded, never reaching
//! the workspace.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::input_mounts::is_within;
use crate::ExecError;

/// The outputs of one sandboxed execution, between the workspace and the scratch directory.
#[derive(Debug)]
pub(crate) struct OutputStage {
    workspace: PathBuf,
    /// `scratch/work/`: mirrors the workspace's layout.
    work: PathBuf,
    outputs: Vec<String>,
}

/// The parent of a workspace-relative path (`""` for the root).
fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// The parents of `outputs`, without those inside another one (mounting `a` makes `a/b`
/// writable too), sorted.
pub(crate) fn writable_dirs(outputs: &[String]) -> Vec<String> {
    let mut dirs: Vec<&str> = outputs.iter().map(|o| parent(o)).collect();
    dirs.sort_unstable();
    dirs.dedup();
    let kept: Vec<String> = dirs
        .iter()
        .filter(|d| !dirs.iter().any(|other| other != *d && is_within(d, other)))
        .map(|d| (*d).to_owned())
        .collect();
    kept
}

impl OutputStage {
    pub(crate) fn new(workspace: &Path, scratch: &Path, outputs: &[String]) -> Self {
        Self { workspace: workspace.to_owned(), work: scratch.join("work"), outputs: outputs.to_vec() }
    }

    /// Creates the writable directories and moves existing outputs into them. On failure,
    /// what was moved is moved back.
    pub(crate) fn stage_in(&self) -> Result<(), ExecError> {
        for output in &self.outputs {
            let dir = self.work.join(parent(output));
            std::fs::create_dir_all(&dir).map_err(|source| ExecError::Scratch { path: dir, source })?;
        }
        for (i, output) in self.outputs.iter().enumerate() {
            let from = self.workspace.join(output);
            if std::fs::symlink_metadata(&from).is_err() {
                continue;
            }
            if let Err(source) = std::fs::rename(&from, self.work.join(output)) {
                for earlier in &self.outputs[..i] {
                    let _ = std::fs::rename(self.work.join(earlier), self.workspace.join(earlier));
                }
                return Err(ExecError::MoveOutput { output: output.clone(), direction: "into", source });
            }
        }
        Ok(())
    }

    /// Moves every output the step left back into the workspace; an output it did not
    /// produce stays absent there. Tries every output before reporting the first failure.
    pub(crate) fn stage_out(&self) -> Result<(), ExecError> {
        let mut first_error = None;
        for output in &self.outputs {
            let from = self.work.join(output);
            if std::fs::symlink_metadata(&from).is_err() {
                continue;
            }
            let to = self.workspace.join(output);
            let moved = (|| {
                if let Some(dir) = to.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                match std::fs::symlink_metadata(&to) {
                    Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&to)?,
                    Ok(_) => std::fs::remove_file(&to)?,
                    Err(_) => {}
                }
                std::fs::rename(&from, &to)
            })();
            if let Err(source) = moved {
                first_error.get_or_insert(ExecError::MoveOutput {
                    output: output.clone(),
                    direction: "out of",
                    source,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// What the step created in the writable directories besides its outputs, sorted.
    /// `expected` holds the other paths that belong there: mount points of inputs (and
    /// their parents) and the working directory (and its parents).
    pub(crate) fn undeclared_writes(&self, expected: &HashSet<String>) -> Vec<String> {
        let mut keep: HashSet<&str> = expected.iter().map(String::as_str).collect();
        let outputs: HashSet<&str> = self.outputs.iter().map(String::as_str).collect();
        for path in self.outputs.iter().chain(expected) {
            let mut rest = path.as_str();
            while let Some(i) = rest.rfind('/') {
                rest = &rest[..i];
                keep.insert(rest);
            }
        }
        let mut found = Vec::new();
        walk(&self.work, "", &outputs, &keep, &mut found);
        found.sort();
        found
    }
}

fn walk(dir: &Path, prefix: &str, outputs: &HashSet<&str>, keep: &HashSet<&str>, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        if outputs.contains(path.as_str()) {
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if keep.contains(path.as_str()) {
            if is_dir {
                walk(&entry.path(), &path, outputs, keep, found);
            }
            continue;
        }
        found.push(path);
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn strings(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn writable_dirs_are_the_outermost_parents() {
        assert_eq!(writable_dirs(&strings(&["build/a.o", "build/sub/b.o", "dist/app"])), ["build", "dist"]);
        assert_eq!(writable_dirs(&strings(&["out", "build/x"])), [""]);
        assert!(writable_dirs(&[]).is_empty());
    }

    #[test]
    fn outputs_move_in_and_out_and_strays_are_reported() {
        let ws = tempfile::tempdir().unwrap();
        let scratch = ws.path().join(".attest/sandbox/0");
        std::fs::create_dir_all(ws.path().join("build")).unwrap();
        std::fs::write(ws.path().join("build/old.o"), "old").unwrap();
        let stage = OutputStage::new(ws.path(), &scratch, &strings(&["build/old.o", "build/new.o", "build/never.o"]));
        stage.stage_in().unwrap();
        assert!(!ws.path().join("build/old.o").exists(), "moved into the stage");
        assert_eq!(std::fs::read_to_string(scratch.join("work/build/old.o")).unwrap(), "old");
        // The step: updates one output, creates another, leaves a stray and an input stub.
        std::fs::write(scratch.join("work/build/new.o"), "new").unwrap();
        std::fs::write(scratch.join("work/build/stray.tmp"), "x").unwrap();
        std::fs::write(scratch.join("work/build/config.h"), "").unwrap();
        let expected: HashSet<String> = ["build/config.h".to_owned()].into();
        assert_eq!(stage.undeclared_writes(&expected), ["build/stray.tmp"]);
        stage.stage_out().unwrap();
        assert_eq!(std::fs::read_to_string(ws.path().join("build/old.o")).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(ws.path().join("build/new.o")).unwrap(), "new");
        assert!(!ws.path().join("build/never.o").exists() && !ws.path().join("build/stray.tmp").exists());
    }
}
