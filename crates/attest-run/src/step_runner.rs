//! What a worker does with one step: hash its inputs, compute its key, restore it from
//! the cache or execute it, and store a successful result.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use attest_cache::{ActionEntry, CacheStore};
use attest_exec::{ExecRequest, Executor, Exit, ProcessGroups};
use attest_hash::{Digest, EntryKind, FileSet, FileStat, Manifest, RelPath, WorkspaceFilter};
use attest_pipeline::{Pipeline, Step};
use attest_secrets::Redactor;

use crate::cache_key::{command_env, platform, secret_env};
use crate::deterministic::Deterministic;
use crate::miss_reason::differences;
use crate::stat_source::StatSource;
use crate::{
    CacheKey, CacheStatus, ExecutionGate, Failure, KEY_VERSION, KeyRecord, KeyRecords, MissReason, Reporter, RunEvent,
    StepReport, StepStatus,
};

/// Output kept per step (the tail).
const OUTPUT_LIMIT: usize = 1024 * 1024;
/// Outputs larger than this are not scanned for credentials (`scan_outputs`).
const SCAN_LIMIT: u64 = 256 * 1024 * 1024;

/// A finished upstream step as a downstream step sees it.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// Its name.
    pub(crate) step: String,
    /// The digest of its output manifest.
    pub(crate) digest: Digest,
    /// Its outputs.
    pub(crate) outputs: Arc<Manifest>,
}

/// Everything workers share during one run.
pub(crate) struct StepRunner<'a> {
    pub(crate) root: &'a Path,
    pub(crate) pipeline: &'a Pipeline,
    pub(crate) filter: WorkspaceFilter,
    pub(crate) stat_cache: &'a StatSource<'a>,
    pub(crate) store: Option<&'a CacheStore>,
    pub(crate) records: &'a KeyRecords,
    pub(crate) last_keys: &'a HashMap<String, Digest>,
    pub(crate) new_keys: Mutex<BTreeMap<String, Digest>>,
    pub(crate) host_env: &'a BTreeMap<String, String>,
    pub(crate) deterministic: Option<Deterministic>,
    pub(crate) check_reproducibility: bool,
    pub(crate) vary: bool,
    pub(crate) explain_sandbox: bool,
    pub(crate) use_cache: bool,
    pub(crate) reporter: &'a dyn Reporter,
    pub(crate) executor: &'a dyn Executor,
    pub(crate) groups: ProcessGroups,
    pub(crate) cancelled: &'a AtomicBool,
    pub(crate) execution_gate: Option<&'a ExecutionGate>,
    pub(crate) timed_out: Mutex<HashSet<usize>>,
    pub(crate) workspace_inputs: OnceLock<Result<FileSet, String>>,
    masked_values: Mutex<HashMap<String, String>>,
    /// Writes to the workspace this run began so far (executions, restores): a stat taken
    /// before the latest one may be stale.
    writes: AtomicU64,
    /// Outputs found up to date in the workspace, with their stat and the value of
    /// `writes` before it was taken: a dependent that names one as an input takes that
    /// stat instead of its own while nothing was written since (in a null run, every
    /// output named as an input downstream).
    current_outputs: Mutex<HashMap<RelPath, (FileStat, u64)>>,
    /// The watcher's answer, when one runs.
    watch: Option<&'a crate::WatchView>,
}

