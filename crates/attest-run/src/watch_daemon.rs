//! `attest watch`: a file-system watcher that lets runs skip stat'ing files nothing
//! touched, as git's fsmonitor, watchman and turbo's daemon do.
//!
//! One process per workspace watches every directory of it with inotify (all but `.git`
//! and `.attest`, whatever the ignore files say, so that no directory a walk may enter is
//! unwatched) and remembers, per directory, the generation in which something in it last
//! changed. A run asks it over `.attest/watch.sock` which directories changed since the
//! token its stat cache was saved with (see [`attest_hash::WatchToken`]). So that the answer
//! covers every change made before the question, the watcher first creates a cookie file
//! in `.attest/` and answers once inotify delivers its creation: inotify delivers one
//! watcher's events in the order they happened.
//!
//! The answer is "everything" (and a run stats every file, as without a watcher) whenever
//! the watcher cannot vouch for the whole tree: a token from another watcher process or
//! from before the watcher lost events (queue overflow), a directory renamed or moved
//! (paths known by watch descriptor would be wrong), a directory it could not watch (the
//! `fs.inotify.max_user_watches` limit), a file system whose changes inotify may miss
//! (network and FUSE file systems are refused at start). Writes through a shared `mmap`
//! raise no inotify event: a tool that edits inputs that way needs runs without the
//! watcher.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::mem::MaybeUninit;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustix::fs::inotify::{self, ReadFlags, WatchFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::Workspace;

/// The cookie files' name prefix, in `.attest/`.
const COOKIE_PREFIX: &str = "watch-cookie-";
/// The watch descriptor map's name for `.attest/` (watched for cookies only).
const ATTEST_DIR: &str = ".attest";
/// How long a question waits for its cookie.
const COOKIE_TIMEOUT: Duration = Duration::from_secs(5);

/// File systems whose changes reach inotify whoever makes them (`statfs` magic numbers):
/// ext2/3/4, XFS, Btrfs, tmpfs, overlayfs, F2FS, ZFS, bcachefs.
const LOCAL_FILE_SYSTEMS: [i64; 8] =
    [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994, 0x794C_7630, 0xF2F5_2010, 0x2FC1_2FC1, 0xCA45_1A4E];

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Another watcher answers on the socket.
    #[error("a watcher is already running for this workspace (pid {pid})")]
    AlreadyRunning {
        /// Its process id.
        pid: u32,
    },
    /// The workspace is on a file system inotify cannot be trusted on.
    #[error("`{}` is on a network or FUSE file system (type {kind:#x}), whose changes inotify may not see", root.display())]
    UnsupportedFileSystem {
        /// The workspace root.
        root: PathBuf,
        /// The `statfs` type.
        kind: i64,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What the watcher was doing.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> WatchError {
    let what = what.into();
    move |source| WatchError::Io { what, source }
}

/// A question to the watcher (one JSON line).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Request {
    /// Which directories changed since `since` (a token saved earlier, if any)?
    Sync {
        /// The stat cache's token.
        since: Option<Token>,
    },
    /// How is the watcher doing?
    Status,
    /// Stop watching and exit.
    Stop,
}

/// [`attest_hash::WatchToken`] on the wire (numbers as strings: JSON readers lose the low
/// bits of large integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Token {
    /// The watcher process's id.
    #[serde(with = "as_text")]
    pub(crate) instance: u64,
    /// Its generation.
    #[serde(with = "as_text")]
    pub(crate) generation: u64,
}

mod as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The answer to [`Request::Sync`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SyncAnswer {
    /// Now: every change before it is in `changed`.
    pub(crate) token: Token,
    /// The directories (workspace paths, `""` for the root) in which something changed
    /// since the token asked about; `None`: anything may have changed.
    pub(crate) changed: Option<Vec<String>>,
}

/// The answer to [`Request::Status`] (`attest watch --status`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchStatus {
    /// The watcher's process id.
    pub pid: u32,
    /// The workspace root it watches.
    pub root: String,
    /// Directories watched.
    pub directories: usize,
    /// Its current generation (questions answered so far, plus one).
    pub generation: u64,
    /// Why it cannot vouch for anything right now, if it cannot.
    pub incomplete: Option<String>,
}

