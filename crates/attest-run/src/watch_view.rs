//! What a run learns from the workspace's watcher (`attest watch`), if one runs: which
//! directories changed since the stat cache's token. A file in any other directory still
//! has the stat the cache recorded, so the run takes it from there instead of `statx`.

use std::collections::HashSet;

use attest_hash::WatchToken;

use crate::Workspace;
use crate::watch_daemon::{Request, SyncAnswer, Token, ask};

/// The watcher's answer for one run.
#[derive(Debug)]
pub struct WatchView {
    /// The point the answer speaks for: every change before it is in `changed`.
    token: WatchToken,
    /// Directories changed since the stat cache's token; `None`: anything may have.
    changed: Option<HashSet<String>>,
}

impl WatchView {
    /// Asks the workspace's watcher what changed since `since` (the stat cache's token).
    /// `Ok(None)` when no watcher runs; `Err` (with what went wrong) when one is there but
    /// does not answer properly: the run then checks every file itself.
    pub fn ask(workspace: &Workspace, since: Option<WatchToken>) -> Result<Option<Self>, String> {
        let since = since.map(|t| Token { instance: t.instance, generation: t.generation });
        match ask::<SyncAnswer>(workspace, &Request::Sync { since }) {
            Ok(answer) => Ok(Some(Self {
                token: WatchToken { instance: answer.token.instance, generation: answer.token.generation },
                changed: answer.changed.map(|dirs| dirs.into_iter().collect()),
            })),
            Err(None) => Ok(None),
            Err(Some(message)) => Err(message),
        }
    }

    /// The point this answer speaks for.
    pub fn token(&self) -> WatchToken {
        self.token
    }

    /// How many directories changed, when the watcher could tell.
    pub fn changed_directories(&self) -> Option<usize> {
        self.changed.as_ref().map(HashSet::len)
    }

    /// Whether the file at workspace path `path` is in a directory nothing changed in.
    pub fn vouches_for(&self, path: &str) -> bool {
        let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        self.changed.as_ref().is_some_and(|changed| !changed.contains(dir))
    }
}
