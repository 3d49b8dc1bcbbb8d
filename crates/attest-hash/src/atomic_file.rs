//! Whole-file writes that are atomic: a temporary file in the same directory, renamed over
//! the destination, so a reader (or a run killed half-way) sees the old file or the new
//! one, never a torn one.

use std::io::Write;
use std::path::Path;

/// Whether the data must be on disk before the rename (survives a power loss), or only
/// atomic (survives a crash of the process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before renaming it.
    Synced,
    /// Rename without fsync: for state that is cheap to rebuild.
    Atomic,
}

/// Writes `bytes` to `path` atomically, creating its directory when missing.
pub fn write_atomically(path: &Path, bytes: &[u8], durability: Durability) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // The directory almost always exists: create it only when the temp file cannot be.
    let mut temp = match tempfile::NamedTempFile::new_in(dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            fs_err::create_dir_all(dir)?;
            tempfile::NamedTempFile::new_in(dir)?
        }
        other => other?,
    };
    temp.write_all(bytes)?;
    if durability == Durability::Synced {
        temp.as_file().sync_all()?;
    }
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/state.json");
        write_atomically(&path, b"one", Durability::Atomic).expect("first write");
        write_atomically(&path, b"two", Durability::Synced).expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub")).expect("list").collect();
        assert_eq!(names.len(), 1);
    }
}