/// What the watcher knows.
struct State {
    generation: u64,
    /// A token below this knows too little (events were lost or paths moved since).
    floor: u64,
    /// Directory (workspace path) to the generation of its last change.
    marks: HashMap<String, u64>,
    /// Watch descriptor to directory.
    watches: HashMap<i32, String>,
    /// Cookies seen, by file name.
    cookies: HashSet<String>,
    /// Why the watcher cannot vouch for the tree (a directory it failed to watch).
    incomplete: Option<String>,
    /// The root itself is gone.
    root_gone: bool,
}

/// The watcher of one workspace.
pub struct Watcher {
    root: PathBuf,
    attest_dir: PathBuf,
    inotify: rustix::fd::OwnedFd,
    instance: u64,
    state: Mutex<State>,
    cookie_seen: Condvar,
}

/// Watched for in every directory.
fn watch_flags() -> WatchFlags {
    WatchFlags::MODIFY
        | WatchFlags::ATTRIB
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVE_SELF
        | WatchFlags::DONT_FOLLOW
        | WatchFlags::ONLYDIR
        | WatchFlags::EXCL_UNLINK
}

fn child(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// A never-zero id, unique per process: the root, the process id and the time, hashed.
fn new_instance(root: &Path) -> u64 {
    let mut bytes = root.as_os_str().as_encoded_bytes().to_vec();
    bytes.extend_from_slice(&std::process::id().to_le_bytes());
    bytes.extend_from_slice(&now_nanos().to_le_bytes());
    let digest = attest_hash::Digest::of_bytes(&bytes);
    let mut first = [0; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    u64::from_le_bytes(first).max(1)
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

impl Watcher {
    /// Starts watching the workspace at `root`: every directory is watched before this
    /// returns, and events are read on a thread of their own from then on.
    pub fn start(root: &Path) -> Result<Arc<Self>, WatchError> {
        let root = root.to_owned();
        let kind =
            rustix::fs::statfs(&root).map_err(|e| io_error("failed to inspect the file system")(e.into()))?.f_type;
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)] // the field's type differs by architecture
        let kind = i64::from(kind as i64);
        if !LOCAL_FILE_SYSTEMS.contains(&kind) {
            return Err(WatchError::UnsupportedFileSystem { root, kind });
        }
        let inotify =
            inotify::init(inotify::CreateFlags::CLOEXEC).map_err(|e| io_error("failed to start inotify")(e.into()))?;
        let attest_dir = Workspace::new(&root).attest_dir();
        fs_err::create_dir_all(&attest_dir).map_err(io_error("failed to create .attest"))?;
        let state = State {
            generation: 1,
            floor: 1,
            marks: HashMap::new(),
            watches: HashMap::new(),
            cookies: HashSet::new(),
            incomplete: None,
            root_gone: false,
        };
        let watcher = Arc::new(Self {
            instance: new_instance(&root),
            root,
            attest_dir,
            inotify,
            state: Mutex::new(state),
            cookie_seen: Condvar::new(),
        });
        {
            let mut state = watcher.lock();
            watcher.watch_attest_dir(&mut state)?;
            watcher.watch_tree(&mut state, "", None);
        }
        let reader = Arc::clone(&watcher);
        std::thread::Builder::new()
            .name("inotify".to_owned())
            .spawn(move || reader.read_events())
            .map_err(io_error("failed to start the event reader"))?;
        Ok(watcher)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("watcher lock is never poisoned")
    }

    fn watch_attest_dir(&self, state: &mut State) -> Result<(), WatchError> {
        let wd = inotify::add_watch(&self.inotify, &self.attest_dir, WatchFlags::CREATE | WatchFlags::ONLYDIR)
            .map_err(|e| io_error("failed to watch .attest")(e.into()))?;
        state.watches.insert(wd, ATTEST_DIR.to_owned());
        Ok(())
    }

    /// Watches `start` (a workspace path, `""` for the root) and every directory below
    /// it, marking each with `mark` when given.
    fn watch_tree(&self, state: &mut State, start: &str, mark: Option<u64>) {
        let mut pending = vec![start.to_owned()];
        while let Some(rel) = pending.pop() {
            let path = if rel.is_empty() { self.root.clone() } else { self.root.join(&rel) };
            match inotify::add_watch(&self.inotify, &path, watch_flags()) {
                Ok(wd) => {
                    state.watches.insert(wd, rel.clone());
                }
                // Gone, or no longer a directory, since it was listed: its parent's event
                // says so.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(errno) => {
                    let why = if errno == Errno::NOSPC {
                        "the inotify watch limit is reached (raise fs.inotify.max_user_watches)".to_owned()
                    } else {
                        format!("failed to watch `{}`: {errno}", path.display())
                    };
                    state.incomplete.get_or_insert(why);
                    continue;
                }
            }
            if let Some(generation) = mark {
                state.marks.insert(rel.clone(), generation);
            }
            let Ok(entries) = std::fs::read_dir(&path) else { continue };
            for entry in entries.flatten() {
                let Ok(name) = entry.file_name().into_string() else { continue };
                let rel = child(&rel, &name);
                if entry.file_type().is_ok_and(|t| t.is_dir()) && !attest_hash::WorkspaceFilter::always_ignored(&rel) {
                    pending.push(rel);
                }
            }
        }
    }

    /// Forgets every path: tokens from before now get "everything", and the tree is
    /// watched again from the root (a renamed directory keeps its watch descriptor under
    /// its new path).
    fn start_over(&self, state: &mut State) {
        state.floor = state.generation;
        let old: HashMap<i32, String> = std::mem::take(&mut state.watches);
        state.marks.clear();
        if self.watch_attest_dir(state).is_err() {
            state.incomplete.get_or_insert_with(|| "failed to watch .attest".to_owned());
        }
        self.watch_tree(state, "", None);
        for wd in old.keys().filter(|wd| !state.watches.contains_key(wd)) {
            let _ = inotify::remove_watch(&self.inotify, *wd);
        }
    }

    /// The event reader's loop (its own thread, for the life of the process).
    fn read_events(&self) {
        let mut buffer = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
        let mut reader = inotify::Reader::new(&self.inotify, &mut buffer);
        loop {
            let event = match reader.next() {
                Ok(event) => event,
                Err(Errno::INTR) => continue,
                Err(_) => {
                    self.lock().incomplete.get_or_insert_with(|| "reading inotify events failed".to_owned());
                    return;
                }
            };
            let (wd, flags) = (event.wd(), event.events());
            let name = event.file_name().and_then(|n| n.to_str().ok()).map(str::to_owned);
            let mut state = self.lock();
            self.handle(&mut state, wd, flags, name.as_deref());
            drop(state);
            if reader.is_buffer_empty() {
                self.cookie_seen.notify_all();
            }
        }
    }

    fn handle(&self, state: &mut State, wd: i32, flags: ReadFlags, name: Option<&str>) {
        if flags.contains(ReadFlags::QUEUE_OVERFLOW) || flags.contains(ReadFlags::UNMOUNT) {
            self.start_over(state);
            return;
        }
        let Some(dir) = state.watches.get(&wd).cloned() else { return };
        if dir == ATTEST_DIR {
            // `.attest` deleted (`attest cache clean` leaves it; `rm -rf .attest` does not):
            // the socket went with it, so no run can ask any more.
            if flags.contains(ReadFlags::IGNORED) {
                state.root_gone = true;
            }
            if let Some(name) = name.filter(|n| n.starts_with(COOKIE_PREFIX)) {
                state.cookies.insert(name.to_owned());
            }
            return;
        }
        if flags.contains(ReadFlags::IGNORED) {
            state.watches.remove(&wd);
            return;
        }
        let generation = state.generation;
        state.marks.insert(dir.clone(), generation);
        if flags.contains(ReadFlags::MOVE_SELF) {
            self.start_over(state);
            return;
        }
        if flags.contains(ReadFlags::DELETE_SELF) && dir.is_empty() {
            state.root_gone = true;
            return;
        }
        let Some(name) = name else { return };
        if !flags.contains(ReadFlags::ISDIR) {
            return;
        }
        let sub = child(&dir, name);
        if sub == ATTEST_DIR && flags.intersects(ReadFlags::DELETE | ReadFlags::MOVED_FROM) {
            // `.attest` gone (the directory's own removal event waits while a file in it
            // is open, as this watcher's log may be), and the socket with it.
            state.root_gone = true;
            return;
        }
        if attest_hash::WorkspaceFilter::always_ignored(&sub) {
            return;
        }
        if flags.contains(ReadFlags::MOVED_FROM) {
            self.start_over(state);
        } else if flags.intersects(ReadFlags::CREATE | ReadFlags::MOVED_TO) {
            // Files made in it before its watch was added raised no event: the whole new
            // tree counts as changed.
            self.watch_tree(state, &sub, Some(generation));
        } else {
            state.marks.insert(sub, generation);
        }
    }

    /// Answers [`Request::Sync`]: every change made before this call is in the answer.
    pub(crate) fn sync(&self, since: Option<Token>) -> Result<SyncAnswer, String> {
        let cookie = format!("{COOKIE_PREFIX}{}-{}", std::process::id(), now_nanos());
        let path = self.attest_dir.join(&cookie);
        std::fs::File::create_new(&path)
            .map_err(|e| format!("failed to create the cookie `{}`: {e}", path.display()))?;
        let deadline = Instant::now() + COOKIE_TIMEOUT;
        let mut state = self.lock();
        while !state.cookies.remove(&cookie) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                drop(state);
                let _ = std::fs::remove_file(&path);
                return Err("the cookie's event did not arrive in time".to_owned());
            };
            state = self.cookie_seen.wait_timeout(state, left).expect("watcher lock is never poisoned").0;
        }
        let token = Token { instance: self.instance, generation: state.generation };
        state.generation += 1;
        let knows = |since: Token| since.instance == self.instance && since.generation >= state.floor;
        let changed = match since {
            Some(since) if knows(since) && state.incomplete.is_none() && !state.root_gone => {
                Some(state.marks.iter().filter(|(_, g)| **g > since.generation).map(|(dir, _)| dir.clone()).collect())
            }
            _ => None,
        };
        drop(state);
        let _ = std::fs::remove_file(&path);
        Ok(SyncAnswer { token, changed })
    }

    /// The watcher's state for `attest watch --status`.
    pub fn status(&self) -> WatchStatus {
        let state = self.lock();
        WatchStatus {
            pid: std::process::id(),
            root: self.root.display().to_string(),
            directories: state.watches.len().saturating_sub(1),
            generation: state.generation,
            incomplete: state.incomplete.clone(),
        }
    }

    /// Serves questions on `socket` until asked to stop, until the workspace or its
    /// `.attest` is deleted, or until the socket file is no longer this watcher's (removed,
    /// or taken over by a new watcher after `.attest` was deleted and made again); the
    /// last two are looked at every second.
    pub fn serve(&self, socket: &WatchSocket) {
        let timeout = rustix::event::Timespec { tv_sec: 1, tv_nsec: 0 };
        while !self.lock().root_gone {
            let mut ready = [rustix::event::PollFd::new(&socket.listener, rustix::event::PollFlags::IN)];
            if !matches!(rustix::event::poll(&mut ready, Some(&timeout)), Ok(1..)) {
                if !socket.is_ours() {
                    return;
                }
                continue;
            }
            if let Ok((stream, _)) = socket.listener.accept()
                && self.answer(stream)
            {
                return;
            }
        }
    }

    /// Answers one connection; `true` when asked to stop.
    fn answer(&self, stream: UnixStream) -> bool {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut line = String::new();
        if BufReader::new(&stream).read_line(&mut line).is_err() {
            return false;
        }
        let (reply, stop) = match serde_json::from_str::<Request>(&line) {
            Ok(Request::Sync { since }) => match self.sync(since) {
                Ok(answer) => (serde_json::to_value(answer), false),
                Err(message) => (Ok(serde_json::json!({ "error": message })), false),
            },
            Ok(Request::Status) => (serde_json::to_value(self.status()), false),
            Ok(Request::Stop) => (Ok(serde_json::json!({ "stopped": true })), true),
            Err(err) => (Ok(serde_json::json!({ "error": format!("not a request: {err}") })), false),
        };
        if let Ok(reply) = reply {
            let _ = writeln!(&stream, "{reply}");
        }
        stop
    }
}