/// What a [`StepRunner`] is built from; the rest of its state starts empty.
pub(crate) struct StepRunnerParts<'a> {
    pub(crate) root: &'a Path,
    pub(crate) pipeline: &'a Pipeline,
    pub(crate) filter: WorkspaceFilter,
    pub(crate) stat_cache: &'a StatSource<'a>,
    pub(crate) store: Option<&'a CacheStore>,
    pub(crate) records: &'a KeyRecords,
    pub(crate) last_keys: &'a HashMap<String, Digest>,
    pub(crate) host_env: &'a BTreeMap<String, String>,
    pub(crate) deterministic: Option<Deterministic>,
    pub(crate) check_reproducibility: bool,
    pub(crate) vary: bool,
    pub(crate) explain_sandbox: bool,
    pub(crate) use_cache: bool,
    pub(crate) reporter: &'a dyn Reporter,
    pub(crate) executor: &'a dyn Executor,
    pub(crate) cancelled: &'a AtomicBool,
    pub(crate) execution_gate: Option<&'a ExecutionGate>,
    /// The watcher's answer, when one runs.
    pub(crate) watch: Option<&'a crate::WatchView>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An error with its chain of causes on one line (`failed to X: because: because`), as
/// run reports and the CLI show errors.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What [`StepRunner::execute`] needs about the step at hand.
struct Execution<'a> {
    index: usize,
    step: &'a Step,
    record: &'a KeyRecord,
    secrets: BTreeMap<String, String>,
    redactor: &'a Redactor,
    cacheable: bool,
    started: Instant,
}

/// SHA-256 of a workspace file or symlink (of its target text).
fn sha256_of(path: &Path, kind: EntryKind) -> Option<Digest> {
    match kind {
        EntryKind::File => attest_hash::sha256_file(path).ok(),
        EntryKind::Symlink => {
            std::fs::read_link(path).ok().map(|t| attest_hash::sha256_bytes(t.as_os_str().as_encoded_bytes()))
        }
        EntryKind::Missing => None,
    }
}

impl<'a> StepRunner<'a> {
    pub(crate) fn new(parts: StepRunnerParts<'a>) -> Self {
        Self {
            root: parts.root,
            pipeline: parts.pipeline,
            filter: parts.filter,
            stat_cache: parts.stat_cache,
            store: parts.store,
            records: parts.records,
            last_keys: parts.last_keys,
            new_keys: Mutex::new(BTreeMap::new()),
            host_env: parts.host_env,
            deterministic: parts.deterministic,
            check_reproducibility: parts.check_reproducibility,
            vary: parts.vary,
            explain_sandbox: parts.explain_sandbox,
            use_cache: parts.use_cache,
            reporter: parts.reporter,
            executor: parts.executor,
            groups: ProcessGroups::new(),
            cancelled: parts.cancelled,
            execution_gate: parts.execution_gate,
            timed_out: Mutex::new(HashSet::new()),
            workspace_inputs: OnceLock::new(),
            masked_values: Mutex::new(HashMap::new()),
            writes: AtomicU64::new(0),
            current_outputs: Mutex::new(HashMap::new()),
            watch: parts.watch,
        }
    }

    fn all_outputs(&self) -> Vec<RelPath> {
        self.pipeline.steps.iter().flat_map(|s| s.outputs.iter().cloned()).collect()
    }

    /// Resolves and hashes a step's inputs.
    pub(crate) fn input_manifest(&self, step: &Step) -> Result<Manifest, String> {
        let set = match &step.inputs {
            Some(patterns) => FileSet::resolve_knowing(&self.filter, patterns, &|path| {
                self.current_output(path).or_else(|| self.vouched_stat(path))
            })
            .map_err(|e| error_chain(&e))?,
            None => self
                .workspace_inputs
                .get_or_init(|| {
                    FileSet::resolve_workspace(&self.filter, &self.all_outputs()).map_err(|e| error_chain(&e))
                })
                .clone()?,
        };
        set.into_manifest(self.root, self.stat_cache.get()).map_err(|e| error_chain(&e))
    }

