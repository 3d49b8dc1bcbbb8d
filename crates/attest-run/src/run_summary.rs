use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use attest_hash::{FileStat, StatCache, WatchToken};

use serde::Serialize;

use crate::{CacheStatus, StepReport, StepStatus};

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Parallel workers.
    pub jobs: usize,
    /// Steps to run (with what they need); empty for all.
    pub targets: Vec<String>,
    /// Stop starting new steps after the first failure.
    pub fail_fast: bool,
    /// Neither read nor write the cache.
    pub no_cache: bool,
    /// The host environment (for `PATH` and `env_passthrough`).
    pub host_env: BTreeMap<String, String>,
    /// Deterministic mode: its fixed environment and timestamps (none: off).
    pub deterministic: Option<crate::Deterministic>,
    /// Build every executed step twice and compare (`--check-reproducibility`); a
    /// difference is a warning unless the step requires reproducibility.
    pub check_reproducibility: bool,
    /// Vary time, time zone, locale and umask in the second build (`--vary`).
    pub vary: bool,
    /// Trace sandboxed steps' file accesses and name the undeclared files they looked for
    /// (`--explain-sandbox`).
    pub explain_sandbox: bool,
    /// The workspace's stat cache, when its load was started early; read again when the
    /// run had to wait for another one to release the workspace (which may have changed it).
    pub stat_cache: Option<attest_hash::PendingStatCache>,
    /// The workspace's directory listings, likewise.
    pub dir_listings: Option<attest_hash::PendingDirListings>,
    /// Where steps wait before they execute (cache hits never do), until the caller has
    /// the run on record; none: steps execute at once.
    pub execution_gate: Option<crate::ExecutionGate>,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Every selected step, in the order they finished.
    pub steps: Vec<StepReport>,
    /// Steps executed successfully.
    pub ran: usize,
    /// Steps restored from the cache.
    pub cached: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps skipped or cancelled.
    pub skipped: usize,
    /// Whether the run was interrupted.
    pub interrupted: bool,
    /// Wall time of the whole run, in seconds.
    #[serde(serialize_with = "crate::run_event::seconds")]
    pub wall: Duration,
    /// The stats the run took of workspace files (for [`RunSummary::seen_stat`]).
    #[serde(skip)]
    seen: Arc<StatCache>,
    /// The point the workspace's watcher (`attest watch`) spoke for when the run began,
    /// if one answered: every change before it was known to the run.
    #[serde(skip)]
    watch_token: Option<WatchToken>,
}

impl RunSummary {
    pub(crate) fn new(
        steps: Vec<StepReport>,
        interrupted: bool,
        wall: Duration,
        seen: Arc<StatCache>,
        watch_token: Option<WatchToken>,
    ) -> Self {
        let count = |f: &dyn Fn(&StepReport) -> bool| steps.iter().filter(|s| f(s)).count();
        let ran = count(&|s| s.succeeded() && !matches!(s.cache, Some(CacheStatus::Hit)));
        let cached = count(&|s| s.succeeded() && matches!(s.cache, Some(CacheStatus::Hit)));
        let failed = count(&|s| matches!(s.status, StepStatus::Failed { .. }));
        let skipped = count(&|s| matches!(s.status, StepStatus::Skipped { .. } | StepStatus::Cancelled));
        Self { steps, ran, cached, failed, skipped, interrupted, wall, seen, watch_token }
    }

    /// The stat the run took of the file at workspace path `path` while hashing or
    /// writing it, if it looked at that file.
    pub fn seen_stat(&self, path: &str) -> Option<FileStat> {
        self.seen.seen_stat(path)
    }

    /// The point the workspace's watcher spoke for when the run began, if one answered.
    pub fn watch_token(&self) -> Option<WatchToken> {
        self.watch_token
    }

    /// Whether every step succeeded and the run was not interrupted.
    pub fn success(&self) -> bool {
        !self.interrupted && self.failed == 0 && self.skipped == 0
    }
}