/// The socket runs ask the watcher on.
pub(crate) fn socket_path(workspace: &Workspace) -> PathBuf {
    workspace.attest_dir().join("watch.sock")
}

/// A watcher's socket: the listener, and the file it was bound to, which the watcher
/// removes when it leaves only while that file is still its own.
#[derive(Debug)]
pub struct WatchSocket {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket file as bound.
    node: (u64, u64),
}

impl WatchSocket {
    /// Whether the socket file is still the one this watcher bound (runs reach it).
    fn is_ours(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.node)
    }
}

impl Drop for WatchSocket {
    fn drop(&mut self) {
        if self.is_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds the watcher's socket for `workspace`: refused while another watcher answers on
/// it, taken over when it is left from a watcher that is gone.
pub fn bind(workspace: &Workspace) -> Result<WatchSocket, WatchError> {
    use std::os::unix::fs::MetadataExt;
    let path = socket_path(workspace);
    if let Ok(status) = ask::<WatchStatus>(workspace, &Request::Status) {
        return Err(WatchError::AlreadyRunning { pid: status.pid });
    }
    fs_err::create_dir_all(workspace.attest_dir()).map_err(io_error("failed to create .attest"))?;
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_error(format!("failed to remove `{}`", path.display()))(err)),
    }
    let listener = UnixListener::bind(&path).map_err(io_error(format!("failed to listen on `{}`", path.display())))?;
    let node = std::fs::symlink_metadata(&path)
        .map(|m| (m.dev(), m.ino()))
        .map_err(io_error(format!("failed to read `{}`", path.display())))?;
    Ok(WatchSocket { listener, path, node })
}

