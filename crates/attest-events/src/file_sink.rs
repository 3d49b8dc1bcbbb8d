//! The `file` handler: each event one JSON line appended to a file in the workspace.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

/// An open events file.
pub(crate) struct FileSink {
    file: File,
}

impl FileSink {
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        Ok(Self { file })
    }

    /// Appends `line` (one event's JSON and its newline) with one `write` under an
    /// exclusive lock, so lines of concurrent runs never interleave.
    pub(crate) fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        flock(&self.file, FlockOperation::LockExclusive)?;
        let written = self.file.write_all(line);
        let unlocked = flock(&self.file, FlockOperation::Unlock);
        written?;
        unlocked?;
        Ok(())
    }
}
