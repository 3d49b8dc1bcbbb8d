//! The read-only view of the workspace that VM and runc container steps see at `/work`:
//! a directory holding only the step's declared inputs (hard links, copies across file
//! systems) and empty directories where its outputs and working directory go.

use std::path::{Path, PathBuf};

use super::input_mounts::InputMount;
use crate::ExecError;

/// Builds the read-only view of the workspace in `view`: `inputs` hard-linked (copied
/// where linking fails), directories for the `writable` output directories and the
/// working directory.
pub(crate) fn write_view(
    workspace: &Path,
    view: &Path,
    inputs: &[InputMount],
    writable: &[String],
    working_dir: &str,
) -> Result<(), ExecError> {
    let scratch = super::scratch_error;
    std::fs::create_dir_all(view).map_err(scratch(view))?;
    for input in inputs {
        let to = view.join(input.path());
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(scratch(parent))?;
        }
        match input {
            InputMount::Symlink { target, .. } => std::os::unix::fs::symlink(target, &to).map_err(scratch(&to))?,
            InputMount::Bind(path) => link_tree(&workspace.join(path), &to).map_err(scratch(&to))?,
        }
    }
    for dir in writable.iter().map(String::as_str).chain(Some(working_dir).filter(|d| !d.is_empty())) {
        let path = view.join(dir);
        std::fs::create_dir_all(&path).map_err(scratch(&path))?;
    }
    Ok(())
}

/// Hard-links the file, symlink or directory tree `from` at `to`.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
    } else if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            link_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::hard_link(from, to).or_else(|_| std::fs::copy(from, to).map(|_| ()))
    }
}

/// The view's directory in the scratch directory.
pub(crate) fn view_dir(scratch: &Path) -> PathBuf {
    scratch.join("view")
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn the_view_holds_declared_inputs_only() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ws.path().join("src/sub")).unwrap();
        std::fs::write(ws.path().join("src/a.c"), "a").unwrap();
        std::fs::write(ws.path().join("src/sub/b.c"), "b").unwrap();
        std::fs::write(ws.path().join("secret.txt"), "no").unwrap();
        let view = ws.path().join(".attest/view");
        let inputs = [
            InputMount::Bind("src".to_owned()),
            InputMount::Symlink { path: "link".to_owned(), target: "src/a.c".into() },
        ];
        write_view(ws.path(), &view, &inputs, &["out".to_owned()], "build").unwrap();
        assert_eq!(std::fs::read_to_string(view.join("src/sub/b.c")).unwrap(), "b");
        assert_eq!(std::fs::read_link(view.join("link")).unwrap(), Path::new("src/a.c"));
        assert!(view.join("out").is_dir() && view.join("build").is_dir());
        assert!(!view.join("secret.txt").exists());
    }
}