/// Asks the workspace's watcher `request`; `Err(None)` when no watcher answers.
pub(crate) fn ask<T: for<'de> Deserialize<'de>>(workspace: &Workspace, request: &Request) -> Result<T, Option<String>> {
    let path = socket_path(workspace);
    let stream = match UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(_) => return Err(None),
    };
    let failed = |e: &dyn std::fmt::Display| Some(format!("the watcher on `{}` did not answer: {e}", path.display()));
    stream.set_read_timeout(Some(COOKIE_TIMEOUT + Duration::from_secs(5))).map_err(|e| failed(&e))?;
    let request = serde_json::to_string(request).map_err(|e| failed(&e))?;
    writeln!(&stream, "{request}").map_err(|e| failed(&e))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).map_err(|e| failed(&e))?;
    let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| failed(&e))?;
    if let Some(error) = value.get("error").and_then(serde_json::Value::as_str) {
        return Err(failed(&error));
    }
    serde_json::from_value(value).map_err(|e| failed(&e))
}

/// Asks the workspace's watcher for its status; `Ok(None)` when none runs.
pub fn watch_status(workspace: &Workspace) -> Result<Option<WatchStatus>, String> {
    match ask(workspace, &Request::Status) {
        Ok(status) => Ok(Some(status)),
        Err(None) => Ok(None),
        Err(Some(message)) => Err(message),
    }
}

