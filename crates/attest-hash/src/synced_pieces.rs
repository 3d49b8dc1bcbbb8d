//! A file writer that starts the disk write-back of what it has written while the rest is
//! still being produced, so that the fsync at the end of a large write (a receipt of tens
//! of megabytes) waits for the last piece only, not for the whole file.

use std::fs::File;
use std::io::Write;

/// How much is written between two write-back starts.
const PIECE: usize = 4 << 20;

/// Writes to a file in pieces of at most 4 MiB and, after each, asks the kernel to start
/// writing that piece to disk (`posix_fadvise(DONTNEED)` starts write-back of dirty pages
/// without waiting for it). Data is only durable after the caller's `sync_all`.
#[derive(Debug)]
pub struct EarlyWriteback {
    file: File,
    /// Bytes written so far.
    written: u64,
    /// Where the write-back not yet started begins.
    started: u64,
}

impl EarlyWriteback {
    /// A writer appending to `file` from its start (a new, empty file).
    pub fn new(file: File) -> Self {
        Self { file, written: 0, started: 0 }
    }
}

impl EarlyWriteback {
    /// Starts the write-back of everything written and not yet on its way, whatever its
    /// size: for a pause in the writing (the rest of the file is not ready yet).
    pub fn start_writeback(&mut self) {
        if let Some(len) = std::num::NonZeroU64::new(self.written - self.started) {
            // Only a hint: a filesystem that ignores it leaves the work to the fsync.
            let _ = rustix::fs::fadvise(&self.file, self.started, Some(len), rustix::fs::Advice::DontNeed);
            self.started = self.written;
        }
    }
}

impl Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(&buf[..buf.len().min(PIECE)])?;
        self.written += n as u64;
        if self.written - self.started >= PIECE as u64 {
            self.start_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn writes_every_byte_in_order_across_pieces() {
        let mut file = tempfile::tempfile().expect("temp file");
        let bytes: Vec<u8> = (0..(3 * PIECE + 12_345)).map(|i| (i % 251) as u8).collect();
        let mut writer = EarlyWriteback::new(file.try_clone().expect("dup"));
        writer.write_all(&bytes[..100]).expect("small write");
        writer.write_all(&bytes[100..]).expect("large write");
        writer.flush().expect("flush");
        assert_eq!(writer.written, bytes.len() as u64);
        assert!(writer.started > 2 * PIECE as u64, "write-back started after each piece");
        assert!(writer.written - writer.started < PIECE as u64, "at most one piece is left to the fsync");
        writer.start_writeback();
        assert_eq!(writer.started, writer.written);
        file.sync_all().expect("sync");
        let mut back = Vec::new();
        std::io::Seek::rewind(&mut file).expect("rewind");
        file.read_to_end(&mut back).expect("read back");
        assert!(back == bytes, "the file holds exactly what was written");
    }
}
