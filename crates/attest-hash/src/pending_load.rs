//! [`PendingLoad`]: a file of workspace state read on a thread of its own, started as soon
//! as the workspace is known, so that reading and decoding it overlaps the rest of a run's
//! start (the pipeline's load, the history's open) instead of following it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A load of the file at a path, running on its own thread. Cloning shares the one load;
/// the first [`PendingLoad::wait`] gets its result, later ones load again.
pub struct PendingLoad<T> {
    path: PathBuf,
    load: fn(&Path) -> T,
    running: Arc<Mutex<Option<JoinHandle<T>>>>,
}

impl<T> Clone for PendingLoad<T> {
    fn clone(&self) -> Self {
        Self { path: self.path.clone(), load: self.load, running: Arc::clone(&self.running) }
    }
}

impl<T> std::fmt::Debug for PendingLoad<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLoad").field("path", &self.path).finish_non_exhaustive()
    }
}

impl<T: Send + 'static> PendingLoad<T> {
    /// Starts `load(path)` on a thread called `thread`.
    pub fn start(thread: &str, path: &Path, load: fn(&Path) -> T) -> Self {
        let owned = path.to_owned();
        let running = std::thread::Builder::new().name(thread.to_owned()).spawn(move || load(&owned)).ok();
        Self { path: path.to_owned(), load, running: Arc::new(Mutex::new(running)) }
    }

    /// The early load's result; a load now when someone took it already (or the thread
    /// could not start or died).
    pub fn wait(&self) -> T {
        let early = self.running.lock().expect("pending load lock is never poisoned").take();
        match early.map(JoinHandle::join) {
            Some(Ok(loaded)) => loaded,
            _ => (self.load)(&self.path),
        }
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn read(path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    #[test]
    fn the_first_wait_gets_the_early_load_and_later_ones_load_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        std::fs::write(&path, "early").unwrap();
        let pending = PendingLoad::start("test-load", &path, read);
        let shared = pending.clone();
        assert_eq!(pending.wait().as_deref(), Some("early"));
        std::fs::write(&path, "later").unwrap();
        assert_eq!(shared.wait().as_deref(), Some("later"), "the early result was taken");
    }
}