    /// The key record of `step` given its upstream output digests (by step name).
    pub(crate) fn key_record(&self, step: &Step, upstream: BTreeMap<String, Digest>) -> Result<KeyRecord, String> {
        let inputs = self.input_manifest(step)?;
        let mut upstream_digests: Vec<Digest> = upstream.values().copied().collect();
        upstream_digests.sort();
        let parts = CacheKey {
            key_version: KEY_VERSION,
            command: step.run.clone(),
            shell: step.shell.clone(),
            working_dir: step.working_dir.as_ref().map_or_else(|| ".".to_owned(), ToString::to_string),
            env: {
                let mut env = self.deterministic.map(|d| d.base_env()).unwrap_or_default();
                env.extend(command_env(step, self.host_env));
                env
            },
            secrets: secret_env(step, self.host_env)
                .into_iter()
                .map(|(name, value)| (name, Digest::of_bytes(value.as_bytes())))
                .collect(),
            inputs: inputs.digest(),
            outputs: step.outputs.iter().map(ToString::to_string).collect(),
            upstream: upstream_digests,
            isolation: crate::step_sandbox::isolation_key(step, self.root),
            platform: platform(),
        };
        Ok(KeyRecord { key: parts.digest(), parts, inputs, upstream })
    }

    /// Why `record` is a miss, compared with the step's last recorded key.
    pub(crate) fn miss_reason(&self, step: &Step, record: &KeyRecord) -> MissReason {
        match self.records.load(&step.name) {
            Some(previous) => differences(&previous, record).into_iter().next().unwrap_or(MissReason::NoEntry),
            None => MissReason::NoEntry,
        }
    }

    /// An environment value with credential shapes masked (values repeat across steps, so
    /// each distinct one is scanned once).
    fn masked(&self, value: &str) -> String {
        let mut known = self.masked_values.lock().expect("masked value lock is never poisoned");
        known
            .entry(value.to_owned())
            .or_insert_with(|| String::from_utf8_lossy(&Redactor::default().redact(value.as_bytes())).into_owned())
            .clone()
    }

    fn remember(&self, step: &Step, record: &KeyRecord) {
        if self.last_keys.get(&step.name) == Some(&record.key) {
            return;
        }
        if let Err(err) = self.records.save(&step.name, record) {
            self.warn(&format!("failed to record the key of step `{}`: {err}", step.name));
        }
        self.new_keys.lock().expect("key map lock is never poisoned").insert(step.name.clone(), record.key);
    }

    fn warn(&self, message: &str) {
        self.reporter.report(RunEvent::Warning(message));
    }

