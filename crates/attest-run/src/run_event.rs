use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use attest_hash::{Digest, Manifest};
use serde::Serialize;

use crate::{MissReason, PlanEntry};

/// Whether a step's result came from the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CacheStatus {
    /// Restored from the cache; nothing ran.
    Hit,
    /// Executed, and why.
    Miss {
        /// Why the cache could not answer.
        #[serde(flatten)]
        reason: MissReason,
    },
}

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// Non-zero exit.
    ExitCode {
        /// The code.
        code: i32,
    },
    /// Killed by a signal it did not get from attest.
    Signal {
        /// The signal number.
        signal: i32,
    },
    /// Ran longer than its `timeout`.
    TimedOut {
        /// The limit, in milliseconds.
        after_ms: u64,
    },
    /// A declared output was not produced.
    OutputMissing {
        /// The output path.
        path: String,
    },
    /// An upstream output on disk no longer matches what its step recorded
    /// (`attestation.verify_dependencies`).
    DependencyChanged {
        /// The file.
        path: String,
        /// The digest the upstream step recorded.
        expected: String,
        /// The digest on disk (or `missing`).
        actual: String,
    },
    /// An output holds a credential (`attestation.scan_outputs`).
    SecretInOutput {
        /// The file.
        path: String,
        /// The rule that matched.
        rule: String,
        /// The line.
        line: usize,
    },
    /// A second build from a clean copy of the inputs gave different outputs, and the
    /// step requires reproducibility.
    NotReproducible {
        /// Every difference (`; `-separated): file, both digests, first differing offset.
        difference: String,
        /// How many outputs differed.
        count: usize,
    },
    /// A sandboxed step failed after looking for workspace files it did not declare
    /// (`--explain-sandbox`).
    UndeclaredReads {
        /// Its exit code.
        code: i32,
        /// The files, workspace-relative.
        paths: Vec<String>,
    },
    /// A sandboxed step created files beside its declared outputs (they were discarded).
    UndeclaredWrites {
        /// The paths, workspace-relative.
        paths: Vec<String>,
    },
    /// attest could not run or cache the step (spawn failure, I/O).
    Error {
        /// What happened, with its causes.
        message: String,
    },
}

fn human_duration(ms: u64) -> String {
    if !ms.is_multiple_of(1000) {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let secs = ms / 1000;
    match (secs / 3600, (secs % 3600) / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::ExitCode { code } => write!(f, "exit code {code}"),
            Failure::Signal { signal } => write!(f, "killed by signal {signal}"),
            Failure::TimedOut { after_ms } => write!(f, "timed out after {}", human_duration(*after_ms)),
            Failure::OutputMissing { path } => write!(f, "declared output missing: {path}"),
            Failure::DependencyChanged { path, expected, actual } => {
                write!(f, "upstream output changed: {path} (recorded {expected}, now {actual})")
            }
            Failure::SecretInOutput { path, rule, line } => {
                write!(f, "output {path} line {line} holds a credential ({rule})")
            }
            Failure::NotReproducible { difference, count: 1 } => write!(f, "not reproducible: {difference}"),
            Failure::NotReproducible { difference, count } => {
                write!(f, "not reproducible ({count} outputs): {difference}")
            }
            Failure::UndeclaredReads { code, paths } => {
                write!(f, "exit code {code}; the step tried to open undeclared files: {}", paths.join(", "))
            }
            Failure::UndeclaredWrites { paths } => {
                write!(f, "wrote outside its declared outputs (discarded): {}", paths.join(", "))
            }
            Failure::Error { message } => f.write_str(message),
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StepStatus {
    /// It ran (or was restored) and succeeded.
    Succeeded,
    /// It failed.
    Failed {
        /// Why.
        failure: Failure,
    },
    /// It did not run because a step it needs failed (or `--fail-fast` stopped the run).
    Skipped {
        /// Why, e.g. "needs `build`, which failed".
        because: String,
    },
    /// The run was interrupted while (or before) it ran.
    Cancelled,
}

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// Step name.
    pub step: String,
    /// How it ended.
    #[serde(flatten)]
    pub status: StepStatus,
    /// Cache status (absent for skipped and cancelled steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheStatus>,
    /// Wall time spent on the step (hashing, restore or execution).
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// When a worker took the step, after the run started (zero for steps that never
    /// started).
    #[serde(skip)]
    pub started: Duration,
    /// The worker that ran it (0-based; none for steps that never started).
    #[serde(skip)]
    pub worker: Option<usize>,
    /// The cache key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Digest>,
    /// The outputs produced or restored (shared with the steps that need them).
    #[serde(skip)]
    pub outputs: Option<Arc<Manifest>>,
    /// Files written back from the cache.
    pub restored: usize,
    /// Captured output of the command (the tail, when long), secrets redacted.
    #[serde(skip)]
    pub log: Vec<u8>,
    /// Exit code of the command (0 for cache hits: only successes are cached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The input files behind the key.
    #[serde(skip)]
    pub inputs: Option<Arc<Manifest>>,
    /// The variables that reached the command; secrets as `[REDACTED:NAME]`.
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    /// SHA-256 of each output, by path.
    #[serde(skip)]
    pub output_sha256: BTreeMap<String, Digest>,
    /// BLAKE3 and SHA-256 of the log, when there is one.
    #[serde(skip)]
    pub log_digests: Option<(Digest, Digest)>,
    /// The result of building it a second time and comparing, when that was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reproducibility: Option<crate::Reproducibility>,
}

/// Durations in JSON: seconds, rounded to milliseconds.
pub(crate) fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl StepReport {
    pub(crate) fn unfinished(step: &str, status: StepStatus) -> Self {
        Self {
            step: step.to_owned(),
            status,
            cache: None,
            duration: Duration::ZERO,
            started: Duration::ZERO,
            worker: None,
            key: None,
            outputs: None,
            restored: 0,
            log: Vec::new(),
            exit_code: None,
            inputs: None,
            env: BTreeMap::new(),
            output_sha256: BTreeMap::new(),
            log_digests: None,
            reproducibility: None,
        }
    }

    /// Whether the step succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == StepStatus::Succeeded
    }
}

/// Something that happened during a run, for the CLI to show.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The run is about to start `selected` steps with `jobs` workers.
    Started {
        /// Steps in the run.
        selected: usize,
        /// Parallel workers.
        jobs: usize,
        /// The watcher's answer, when one runs: how many directories changed since the
        /// stat cache's token (`None`: it could not tell, every file is checked).
        watcher: Option<Option<usize>>,
    },
    /// A step began (hashing, then restore or execution).
    StepStarted {
        /// Its name.
        step: &'a str,
    },
    /// A step's command wrote output.
    StepOutput {
        /// The step.
        step: &'a str,
        /// Raw bytes as read (not split into lines).
        chunk: &'a [u8],
    },
    /// A step finished, was skipped, or was cancelled.
    StepFinished(&'a StepReport),
    /// A step's predicted outcome (`--dry-run`).
    Planned(&'a PlanEntry),
    /// Something the user should know that does not stop the run.
    Warning(&'a str),
}

/// Receives run events; called from several threads.
pub trait Reporter: Sync {
    /// Handles one event.
    fn report(&self, event: RunEvent<'_>);
}
