//! `--dry-run` and `attest explain`: what a run would do, without doing it.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use attest_cache::{CacheStore, LAYOUT_VERSION};
use attest_exec::ProcessExecutor;
use attest_hash::{Digest, StatCache, WorkspaceFilter};
use attest_pipeline::Pipeline;
use serde::Serialize;

use crate::miss_reason::differences;
use crate::stat_source::StatSource;
use crate::step_runner::{StepRunner, StepRunnerParts, error_chain};
use crate::{KeyRecord, KeyRecords, LastKeys, MissReason, Reporter, RunError, RunEvent, RunOptions, Workspace};

/// What a run would do with one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "prediction", rename_all = "snake_case")]
pub enum Prediction {
    /// Taken from the cache; `restore` outputs would be written back.
    Hit {
        /// Outputs missing or changed in the workspace.
        restore: usize,
    },
    /// Executed, because of `reason`.
    Miss {
        /// Why.
        #[serde(flatten)]
        reason: MissReason,
    },
    /// Cannot be predicted before `step` (which will run) has produced its outputs.
    WaitsFor {
        /// The upstream step that will run.
        step: String,
    },
}

/// The plan for one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    /// Step name.
    pub step: String,
    /// What would happen.
    #[serde(flatten)]
    pub prediction: Prediction,
    /// The key it would have (unknown while an upstream step must run first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Digest>,
    /// Every difference from the step's last recorded key.
    pub changes: Vec<MissReason>,
    /// The current key and its parts.
    #[serde(skip)]
    pub current: Option<KeyRecord>,
    /// The last recorded key and its parts.
    #[serde(skip)]
    pub previous: Option<KeyRecord>,
}

/// Predicts the outcome of every selected step, in dependency order, touching nothing:
/// no step runs, no file is written, the cache and the stat cache are only read.
pub fn plan(
    workspace: &Workspace,
    pipeline: &Pipeline,
    options: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<PlanEntry>, RunError> {
    let selected = crate::select(pipeline, &options.targets)?;
    let filter = WorkspaceFilter::new(&workspace.root).map_err(|e| RunError::Workspace { message: error_chain(&e) })?;
    let stat_cache = StatSource::loaded(StatCache::load(&workspace.stat_cache_path()).cache, reporter);
    let use_cache = pipeline.cache.enabled && !options.no_cache;
    let store = if use_cache && workspace.cache_dir().join(LAYOUT_VERSION).is_dir() {
        Some(CacheStore::open(&workspace.cache_dir()).map_err(|e| RunError::Cache { message: error_chain(&e) })?)
    } else {
        None
    };
    let records = KeyRecords::new(&workspace.state_dir());
    let last_keys = LastKeys::load(&workspace.state_dir());
    let not_interrupted = AtomicBool::new(false);
    let runner = StepRunner::new(StepRunnerParts {
        root: &workspace.root,
        pipeline,
        filter,
        stat_cache: &stat_cache,
        store: store.as_ref(),
        records: &records,
        last_keys: last_keys.map(),
        host_env: &options.host_env,
        deterministic: options.deterministic,
        check_reproducibility: options.check_reproducibility,
        vary: options.vary,
        explain_sandbox: options.explain_sandbox,
        use_cache,
        reporter,
        executor: &ProcessExecutor,
        cancelled: &not_interrupted,
        execution_gate: None,
        // A dry run stats every file itself.
        watch: None,
    });
    let graph = pipeline.graph();
    let mut outputs: HashMap<usize, Digest> = HashMap::new();
    let mut blocked_by: HashMap<usize, String> = HashMap::new();
    let mut entries = Vec::new();
    for &index in graph.topological_order() {
        if !selected[index] {
            continue;
        }
        let step = &pipeline.steps[index];
        let waits = graph.dependencies(index).iter().find_map(|d| blocked_by.get(d).cloned());
        let entry = match waits {
            Some(upstream) => {
                blocked_by.insert(index, upstream.clone());
                PlanEntry {
                    step: step.name.clone(),
                    prediction: Prediction::WaitsFor { step: upstream },
                    key: None,
                    changes: Vec::new(),
                    current: None,
                    previous: records.load(&step.name),
                }
            }
            None => {
                let upstream = graph
                    .dependencies(index)
                    .iter()
                    .filter_map(|&d| outputs.get(&d).map(|o| (pipeline.steps[d].name.clone(), *o)))
                    .collect();
                let current = runner.key_record(step, upstream).map_err(|message| RunError::Workspace { message })?;
                let previous = records.load(&step.name);
                let changes = previous.as_ref().map(|p| differences(p, &current)).unwrap_or_default();
                let cached = match (&store, use_cache && step.cache) {
                    (Some(store), true) => store.get_action(&current.key).ok().flatten(),
                    _ => None,
                };
                let prediction = match cached {
                    Some(entry) => {
                        outputs.insert(index, entry.outputs.digest());
                        Prediction::Hit {
                            restore: entry.outputs.entries().iter().filter(|o| !runner.is_up_to_date(o)).count(),
                        }
                    }
                    None => {
                        blocked_by.insert(index, step.name.clone());
                        let reason = if !(use_cache && step.cache) {
                            MissReason::CacheDisabled
                        } else {
                            changes.first().cloned().unwrap_or(MissReason::NoEntry)
                        };
                        Prediction::Miss { reason }
                    }
                };
                PlanEntry {
                    step: step.name.clone(),
                    prediction,
                    key: Some(current.key),
                    changes,
                    current: Some(current),
                    previous,
                }
            }
        };
        reporter.report(RunEvent::Planned(&entry));
        entries.push(entry);
    }
    Ok(entries)
}