    /// The first upstream output that no longer matches its recorded digest.
    fn changed_dependency(&self, upstream: &[Upstream]) -> Option<Failure> {
        for output in upstream.iter().flat_map(|u| u.outputs.entries()) {
            let Some(expected) = output.digest else { continue };
            if self.is_up_to_date(output) {
                continue;
            }
            let dest = output.path.under(self.root);
            let actual = match std::fs::symlink_metadata(&dest) {
                Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(&dest)
                    .map(|t| Digest::of_bytes(t.as_os_str().as_encoded_bytes()).to_string())
                    .unwrap_or_else(|e| e.to_string()),
                Ok(meta) => {
                    attest_hash::hash_file(&dest, meta.len()).map_or_else(|e| error_chain(&e), |d| d.to_string())
                }
                Err(_) => "missing".to_owned(),
            };
            let actual =
                if actual == expected.to_string() { "a different file type or mode".to_owned() } else { actual };
            return Some(Failure::DependencyChanged {
                path: output.path.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
        None
    }

    /// The cache keys of the steps that succeeded, by step name.
    pub(crate) fn into_new_keys(self) -> BTreeMap<String, Digest> {
        self.new_keys.into_inner().expect("key map lock is never poisoned")
    }

    /// Runs one step to its report.
    pub(crate) fn run(&self, index: usize, upstream: &[Upstream]) -> StepReport {
        let step = &self.pipeline.steps[index];
        let started = Instant::now();
        self.reporter.report(RunEvent::StepStarted { step: &step.name });
        let mut report = StepReport::unfinished(&step.name, StepStatus::Succeeded);
        if self.pipeline.attestation.verify_dependencies
            && let Some(failure) = self.changed_dependency(upstream)
        {
            report.status = StepStatus::Failed { failure };
            report.duration = started.elapsed();
            return report;
        }
        let upstream = upstream.iter().map(|u| (u.step.clone(), u.digest)).collect();
        let secrets = secret_env(step, self.host_env);
        let redactor = Redactor::new(secrets.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let record = match self.key_record(step, upstream) {
            Ok(record) => record,
            Err(message) => {
                report.status = StepStatus::Failed {
                    failure: Failure::Error { message: format!("failed to hash the inputs: {message}") },
                };
                report.duration = started.elapsed();
                return report;
            }
        };
        report.key = Some(record.key);
        report.env = record.parts.env.iter().map(|(k, v)| (k.clone(), self.masked(v))).collect();
        for name in secrets.keys() {
            report.env.insert(name.clone(), format!("[REDACTED:{name}]"));
        }
        if self.deterministic.is_some() {
            report.env.insert("HOME".to_owned(), "(a fresh empty directory)".to_owned());
        }
        let cacheable = self.use_cache && step.cache;
        let mut reason = MissReason::CacheDisabled;
        if let (true, Some(store)) = (cacheable, self.store) {
            match store.find_action(&record.key) {
                Ok(Some(found)) => match self.restore(store, &found.entry) {
                    Ok(restored) => {
                        store.touch_action(&found);
                        let entry = found.entry;
                        self.remember(step, &record);
                        report.cache = Some(CacheStatus::Hit);
                        report.restored = restored;
                        if restored > 0
                            && let Err(failure) = self.stamp_outputs(step)
                        {
                            report.status = StepStatus::Failed { failure };
                            return report;
                        }
                        report.exit_code = Some(entry.exit_code);
                        report.log_digests = entry.log.zip(
                            entry
                                .log_sha256
                                .as_deref()
                                .and_then(|h| Digest::from_hex(attest_hash::Algorithm::Sha256, h).ok()),
                        );
                        report.output_sha256 = self.output_sha256(&entry.outputs, &entry.output_sha256);
                        if let Err(failure) = self.scan_outputs(&entry.outputs) {
                            report.status = StepStatus::Failed { failure };
                        }
                        report.outputs = Some(Arc::new(entry.outputs));
                        report.inputs = Some(Arc::new(record.inputs));
                        report.duration = started.elapsed();
                        return report;
                    }
                    Err(message) => {
                        self.warn(&format!(
                            "cache entry of step `{}` is unusable, running it again: {message}",
                            step.name
                        ));
                        reason = MissReason::EntryDamaged;
                    }
                },
                Ok(None) => reason = self.miss_reason(step, &record),
                Err(err) => {
                    self.warn(&format!("{}; running step `{}` again", error_chain(&err), step.name));
                    reason = MissReason::EntryDamaged;
                }
            }
        }
        report.cache = Some(CacheStatus::Miss { reason });
        if self.cancelled.load(Ordering::SeqCst) {
            report.status = StepStatus::Cancelled;
            report.duration = started.elapsed();
            return report;
        }
        let execution = Execution { index, step, record: &record, secrets, redactor: &redactor, cacheable, started };
        let mut report = self.execute(execution, report);
        report.inputs = Some(Arc::new(record.inputs));
        report
    }

    /// SHA-256 of each output: from the cache entry when it has them, else read.
    fn output_sha256(&self, outputs: &Manifest, known: &BTreeMap<String, String>) -> BTreeMap<String, Digest> {
        outputs
            .entries()
            .iter()
            .filter(|e| e.digest.is_some())
            .filter_map(|e| {
                let path = e.path.to_string();
                let digest = known
                    .get(&path)
                    .and_then(|h| Digest::from_hex(attest_hash::Algorithm::Sha256, h).ok())
                    .or_else(|| sha256_of(&e.path.under(self.root), e.kind))?;
                Some((path, digest))
            })
            .collect()
    }

    /// With `attestation.scan_outputs`, fails on the first high-severity credential in an
    /// output file.
    fn scan_outputs(&self, outputs: &Manifest) -> Result<(), Failure> {
        if !self.pipeline.attestation.scan_outputs {
            return Ok(());
        }
        for entry in outputs.entries().iter().filter(|e| e.kind == EntryKind::File) {
            let path = entry.path.under(self.root);
            if std::fs::metadata(&path).is_ok_and(|m| m.len() > SCAN_LIMIT) {
                self.warn(&format!("not scanning `{}` for credentials: larger than 256 MiB", entry.path));
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| Failure::Error { message: e.to_string() })?;
            if let Some(finding) =
                attest_secrets::scan(&bytes).into_iter().find(|f| f.severity == attest_secrets::Severity::High)
            {
                return Err(Failure::SecretInOutput {
                    path: entry.path.to_string(),
                    rule: finding.rule.to_owned(),
                    line: finding.line,
                });
            }
        }
        Ok(())
    }

    fn execute(&self, execution: Execution<'_>, mut report: StepReport) -> StepReport {
        let Execution { index, step, record, secrets, redactor, cacheable, started } = execution;
        if let Some(gate) = self.execution_gate {
            gate.wait();
        }
        self.wrote();
        let cwd = step.working_dir.as_ref().map_or_else(|| self.root.to_owned(), |d| d.under(self.root));
        let mut argv = step.shell.clone();
        argv.push(step.run.clone());
        let mut env = record.parts.env.clone();
        env.extend(secrets);
        // Deterministic: umask 022 and a fresh HOME, removed afterwards.
        let home = match self.deterministic {
            None => None,
            Some(_) => match tempfile::Builder::new().prefix("attest-home-").tempdir() {
                Ok(home) => Some(home),
                Err(err) => {
                    report.status = StepStatus::Failed {
                        failure: Failure::Error { message: format!("failed to create the step's HOME: {err}") },
                    };
                    return report;
                }
            },
        };
        if let Some(home) = &home {
            env.insert("HOME".to_owned(), home.path().display().to_string());
            argv = Deterministic::wrap_argv(argv);
        }
        let sandbox = self.sandbox_spec(index, step, record);
        let request = ExecRequest { argv, cwd, env, output_limit: OUTPUT_LIMIT, sandbox };
        let mut on_output = |chunk: &[u8]| {
            let chunk = redactor.redact(chunk);
            self.reporter.report(RunEvent::StepOutput { step: &step.name, chunk: &chunk });
        };
        let result = self.executor.execute(&request, index, &self.groups, &mut on_output);
        report.duration = started.elapsed();
        let result = match result {
            Ok(result) => result,
            Err(err) => {
                report.status = StepStatus::Failed { failure: Failure::Error { message: error_chain(&err) } };
                return report;
            }
        };
        report.log = redactor.redact(&result.output);
        report.log_digests = Some((Digest::of_bytes(&report.log), attest_hash::sha256_bytes(&report.log)));
        if let Exit::Code(code) = result.exit {
            report.exit_code = Some(code);
        }
        let timed_out = self.timed_out.lock().expect("timeout set lock is never poisoned").contains(&index);
        if self.cancelled.load(Ordering::SeqCst) && !result.exit.success() {
            self.remove_outputs(step);
            report.status = StepStatus::Cancelled;
            return report;
        }
        let failure = match result.exit {
            Exit::Code(0) => None,
            _ if timed_out => Some(Failure::TimedOut {
                after_ms: step.timeout.map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            }),
            Exit::Code(code) => Some(Failure::ExitCode { code }),
            Exit::Signal(signal) => Some(Failure::Signal { signal }),
        };
        let failure = self.sandbox_failure(step, &result, failure);
        if let Some(failure) = failure {
            report.status = StepStatus::Failed { failure };
            return report;
        }
        if let Err(failure) = self.stamp_outputs(step) {
            report.status = StepStatus::Failed { failure };
            return report;
        }
        let outputs = match self.output_manifest(step).and_then(|o| self.scan_outputs(&o).map(|()| o)) {
            Ok(outputs) => outputs,
            Err(failure) => {
                report.status = StepStatus::Failed { failure };
                return report;
            }
        };
        report.output_sha256 = self.output_sha256(&outputs, &BTreeMap::new());
        if self.check_reproducibility || step.reproducible {
            let check = self.reproduce(step, record, &request, &outputs, index);
            let differences = check.differences.clone();
            report.reproducibility = Some(check);
            if !differences.is_empty() {
                // Every differing output by name, then diffoscope's account of each.
                let listed: Vec<String> = differences.iter().map(ToString::to_string).collect();
                for difference in &differences {
                    if let Some(text) = &difference.explanation {
                        let text: Vec<String> = text.lines().map(|l| format!("  | {l}")).collect();
                        self.warn(&format!(
                            "diffoscope on `{}` of step `{}`:\n{}",
                            difference.path,
                            step.name,
                            text.join("\n")
                        ));
                    }
                }
                if step.reproducible {
                    report.status = StepStatus::Failed {
                        failure: Failure::NotReproducible { difference: listed.join("; "), count: differences.len() },
                    };
                    return report;
                }
                self.warn(&format!("step `{}` is not reproducible: {}", step.name, listed.join("; ")));
            }
        }
        if cacheable
            && let Some(store) = self.store
            && let Err(message) = self.store_result(store, step, record, &outputs, &report)
        {
            self.warn(&format!("failed to cache the result of step `{}`: {message}", step.name));
        }
        self.remember(step, record);
        report.outputs = Some(Arc::new(outputs));
        report.duration = started.elapsed();
        report
    }

    /// Builds `step` a second time from a clean copy of its inputs in another directory
    /// (with `--vary`, also another time, time zone, locale and umask) and compares every
    /// output with the first build's.
    fn reproduce(
        &self,
        step: &Step,
        record: &KeyRecord,
        first: &ExecRequest,
        outputs: &Manifest,
        index: usize,
    ) -> crate::Reproducibility {
        let failed = |why: String| crate::Reproducibility {
            verified: false,
            runs: 1,
            method: "second build could not run".to_owned(),
            differences: vec![crate::OutputDifference {
                path: String::new(),
                first: String::new(),
                second: String::new(),
                offset: None,
                explanation: Some(why),
            }],
        };
        let copy = match tempfile::Builder::new().prefix("attest-rebuild-").tempdir() {
            Ok(dir) => dir,
            Err(err) => return failed(format!("failed to create a directory for the second build: {err}")),
        };
        if let Err(err) = crate::reproducibility::copy_inputs(self.root, &record.inputs, copy.path()) {
            return failed(format!("failed to copy the inputs for the second build: {err}"));
        }
        let mut second = first.clone();
        if let Some(sandbox) = &mut second.sandbox {
            // A sandboxed second build sees (and writes) the copy, not the workspace.
            sandbox.workspace = copy.path().to_owned();
            sandbox.scratch = copy.path().join(".attest/sandbox/rebuild");
        }
        second.cwd = step.working_dir.as_ref().map_or_else(|| copy.path().to_owned(), |d| d.under(copy.path()));
        if let Some(dir) = second.cwd.parent().filter(|_| step.working_dir.is_some()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::create_dir_all(&second.cwd);
        let home = tempfile::Builder::new().prefix("attest-home-").tempdir().ok();
        if let (Some(home), true) = (&home, second.env.contains_key("HOME")) {
            second.env.insert("HOME".to_owned(), home.path().display().to_string());
        }
        let mut method = vec!["rebuilt from a clean copy of the inputs in another directory".to_owned()];
        let mut disorder = None;
        if self.vary {
            let search_path = second.env.get("PATH").cloned();
            let faketime = attest_exec::find_program(search_path.as_deref(), "faketime");
            let (mut applied, prefix) = crate::reproducibility::variations(&mut second.env, faketime.as_deref());
            // File order: a process-level second build runs in the copy seen through
            // disorderfs (a sandbox or VM binds the copy itself, below any FUSE mount).
            if second.sandbox.is_none()
                && let Some(disorderfs) = attest_exec::find_program(search_path.as_deref(), "disorderfs")
            {
                match crate::reproducibility::DisorderMount::mount(&disorderfs, copy.path(), search_path.as_deref()) {
                    Ok(mount) => {
                        if let Ok(relative) = second.cwd.strip_prefix(copy.path()) {
                            second.cwd = mount.path().join(relative);
                        }
                        applied.push("file order (disorderfs)".to_owned());
                        disorder = Some(mount);
                    }
                    Err(err) => self.warn(&format!(
                        "step `{}`: disorderfs could not mount the copy ({err}); file order is not varied",
                        step.name
                    )),
                }
            }
            method = vec![format!("rebuilt with varied {}", applied.join(", "))];
            let mut argv = prefix;
            argv.extend(second.argv);
            second.argv = argv;
        }
        self.wrote();
        let result = self.executor.execute(&second, index, &self.groups, &mut |_: &[u8]| {});
        drop(disorder);
        match result {
            Ok(r) if r.exit.success() => {}
            Ok(r) => return failed(format!("the second build exited with {:?}", r.exit)),
            Err(err) => return failed(error_chain(&err)),
        }
        let diffoscope = attest_exec::find_program(first.env.get("PATH").map(String::as_str), "diffoscope");
        let differences = crate::reproducibility::compare(outputs, self.root, copy.path(), diffoscope.as_deref());
        crate::Reproducibility { verified: differences.is_empty(), runs: 2, method: method.join("; "), differences }
    }

    /// Deterministic mode: every declared output's mtime becomes `SOURCE_DATE_EPOCH`.
    fn stamp_outputs(&self, step: &Step) -> Result<(), Failure> {
        let Some(deterministic) = self.deterministic else { return Ok(()) };
        for output in &step.outputs {
            let path = output.under(self.root);
            if std::fs::symlink_metadata(&path).is_ok() {
                deterministic.stamp(&path).map_err(|e| Failure::Error {
                    message: format!("failed to set the mtime of `{output}` to SOURCE_DATE_EPOCH: {e}"),
                })?;
            }
        }
        Ok(())
    }

    fn output_manifest(&self, step: &Step) -> Result<Manifest, Failure> {
        let patterns: Vec<String> = step.outputs.iter().map(ToString::to_string).collect();
        let set = FileSet::resolve(&self.filter, &patterns).map_err(|e| Failure::Error { message: error_chain(&e) })?;
        let manifest = set
            .into_manifest(self.root, self.stat_cache.get())
            .map_err(|e| Failure::Error { message: error_chain(&e) })?;
        if let Some(missing) = manifest.entries().iter().find(|e| e.kind == EntryKind::Missing) {
            return Err(Failure::OutputMissing { path: missing.path.to_string() });
        }
        Ok(manifest)
    }

    fn store_result(
        &self,
        store: &CacheStore,
        step: &Step,
        record: &KeyRecord,
        outputs: &Manifest,
        report: &StepReport,
    ) -> Result<(), String> {
        let compress = self.pipeline.cache.compression;
        for entry in outputs.entries() {
            let digest = entry.digest.expect("present outputs have digests");
            match entry.kind {
                EntryKind::File => {
                    store.store_file(&entry.path.under(self.root), &digest, compress).map_err(|e| error_chain(&e))?;
                }
                EntryKind::Symlink => {
                    let target = std::fs::read_link(entry.path.under(self.root)).map_err(|e| e.to_string())?;
                    store.store_bytes(target.as_os_str().as_encoded_bytes(), compress).map_err(|e| error_chain(&e))?;
                }
                EntryKind::Missing => {}
            }
        }
        let log = store.store_bytes(&report.log, compress).map_err(|e| error_chain(&e))?;
        let millis = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX);
        let mut entry = ActionEntry::new(record.key, &step.name, outputs.clone(), millis, Some(log), now_secs());
        entry.output_sha256 = report.output_sha256.iter().map(|(path, d)| (path.clone(), d.hex())).collect();
        entry.log_sha256 = report.log_digests.map(|(_, sha256)| sha256.hex());
        store.put_action(&entry).map_err(|e| error_chain(&e))
    }

    /// Notes that the run is about to write to the workspace: stats taken before are no
    /// longer known to be current.
    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// The stat of output `path` when it was found up to date and nothing was written
    /// since (another process may have changed it, as it may right after a fresh stat).
    fn current_output(&self, path: &RelPath) -> Option<FileStat> {
        let outputs = self.current_outputs.lock().expect("output stat lock is never poisoned");
        let &(stat, writes) = outputs.get(path)?;
        (writes == self.writes.load(Ordering::SeqCst)).then_some(stat)
    }

    /// The stat the stat cache recorded for `path`, when the watcher saw nothing change in
    /// its directory since the cache's token and this run has written nothing yet (the
    /// watcher's answer speaks for the moment the run asked).
    fn vouched_stat(&self, path: &RelPath) -> Option<FileStat> {
        let watch = self.watch?;
        if self.writes.load(Ordering::SeqCst) != 0 || !watch.vouches_for(path.as_str()) {
            return None;
        }
        self.stat_cache.get().recorded_stat(path.as_str())
    }

    /// Whether the workspace already holds `output` exactly as cached.
    pub(crate) fn is_up_to_date(&self, output: &attest_hash::ManifestEntry) -> bool {
        let Some(digest) = output.digest else { return true };
        let writes = self.writes.load(Ordering::SeqCst);
        match (self.filter.stat(&output.path).ok().flatten(), output.kind) {
            (Some(stat), EntryKind::File) if stat.is_file() => {
                let current = stat.is_executable() == output.executable
                    && self.stat_cache.get().file_digest(self.root, &output.path, &stat).is_ok_and(|d| d == digest);
                if current {
                    let mut outputs = self.current_outputs.lock().expect("output stat lock is never poisoned");
                    outputs.insert(output.path.clone(), (stat, writes));
                }
                current
            }
            (Some(stat), EntryKind::Symlink) if stat.is_symlink() => std::fs::read_link(output.path.under(self.root))
                .is_ok_and(|t| Digest::of_bytes(t.as_os_str().as_encoded_bytes()) == digest),
            _ => false,
        }
    }

    /// Brings the workspace's outputs to the cached state: files already identical are
    /// left alone (and keep their mtime); others are restored, verified, atomically.
    fn restore(&self, store: &CacheStore, entry: &ActionEntry) -> Result<usize, String> {
        let mut restored = 0;
        for output in entry.outputs.entries() {
            let Some(digest) = output.digest else { continue };
            if self.is_up_to_date(output) {
                continue;
            }
            self.wrote();
            let written_at = SystemTime::now();
            match output.kind {
                EntryKind::File => store.restore_file(self.root, &output.path, &digest, output.executable),
                EntryKind::Symlink => store.restore_symlink(self.root, &output.path, &digest),
                EntryKind::Missing => Ok(()),
            }
            .map_err(|e| error_chain(&e))?;
            if output.kind == EntryKind::File
                && let Ok(Some(stat)) = self.filter.stat(&output.path)
            {
                self.stat_cache.get().record(&output.path, &stat, &digest, written_at);
            }
            restored += 1;
        }
        Ok(restored)
    }

    /// Removes a step's declared outputs (after an interrupted execution).
    pub(crate) fn remove_outputs(&self, step: &Step) {
        self.wrote();
        for output in &step.outputs {
            let path = output.under(self.root);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    let _ = std::fs::remove_dir_all(&path);
                }
                Ok(_) => {
                    let _ = std::fs::remove_file(&path);
                }
                Err(_) => {}
            }
        }
    }
}