/// Asks the workspace's watcher to stop; `Ok(false)` when none runs.
pub fn stop_watcher(workspace: &Workspace) -> Result<bool, String> {
    match ask::<serde_json::Value>(workspace, &Request::Stop) {
        Ok(_) => Ok(true),
        Err(None) => Ok(false),
        Err(Some(message)) => Err(message),
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn changed(watcher: &Watcher, since: Token) -> (Token, Option<Vec<String>>) {
        let answer = watcher.sync(Some(since)).unwrap();
        let mut changed = answer.changed;
        if let Some(dirs) = &mut changed {
            dirs.sort();
        }
        (answer.token, changed)
    }

    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["src/deep", "docs", ".git/objects"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("src/a.c"), "a").unwrap();
        dir
    }

    #[test]
    fn every_change_before_a_question_is_in_its_answer_by_directory() {
        let dir = workspace();
        let watcher = Watcher::start(dir.path()).unwrap();
        assert_eq!(watcher.status().directories, 4, "the root, src, src/deep, docs; not .git");
        let first = watcher.sync(None).unwrap();
        assert_eq!(first.changed, None, "no token: anything may have changed");
        let (token, nothing) = changed(&watcher, first.token);
        assert_eq!(nothing, Some(vec![]), "its own cookie is no change");

        std::fs::write(dir.path().join("src/a.c"), "changed").unwrap();
        let (token, dirs) = changed(&watcher, token);
        assert_eq!(dirs, Some(vec!["src".to_owned()]));
        std::fs::set_permissions(dir.path().join("src/deep"), std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let (token, dirs) = changed(&watcher, token);
        assert_eq!(dirs, Some(vec!["src".to_owned(), "src/deep".to_owned()]), "an attribute of src/deep, in src");
        std::fs::write(dir.path().join(".git/objects/x"), "x").unwrap();
        let (token, dirs) = changed(&watcher, token);
        assert_eq!(dirs, Some(vec![]), ".git is not watched");

        // A new tree: made before its watch existed, all of it counts as changed, and
        // it is watched from then on.
        std::fs::create_dir_all(dir.path().join("new/inner")).unwrap();
        std::fs::write(dir.path().join("new/inner/f"), "f").unwrap();
        let (token, dirs) = changed(&watcher, token);
        let dirs = dirs.unwrap();
        assert!(dirs.contains(&String::new()) && dirs.contains(&"new".to_owned()), "{dirs:?}");
        std::fs::write(dir.path().join("new/inner/f"), "g").unwrap();
        let (token, dirs) = changed(&watcher, token);
        assert_eq!(dirs, Some(vec!["new/inner".to_owned()]));

        // An older token still gets everything since it.
        let (_, since_first) = changed(&watcher, first.token);
        assert!(since_first.unwrap().len() >= 5);
        // Nothing is known before this watcher started, nor from another watcher.
        let (_, foreign) = changed(&watcher, Token { instance: token.instance ^ 1, generation: token.generation });
        assert_eq!(foreign, None);
    }

    #[test]
    fn a_moved_directory_makes_every_older_token_worthless() {
        let dir = workspace();
        let watcher = Watcher::start(dir.path()).unwrap();
        let token = watcher.sync(None).unwrap().token;
        std::fs::rename(dir.path().join("src/deep"), dir.path().join("docs/deep")).unwrap();
        let (after, dirs) = changed(&watcher, token);
        assert_eq!(dirs, None);
        // Paths are known again: a change in the moved directory shows under its new path.
        std::fs::write(dir.path().join("docs/deep/g"), "g").unwrap();
        let (_, dirs) = changed(&watcher, after);
        assert_eq!(dirs, Some(vec!["docs/deep".to_owned()]));
    }

    #[test]
    fn the_socket_answers_runs_and_refuses_a_second_watcher() {
        let dir = workspace();
        let workspace = Workspace::new(dir.path());
        let socket = bind(&workspace).unwrap();
        let watcher = Watcher::start(dir.path()).unwrap();
        let server = std::thread::spawn(move || watcher.serve(&socket));
        let status = watch_status(&workspace).unwrap().unwrap();
        assert_eq!(status.pid, std::process::id());
        assert!(matches!(bind(&workspace), Err(WatchError::AlreadyRunning { .. })));
        let view = crate::WatchView::ask(&workspace, None).unwrap().unwrap();
        assert_eq!(view.changed_directories(), None);
        let since = Some(view.token());
        std::fs::write(dir.path().join("docs/readme"), "r").unwrap();
        let view = crate::WatchView::ask(&workspace, since).unwrap().unwrap();
        assert_eq!(view.changed_directories(), Some(1));
        assert!(!view.vouches_for("docs/readme") && view.vouches_for("src/a.c") && view.vouches_for("top.txt"));
        assert!(stop_watcher(&workspace).unwrap());
        server.join().unwrap();
        assert!(!stop_watcher(&workspace).unwrap(), "nothing answers any more");
        assert!(crate::WatchView::ask(&workspace, since).unwrap().is_none());
    }

    #[test]
    fn a_watcher_whose_socket_was_taken_over_leaves_it_to_the_new_one() {
        let dir = workspace();
        let workspace = Workspace::new(dir.path());
        let old = bind(&workspace).unwrap();
        let watcher = Watcher::start(dir.path()).unwrap();
        let server = std::thread::spawn(move || {
            watcher.serve(&old);
            drop(old);
        });
        assert!(watch_status(&workspace).unwrap().is_some());
        // As after `rm -rf .attest` and a new `attest watch`, before the old one noticed.
        std::fs::remove_file(socket_path(&workspace)).unwrap();
        let new = bind(&workspace).unwrap();
        server.join().unwrap();
        assert!(new.is_ours(), "the old watcher left the new one's socket alone");
        drop(new);
        assert!(!socket_path(&workspace).exists(), "a watcher removes its own socket");
    }
}
