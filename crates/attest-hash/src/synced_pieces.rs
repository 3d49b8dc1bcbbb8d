//! A file writer that makes what it has written durable piece by piece, beside the
//! writing, so that the sync at the end of a large write (a receipt of tens of megabytes)
//! waits for the last piece only.
//!
//! Starting the disk's write-back early is not enough: on the virtual disks CI machines
//! have, a sync's cost is the flush of everything written since the last one, however
//! long ago it was handed to the kernel. So a thread of the writer's own syncs each piece
//! (`fdatasync`) while the next is written; it only waits for the disk.

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// What the writer and its syncing thread share.
#[derive(Default)]
struct Progress {
    /// Bytes written, to be synced.
    written: u64,
    /// Bytes synced.
    synced: u64,
    /// The writer is done: the thread ends.
    done: bool,
    /// The first failed sync.
    error: Option<std::io::Error>,
}

/// Writes to a file and has a thread of its own sync the file's data after every
/// [`SyncedPieces::PIECE`] bytes. The caller still syncs the whole file at the end with
/// [`SyncedPieces::sync_all`], which has only the last piece and the file's metadata left
/// to do, and reports a failure of any earlier sync.
pub struct SyncedPieces {
    file: File,
    /// Bytes written so far.
    written: u64,
    /// Bytes handed to the syncing thread.
    handed: u64,
    shared: Arc<(Mutex<Progress>, Condvar)>,
    syncer: Option<JoinHandle<()>>,
}

/// The syncing thread: syncs whenever more was written than synced, until done.
fn sync_pieces(file: &File, shared: &(Mutex<Progress>, Condvar)) {
    let (lock, wake) = shared;
    let mut progress = lock.lock().expect("sync progress lock is never poisoned");
    loop {
        while !progress.done && progress.written == progress.synced {
            progress = wake.wait(progress).expect("sync progress lock is never poisoned");
        }
        if progress.done {
            return;
        }
        let target = progress.written;
        drop(progress);
        let result = file.sync_data();
        progress = lock.lock().expect("sync progress lock is never poisoned");
        match result {
            Ok(()) => progress.synced = target,
            Err(err) => {
                progress.error.get_or_insert(err);
                return;
            }
        }
    }
}

impl SyncedPieces {
    /// How much is written between two syncs: a buffer of this size in front sends the
    /// writes on in pieces of this size.
    pub const PIECE: usize = 512 << 10;

    /// A writer appending to `file` from its start (a new, empty file). Without a thread
    /// (none can be started), the data is synced at the end only.
    pub fn new(file: File) -> Self {
        let shared = Arc::new((Mutex::new(Progress::default()), Condvar::new()));
        let syncer = file.try_clone().ok().and_then(|file| {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name("sync".to_owned()).spawn(move || sync_pieces(&file, &shared)).ok()
        });
        Self { file, written: 0, handed: 0, shared, syncer }
    }

    /// Stops the syncing thread and reports its first failure.
    fn stop_syncing(&mut self) -> std::io::Result<()> {
        let (lock, wake) = &*self.shared;
        lock.lock().expect("sync progress lock is never poisoned").done = true;
        wake.notify_one();
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
        match lock.lock().expect("sync progress lock is never poisoned").error.take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Syncs the whole file (data and metadata) once everything is written; fails when
    /// this or any earlier sync failed.
    pub fn sync_all(mut self) -> std::io::Result<()> {
        self.stop_syncing()?;
        self.file.sync_all()
    }
}

impl Drop for SyncedPieces {
    fn drop(&mut self) {
        let _ = self.stop_syncing();
    }
}

impl Write for SyncedPieces {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(&buf[..buf.len().min(Self::PIECE)])?;
        self.written += n as u64;
        if self.syncer.is_some() && self.written - self.handed >= Self::PIECE as u64 {
            let (lock, wake) = &*self.shared;
            lock.lock().expect("sync progress lock is never poisoned").written = self.written;
            wake.notify_one();
            self.handed = self.written;
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
    fn writes_every_byte_in_order_and_syncs_each_piece_beside() {
        let mut file = tempfile::tempfile().expect("temp file");
        let bytes: Vec<u8> = (0..(3 * SyncedPieces::PIECE + 12_345)).map(|i| (i % 251) as u8).collect();
        let mut writer = SyncedPieces::new(file.try_clone().expect("dup"));
        writer.write_all(&bytes[..100]).expect("small write");
        assert_eq!(writer.handed, 0, "less than a piece waits for the final sync");
        writer.write_all(&bytes[100..]).expect("large write");
        writer.flush().expect("flush");
        assert_eq!(writer.written, bytes.len() as u64);
        assert!(writer.handed > 2 * SyncedPieces::PIECE as u64, "each piece was handed to the thread");
        assert!(writer.written - writer.handed < SyncedPieces::PIECE as u64, "at most one piece is left");
        let shared = Arc::clone(&writer.shared);
        writer.sync_all().expect("syncs");
        let progress = shared.0.lock().expect("lock");
        assert!(progress.done && progress.error.is_none());
        assert!(progress.synced <= progress.written, "the thread synced only what was written");
        drop(progress);
        let mut back = Vec::new();
        std::io::Seek::rewind(&mut file).expect("rewind");
        file.read_to_end(&mut back).expect("read back");
        assert!(back == bytes, "the file holds exactly what was written");
    }

    #[test]
    fn a_writer_dropped_unfinished_stops_its_thread() {
        let file = tempfile::tempfile().expect("temp file");
        let mut writer = SyncedPieces::new(file);
        writer.write_all(&vec![7; SyncedPieces::PIECE + 1]).expect("writes");
        let shared = Arc::clone(&writer.shared);
        drop(writer);
        assert!(shared.0.lock().expect("lock").done);
        assert_eq!(Arc::strong_count(&shared), 1, "the thread ended and let go");
    }
}
