//! Finding a command's file the way `execvp` would, before spawning it.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The file `program` names: itself when it holds a `/`, else the first executable file
/// of that name in the directories of `path` (the child's `PATH`; relative entries are
/// below `cwd`), searched as `execvp` searches them. Given the absolute path (and the
/// name kept as `argv[0]`), std spawns the child with `posix_spawn`, a vfork, instead of
/// forking a copy of attest's address space first, which it must do to search a `PATH`
/// that differs from attest's own. When nothing is found, `program` comes back as it was
/// and the spawn reports it missing.
pub fn program_path(program: impl AsRef<OsStr>, cwd: &Path, path: Option<&str>) -> PathBuf {
    let program = program.as_ref();
    if program.is_empty() || program.as_encoded_bytes().contains(&b'/') {
        return program.into();
    }
    let Some(path) = path else { return program.into() };
    path.split(':')
        .map(|dir| cwd.join(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| program.into())
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn file(path: &Path, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_first_executable_file_on_the_path_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        file(&root.join("a/tool"), 0o644);
        std::fs::create_dir_all(root.join("b/tool")).unwrap();
        file(&root.join("c/tool"), 0o755);
        file(&root.join("d/tool"), 0o755);
        let path = format!(
            "{}:{}:{}:{}",
            root.join("a").display(),
            root.join("b").display(),
            root.join("c").display(),
            root.join("d").display()
        );
        assert_eq!(
            program_path("tool", Path::new("/"), Some(&path)),
            root.join("c/tool"),
            "not readable-only, not a directory"
        );
        assert_eq!(program_path("nothing", Path::new("/"), Some(&path)), PathBuf::from("nothing"));
        assert_eq!(program_path("tool", Path::new("/"), None), PathBuf::from("tool"));
    }

    #[test]
    fn names_with_a_slash_are_kept_and_relative_entries_are_below_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        file(&dir.path().join("bin/tool"), 0o755);
        file(&dir.path().join("tool"), 0o755);
        assert_eq!(program_path("./tool", dir.path(), Some("bin")), PathBuf::from("./tool"));
        assert_eq!(program_path("tool", dir.path(), Some("bin")), dir.path().join("bin/tool"));
        assert_eq!(
            program_path("tool", dir.path(), Some(":bin")),
            dir.path().join("./tool"),
            "an empty entry is the working directory"
        );
    }
}
