//! Finding `bwrap` and `strace`, and checking once per process that bubblewrap can create
//! the sandbox's namespaces on this host.
//!
//! Programs are looked up on the PATH the caller passes (the host's, from the CLI), never
//! at fixed locations, so that a missing bubblewrap is reported the same way everywhere
//! and tests can hide it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::bwrap_argv::namespace_args;
use crate::ExecError;

/// The first executable file called `name` in the directories of `search_path`.
pub fn find_program(search_path: Option<&str>, name: &str) -> Option<PathBuf> {
    search_path?
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| Path::new(dir).join(name))
        .find(|path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Probe results by bubblewrap binary: the namespaces do not come and go during a run.
static PROBES: Mutex<Vec<(PathBuf, Result<(), String>)>> = Mutex::new(Vec::new());

/// Whether `bwrap` can create the namespaces every sandbox uses (one `true` in them, the
/// first time per binary; a few milliseconds).
pub(crate) fn check_namespaces(bwrap: &Path) -> Result<(), ExecError> {
    let mut probes = PROBES.lock().expect("probe lock is never poisoned");
    let result = match probes.iter().find(|(path, _)| path == bwrap) {
        Some((_, result)) => result.clone(),
        None => {
            let result = probe(bwrap);
            probes.push((bwrap.to_owned(), result.clone()));
            result
        }
    };
    result.map_err(|message| ExecError::NamespacesUnavailable { message })
}

fn probe(bwrap: &Path) -> Result<(), String> {
    let output = Command::new(bwrap)
        .args(namespace_args())
        .args(["--ro-bind", "/", "/", "--", "true"])
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{}` could not be started: {e}", bwrap.display()))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    Err(if said.is_empty() { format!("`{}` failed with {}", bwrap.display(), output.status) } else { said })
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_given_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("plain"), "").unwrap();
        let path = format!("relative:/nonexistent:{}", dir.path().display());
        assert_eq!(find_program(Some(&path), "tool"), Some(tool));
        assert_eq!(find_program(Some(&path), "plain"), None, "not executable");
        assert_eq!(find_program(None, "tool"), None);
    }
}
