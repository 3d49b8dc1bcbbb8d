//! What a run hands over to become a receipt, and how it becomes statements: line 1 for
//! the run, then (with `sign_all_steps`) one per executed or cached step.

use std::collections::BTreeMap;
use std::time::SystemTime;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use attest_hash::Manifest;

use serde::Serialize;

use crate::Hex32;
use crate::statement::{
    BUILD_TYPE, BUILDER_ID, BuildMetadata, DigestSet, EnvironmentSnapshot, PipelineRef, RunInfo, SLSA_PROVENANCE,
    STATEMENT_TYPE, Scope, SignerRef, StepParameters,
};
use crate::timestamp::rfc3339;

/// One output file of a step with both digests (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Workspace-relative path.
    pub path: String,
    /// SHA-256 (the subject digest standard verifiers read).
    pub sha256: Hex32,
    /// BLAKE3 (attest's own digest).
    pub blake3: Hex32,
}

/// A step's log (redacted), by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDigest {
    /// SHA-256 of the log bytes.
    pub sha256: Hex32,
    /// BLAKE3 of the log bytes (the cache blob holding it).
    pub blake3: Hex32,
}

/// One step as the receipt records it.
#[derive(Debug, Clone)]
pub struct StepRecord {
    /// Everything but the file digests; `inputs` and `outputs` are filled from below.
    pub parameters: StepParameters,
    /// The input files behind the step's key, shared with the run's report (a large run
    /// has hundreds of thousands): the receipt lists those that exist, with their BLAKE3.
    pub inputs: Arc<Manifest>,
    /// Output files.
    pub outputs: Vec<OutputFile>,
    /// The command's log, when it ran or its result was restored.
    pub log: Option<LogDigest>,
}

/// A finished run, as the receipt records it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The run id (the SLSA invocation id).
    pub run_id: String,
    /// When the run started.
    pub started: SystemTime,
    /// When it finished.
    pub finished: SystemTime,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// The pipeline file.
    pub pipeline: PipelineRef,
    /// Steps named on the command line.
    pub requested_steps: Vec<String>,
    /// The machine and workspace.
    pub environment: EnvironmentSnapshot,
    /// Whether each executed or cached step gets its own statement.
    pub sign_all_steps: bool,
    /// What deterministic mode fixed, when the run was deterministic.
    pub deterministic: Option<crate::DeterministicRun>,
    /// The selected steps, in their start order (longest chain of dependents first, then
    /// declaration order: a topological order).
    pub steps: Vec<StepRecord>,
}

/// Serialises the iterator a closure makes, as a JSON array, without collecting it.
struct Seq<'a, T>(Box<dyn Fn() -> Box<dyn Iterator<Item = T> + 'a> + 'a>);

impl<T: Serialize> Serialize for Seq<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

fn seq<'a, T, I: Iterator<Item = T> + 'a>(make: impl Fn() -> I + 'a) -> Seq<'a, T> {
    Seq(Box::new(move || Box::new(make())))
}

// The views below borrow from the record and serialise exactly like the owned types in
// `statement.rs` (same fields, same order): a receipt of a hundred thousand files is
// written without copying them. `statement_views_parse_and_reserialise_identically`
// holds the two in step.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceView<'a> {
    name: Cow<'a, str>,
    digest: DigestSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<&'static str>,
    #[serde(skip_serializing_if = "AnnotationsView::is_empty")]
    annotations: AnnotationsView<'a>,
}

#[derive(Serialize)]
struct AnnotationsView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    blake3: Option<Hex32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<&'a str>,
}

impl AnnotationsView<'_> {
    fn is_empty(&self) -> bool {
        self.blake3.is_none() && self.step.is_none()
    }
}

#[derive(Serialize)]
struct StepView<'a> {
    name: &'a str,
    command: &'a str,
    shell: &'a [String],
    working_dir: &'a str,
    env: &'a BTreeMap<String, String>,
    needs: &'a [String],
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    duration_secs: f64,
    cache_hit: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    miss_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    input_ranges: &'a [[usize; 2]],
    outputs: Seq<'a, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reproducibility: Option<&'a crate::ReproducibilityClaim>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isolation: Option<&'a crate::IsolationParameters>,
}

#[derive(Serialize)]
struct ExternalView<'a> {
    pipeline: &'a PipelineRef,
    steps: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunDetailsView<'a> {
    builder: BuilderView<'a>,
    metadata: BuildMetadata,
    byproducts: Seq<'a, ResourceView<'a>>,
}

#[derive(Serialize)]
struct BuilderView<'a> {
    id: &'static str,
    version: BTreeMap<&'static str, &'a str>,
}

impl StepRecord {
    /// The step as the step list records it, its input files being `input_ranges` of
    /// the resolved dependencies.
    fn view<'a>(&'a self, input_ranges: &'a [[usize; 2]]) -> StepView<'a> {
        let p = &self.parameters;
        StepView {
            name: &p.name,
            command: &p.command,
            shell: &p.shell,
            working_dir: &p.working_dir,
            env: &p.env,
            needs: &p.needs,
            status: &p.status,
            exit_code: p.exit_code,
            duration_secs: p.duration_secs,
            cache_hit: p.cache_hit,
            cache_key: p.cache_key.as_deref(),
            miss_reason: p.miss_reason.as_deref(),
            input_ranges,
            outputs: seq(move || self.outputs.iter().map(|o| o.path.as_str())),
            reproducibility: p.reproducibility.as_ref(),
            isolation: p.isolation.as_ref(),
        }
    }

    fn subjects(&self) -> impl Iterator<Item = ResourceView<'_>> {
        self.outputs.iter().map(|o| ResourceView {
            name: Cow::Borrowed(&o.path),
            digest: DigestSet::sha256(o.sha256),
            media_type: None,
            annotations: AnnotationsView { blake3: Some(o.blake3), step: Some(&self.parameters.name) },
        })
    }

    fn byproduct(&self) -> Option<ResourceView<'_>> {
        self.log.as_ref().map(|log| ResourceView {
            name: Cow::Owned(format!("log/{}", self.parameters.name)),
            digest: DigestSet::sha256(log.sha256),
            media_type: Some("text/plain"),
            annotations: AnnotationsView { blake3: Some(log.blake3), step: Some(&self.parameters.name) },
        })
    }
}

/// The input files listed so far, each found again by its path. The map holds only each
/// path's hash and its place in the list: growing it moves and reads no path (a map keyed
/// by the paths themselves would read every listed path again, from manifests all over
/// memory, each time it grows).
#[derive(Default)]
struct Listed {
    /// A path's hash to the first listed path with that hash.
    by_hash: HashMap<u64, usize, attest_hash::PathHashBuilder>,
    /// Each listed path, in the list's order.
    paths: Vec<ListedPath>,
    /// The manifests that hold the listed paths (one reference per step, not per path).
    manifests: Vec<Arc<Manifest>>,
}

/// A listed input file's path, as an entry of one of [`Listed::manifests`] (no copy of
/// the text), and the next listed path with the same hash, if any.
struct ListedPath {
    manifest: usize,
    entry: usize,
    same_hash: Option<usize>,
}

impl Listed {
    /// Makes room for the paths of `manifest`, whose entries [`Listed::place`] is given
    /// next.
    fn start(&mut self, manifest: &Arc<Manifest>) {
        self.by_hash.reserve(manifest.len());
        self.paths.reserve(manifest.len());
        self.manifests.push(Arc::clone(manifest));
    }

    fn path(&self, listed: &ListedPath) -> &str {
        self.manifests[listed.manifest].entries()[listed.entry].path.as_str()
    }

    /// The place in the list of entry `entry` of the manifest last [started](Listed::start),
    /// and whether it is new there (appended now).
    fn place(&mut self, entry: usize) -> (usize, bool) {
        let manifest = &self.manifests[self.manifests.len() - 1];
        let hash = std::hash::BuildHasher::hash_one(
            &attest_hash::PathHashBuilder::default(),
            manifest.entries()[entry].path.as_str(),
        );
        self.place_hashed(hash, entry)
    }

    /// [`Listed::place`] with the path's `hash` given.
    fn place_hashed(&mut self, hash: u64, entry: usize) -> (usize, bool) {
        let manifest = self.manifests.len() - 1;
        let new = self.paths.len();
        let mut last = match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(vacant) => {
                vacant.insert(new);
                self.paths.push(ListedPath { manifest, entry, same_hash: None });
                return (new, true);
            }
            std::collections::hash_map::Entry::Occupied(first) => *first.get(),
        };
        let path = self.manifests[manifest].entries()[entry].path.as_str();
        loop {
            if self.path(&self.paths[last]) == path {
                return (last, false);
            }
            match self.paths[last].same_hash {
                Some(next) => last = next,
                None => break,
            }
        }
        self.paths[last].same_hash = Some(new);
        self.paths.push(ListedPath { manifest, entry, same_hash: None });
        (new, true)
    }
}

/// The run statement's first part (see [`crate::Statement`] for the order), built one
/// step at a time in the record's order, so that a run can write most of its receipt
/// while its later steps still run: [`StatementHead::opening`], then what
/// [`StatementHead::add_step`] returns for each step (the step's input files that no
/// earlier step named, each once, where a step first names it), then
/// [`StatementHead::close`] (the step list, each step's input files as ranges of the
/// resolved dependencies).
#[derive(Default)]
pub(crate) struct StatementHead {
    /// Every input file listed so far.
    listed: Listed,
    /// The step list's elements so far.
    steps: Vec<u8>,
    /// Whether a step was added.
    any_step: bool,
}

impl StatementHead {
    /// The statement's JSON up to the first resolved dependency.
    pub(crate) fn opening(pipeline: &PipelineRef, requested_steps: &[String]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        field(&mut out, b"{\"_type\":", &STATEMENT_TYPE);
        field(&mut out, b",\"predicateType\":", &SLSA_PROVENANCE);
        field(&mut out, b",\"predicate\":{\"buildDefinition\":{\"buildType\":", &BUILD_TYPE);
        field(&mut out, b",\"externalParameters\":", &ExternalView { pipeline, steps: requested_steps });
        out.extend_from_slice(b",\"resolvedDependencies\":[");
        out
    }

    /// Adds the next step: returns the resolved dependencies it adds, as JSON array
    /// elements that follow the earlier ones; its entry in the step list waits for
    /// [`StatementHead::close`].
    pub(crate) fn add_step(&mut self, step: &StepRecord) -> Vec<u8> {
        let mut out = Vec::with_capacity(step.inputs.len() * 128);
        let mut ranges: Vec<[usize; 2]> = Vec::new();
        self.listed.start(&step.inputs);
        for (entry, file) in step.inputs.entries().iter().enumerate() {
            let Some(digest) = &file.digest else { continue };
            let (index, new) = self.listed.place(entry);
            if new {
                if index > 0 {
                    out.push(b',');
                }
                write_dependency(file.path.as_str(), Hex32(*digest.as_bytes()), &mut out);
            }
            match ranges.last_mut() {
                Some(range) if range[1] == index => range[1] += 1,
                _ => ranges.push([index, index + 1]),
            }
        }
        if self.any_step {
            self.steps.push(b',');
        }
        self.any_step = true;
        json(&mut self.steps, &step.view(&ranges));
        out
    }

    /// The rest of the first part: the end of the dependencies and the step list.
    pub(crate) fn close(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.steps.len() + 64);
        out.extend_from_slice(b"],\"internalParameters\":{\"steps\":[");
        out.extend_from_slice(&self.steps);
        out.push(b']');
        out
    }
}

/// `value` as compact JSON, appended to `out`.
fn json(out: &mut Vec<u8>, value: &impl Serialize) {
    serde_json::to_writer(out, value).expect("statements serialise to JSON");
}

/// A resolved dependency as serde writes it, without serde's per-byte machinery for the
/// common name that needs no escaping (a receipt can list a hundred thousand).
fn write_dependency(path: &str, blake3: Hex32, out: &mut Vec<u8>) {
    if path.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return json(out, &dependency(path, blake3));
    }
    out.extend_from_slice(b"{\"name\":\"");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b"\",\"digest\":{\"blake3\":\"");
    out.extend_from_slice(&blake3.encode());
    out.extend_from_slice(b"\"}}");
}

/// `prefix` (the JSON text before a field's value) and the value.
fn field(out: &mut Vec<u8>, prefix: &[u8], value: &impl Serialize) {
    out.extend_from_slice(prefix);
    json(out, value);
}

fn dependency(path: &str, blake3: Hex32) -> ResourceView<'_> {
    ResourceView {
        name: Cow::Borrowed(path),
        digest: DigestSet::blake3(blake3),
        media_type: None,
        annotations: AnnotationsView { blake3: None, step: None },
    }
}

impl RunRecord {
    /// The statement's JSON up to the end of its step list (see [`StatementHead`]).
    fn statement_head(&self, steps: &[StepRecord]) -> Vec<u8> {
        let mut head = StatementHead::default();
        let mut out = StatementHead::opening(&self.pipeline, &self.requested_steps);
        for step in steps {
            out.extend_from_slice(&head.add_step(step));
        }
        out.extend_from_slice(&head.close());
        out
    }

    /// The rest of the statement after [`RunRecord::statement_head`]: the run, the
    /// environment (run statements), the signer, the run details and the subject.
    fn statement_tail(&self, scope: Scope, steps: &[StepRecord], signer: Option<&SignerRef>) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 * 1024);
        let run = RunInfo {
            scope,
            status: self.status.clone(),
            duration_secs: seconds(self.finished.duration_since(self.started).unwrap_or_default()),
            sign_all_steps: self.sign_all_steps,
            deterministic: self.deterministic,
        };
        field(&mut out, b",\"run\":", &run);
        if scope == Scope::Run {
            field(&mut out, b",\"environment\":", &self.environment);
        }
        if let Some(signer) = signer {
            field(&mut out, b",\"signer\":", signer);
        }
        let details = RunDetailsView {
            builder: BuilderView {
                id: BUILDER_ID,
                version: BTreeMap::from([("attest", self.environment.attest_version.as_str())]),
            },
            metadata: BuildMetadata {
                invocation_id: self.run_id.clone(),
                started_on: rfc3339(self.started),
                finished_on: rfc3339(self.finished),
            },
            byproducts: seq(move || steps.iter().filter_map(StepRecord::byproduct)),
        };
        field(&mut out, b"}},\"runDetails\":", &details);
        field(&mut out, b"},\"subject\":", &seq(move || steps.iter().flat_map(StepRecord::subjects)));
        out.push(b'}');
        out
    }

    /// The statement about `steps`, as JSON: [`RunRecord::statement_head`] and
    /// [`RunRecord::statement_tail`].
    fn statement_json(&self, scope: Scope, steps: &[StepRecord], signer: Option<&SignerRef>) -> Vec<u8> {
        let mut out = self.statement_head(steps);
        out.extend_from_slice(&self.statement_tail(scope, steps, signer));
        out
    }

    /// The run statement's rest, after its [`StatementHead`].
    pub(crate) fn run_statement_tail(&self, signer: Option<&SignerRef>) -> Vec<u8> {
        self.statement_tail(Scope::Run, &self.steps, signer)
    }

    /// The payloads of the receipt, as JSON: the run statement first, then one statement
    /// per executed or cached step when `sign_all_steps`.
    pub fn statement_payloads(&self, signer: Option<&SignerRef>) -> impl Iterator<Item = Vec<u8>> + '_ {
        let run = self.statement_json(Scope::Run, &self.steps, signer);
        std::iter::once(run).chain(self.step_statement_payloads(signer))
    }

    /// The step statements' payloads (none unless `sign_all_steps`): one per executed or
    /// cached step.
    pub(crate) fn step_statement_payloads(&self, signer: Option<&SignerRef>) -> impl Iterator<Item = Vec<u8>> + '_ {
        let signer = signer.cloned();
        let steps: &[StepRecord] = if self.sign_all_steps { &self.steps } else { &[] };
        steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.parameters.status == "succeeded")
            .map(move |(i, _)| self.statement_json(Scope::Step, &self.steps[i..=i], signer.as_ref()))
    }
}

/// Seconds, rounded to milliseconds.
pub fn seconds(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// A new run id: 16 random lowercase hex digits.
pub fn new_run_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: fall back to the clock, which is unique enough for a file name.
        let nanos = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes = (nanos as u64).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::{GitInfo, Statement};
    use attest_hash::EntryKind;

    /// Input files as a step's manifest holds them.
    fn files(list: impl IntoIterator<Item = (String, Hex32)>) -> Arc<Manifest> {
        let entry = |(path, blake3): (String, Hex32)| attest_hash::ManifestEntry {
            path: attest_hash::RelPath::new(&path).unwrap(),
            kind: EntryKind::File,
            executable: false,
            digest: Some(attest_hash::Digest::blake3(blake3.0)),
            size: 0,
        };
        Arc::new(Manifest::new(list.into_iter().map(entry).collect()))
    }

    fn step(name: &str, status: &str, with_log: bool) -> StepRecord {
        StepRecord {
            parameters: StepParameters {
                name: name.to_owned(),
                command: "echo \"quoted\" \\ back".to_owned(),
                shell: vec!["sh".to_owned(), "-c".to_owned()],
                working_dir: ".".to_owned(),
                env: BTreeMap::from([("A".to_owned(), "1".to_owned()), ("PATH".to_owned(), "/bin".to_owned())]),
                needs: vec!["other".to_owned()],
                status: status.to_owned(),
                exit_code: Some(0).filter(|_| with_log),
                duration_secs: 1.25,
                cache_hit: !with_log,
                cache_key: Some("blake3:ab".to_owned()).filter(|_| with_log),
                miss_reason: Some("input changed: ä.txt".to_owned()).filter(|_| with_log),
                inputs: Vec::new(),
                input_ranges: Vec::new(),
                outputs: Vec::new(),
                reproducibility: (name == "a").then(|| crate::ReproducibilityClaim {
                    verified: true,
                    runs: 2,
                    method: "rebuilt".to_owned(),
                }),
                isolation: Some(crate::IsolationParameters {
                    level: "sandbox".to_owned(),
                    sandbox: (name == "b").then(|| crate::SandboxParameters {
                        root: "/work".to_owned(),
                        system_paths: vec!["/usr".to_owned()],
                        writable: vec![format!("out/{name}")],
                        tmpfs: vec!["/tmp".to_owned()],
                        network: "loopback".to_owned(),
                        hostname: "attest".to_owned(),
                        uid: 1000,
                        gid: 1000,
                        landlock_abi: Some(6),
                    }),
                    container: (name == "c").then(|| crate::ContainerParameters {
                        image: format!("localhost/tools@sha256:{}", "ab".repeat(32)),
                        digest: format!("sha256:{}", "ab".repeat(32)),
                        engine: "podman".to_owned(),
                        root: "/work".to_owned(),
                        writable: vec![format!("out/{name}")],
                        tmpfs: vec!["/tmp".to_owned()],
                        network: "none".to_owned(),
                        read_only_root: true,
                    }),
                    vm: (name == "d").then(|| crate::VmParameters {
                        engine: "qemu microvm".to_owned(),
                        kernel: "/boot/vmlinuz-6.1.0-28-amd64".to_owned(),
                        kernel_digest: format!("sha256:{}", "cd".repeat(32)),
                        initramfs: "attest".to_owned(),
                        initramfs_digest: format!("sha256:{}", "ef".repeat(32)),
                        root: "/work".to_owned(),
                        writable: vec![format!("out/{name}")],
                        network: "none".to_owned(),
                    }),
                }),
            },
            inputs: files([("src/ä.txt".to_owned(), Hex32([1; 32])), ("shared".to_owned(), Hex32([2; 32]))]),
            outputs: vec![OutputFile { path: format!("out/{name}"), sha256: Hex32([3; 32]), blake3: Hex32([4; 32]) }],
            log: with_log.then_some(LogDigest { sha256: Hex32([5; 32]), blake3: Hex32([6; 32]) }),
        }
    }

    fn record(steps: Vec<StepRecord>) -> RunRecord {
        RunRecord {
            run_id: "00ff".to_owned(),
            started: UNIX_EPOCH + Duration::from_millis(1_790_000_000_123),
            finished: UNIX_EPOCH + Duration::from_millis(1_790_000_002_456),
            status: "failed".to_owned(),
            pipeline: PipelineRef {
                name: "p".to_owned(),
                path: "attest.yaml".to_owned(),
                digest: DigestSet { blake3: Some(Hex32([7; 32])), sha256: Some(Hex32([8; 32])) },
            },
            requested_steps: vec!["a".to_owned()],
            environment: EnvironmentSnapshot {
                os: "linux".to_owned(),
                arch: "x86_64".to_owned(),
                kernel: Some("6".to_owned()),
                attest_version: "0.1.0".to_owned(),
                git: Some(GitInfo { commit: "c".repeat(40), branch: None, dirty: true }),
                lock_files: BTreeMap::from([("Cargo.lock".to_owned(), "9".repeat(64))]),
                tools: BTreeMap::from([("cc".to_owned(), "cc 12".to_owned())]),
            },
            sign_all_steps: true,
            deterministic: Some(crate::DeterministicRun { source_date_epoch: 1_700_000_000, umask: 0o22 }),
            steps,
        }
    }

    /// The borrowed views write exactly what the owned `Statement` types read and write.
    #[test]
    fn statement_views_parse_and_reserialise_identically() {
        let record = record(vec![
            step("a", "succeeded", true),
            step("b", "succeeded", false),
            step("c", "failed", true),
            step("d", "succeeded", true),
        ]);
        let signer = SignerRef { keyid: "k".to_owned(), public_key: "pem".to_owned() };
        let payloads: Vec<Vec<u8>> = record.statement_payloads(Some(&signer)).collect();
        assert_eq!(payloads.len(), 4, "run + the three succeeded steps");
        for payload in &payloads {
            let statement: Statement = serde_json::from_slice(payload).unwrap();
            assert_eq!(serde_json::to_vec(&statement).unwrap(), *payload, "{}", String::from_utf8_lossy(payload));
        }
        let run: Statement = serde_json::from_slice(&payloads[0]).unwrap();
        assert_eq!(run.predicate.build_definition.resolved_dependencies.len(), 2, "inputs shared by steps appear once");
        assert_eq!(run.step_inputs(&run.steps()[0]).unwrap(), ["shared", "src/ä.txt"], "in path order");
        assert_eq!(run.steps()[1].input_ranges, [[0, 2]], "the second step names the same two files");
        assert_eq!(run.predicate.run_details.byproducts.len(), 3);
    }

    /// Files named by several steps are listed once, where the first step names them;
    /// the others keep the steps' order.
    #[test]
    fn inputs_are_listed_once_in_the_order_the_steps_name_them() {
        let with_inputs = |lists: &[&[&str]]| -> Vec<StepRecord> {
            lists
                .iter()
                .enumerate()
                .map(|(i, list)| {
                    let mut record = step(&format!("s{i}"), "succeeded", true);
                    record.inputs = files(list.iter().map(|p| ((*p).to_owned(), Hex32([i as u8; 32]))));
                    record
                })
                .collect()
        };
        // The resolved dependencies the steps add, one after the other.
        let listed = |steps: &[StepRecord]| -> Vec<(String, String)> {
            let mut head = StatementHead::default();
            let elements: Vec<u8> = steps.iter().flat_map(|step| head.add_step(step)).collect();
            let list: Vec<serde_json::Value> = serde_json::from_slice(&[b"[", &elements[..], b"]"].concat()).unwrap();
            let text = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
            list.iter().map(|d| (text(&d["name"]), text(&d["digest"]["blake3"]))).collect()
        };
        let names = |steps: &[StepRecord]| -> Vec<String> { listed(steps).into_iter().map(|(name, _)| name).collect() };
        // Named out of path order by the steps: kept in the steps' order.
        let disjoint = with_inputs(&[&["b/1", "b/2"], &[], &["a/1", "a/9"], &["c/1"]]);
        assert_eq!(names(&disjoint), ["b/1", "b/2", "a/1", "a/9", "c/1"]);
        let border = with_inputs(&[&["a/1", "b/1"], &["b/1", "c/1"]]);
        assert_eq!(names(&border), ["a/1", "b/1", "c/1"]);
        let inside = with_inputs(&[&["a/1", "c/1"], &["b/1"], &["a/1", "b/1", "d/1"]]);
        assert_eq!(names(&inside), ["a/1", "c/1", "b/1", "d/1"]);
        assert_eq!(listed(&inside)[0].1, "00".repeat(32), "the first step to name a file gives its digest");
    }

    /// Paths whose hashes collide are still told apart, and each is found again.
    #[test]
    fn listed_paths_with_the_same_hash_stay_apart() {
        let manifest = files(["a", "b", "c"].iter().map(|p| ((*p).to_owned(), Hex32([0; 32]))));
        let mut listed = Listed::default();
        listed.start(&manifest);
        assert_eq!(listed.place_hashed(7, 0), (0, true));
        assert_eq!(listed.place_hashed(7, 1), (1, true), "same hash, other path");
        assert_eq!(listed.place_hashed(7, 2), (2, true));
        assert_eq!(listed.place_hashed(9, 1), (3, true), "the hash decides where to look");
        listed.start(&manifest);
        for entry in 0..3 {
            assert_eq!(listed.place_hashed(7, entry), (entry, false), "found again, from another manifest");
        }
        assert_eq!(listed.place(2), (4, true), "its real hash differs");
        assert_eq!(listed.place(2), (4, false));
    }

    /// A file name with quotes, a newline, a control character and non-ASCII text.
    const ESCAPED: &str = "q\"uote\nline\u{1}é\u{7f}";

    /// Lists long enough to be rendered in several chunks come out whole, in order, and
    /// still exactly as the owned types write them.
    #[test]
    fn long_lists_rendered_in_parallel_keep_their_order() {
        let mut steps: Vec<StepRecord> = (0..3).map(|i| step(&format!("s{i}"), "succeeded", true)).collect();
        for (i, step) in steps.iter_mut().enumerate() {
            // A name serde must escape, among the plain ones (in place of f09000).
            let name = |n: usize| match n + i * 2500 {
                9000 => ESCAPED.to_owned(),
                n => format!("f{n:05}"),
            };
            step.inputs = files((0..5000).map(|n| (name(n), Hex32([(n % 251) as u8; 32]))));
        }
        let mut record = record(steps);
        record.sign_all_steps = false;
        let payloads: Vec<Vec<u8>> = record.statement_payloads(None).collect();
        assert_eq!(payloads.len(), 1);
        let statement: Statement = serde_json::from_slice(&payloads[0]).unwrap();
        assert_eq!(serde_json::to_vec(&statement).unwrap(), payloads[0]);
        let names: Vec<&str> =
            statement.predicate.build_definition.resolved_dependencies.iter().map(|d| d.name.as_str()).collect();
        let mut expected: Vec<String> = (0..10_000).filter(|&n| n != 9000).map(|n| format!("f{n:05}")).collect();
        expected.push(ESCAPED.to_owned());
        assert_eq!(names, expected, "each file once, where a step first names it");
        let inputs = |i: usize| statement.step_inputs(&statement.steps()[i]).unwrap();
        assert_eq!(inputs(1).len(), 5000);
        assert_eq!(inputs(2)[4998], "f09999");
        assert_eq!(inputs(2)[4999], ESCAPED);
        // Files an earlier step listed and the step's own new ones, in one range each.
        assert_eq!(statement.steps()[1].input_ranges, [[2500, 7500]]);
        assert_eq!(statement.steps()[2].input_ranges, [[5000, 10_000]]);
    }

    /// The receipt written step by step, its environment set at the end (as a run
    /// does), is byte for byte the receipt of the finished record written at once, signed
    /// or not, and with large payloads whose parts are not multiples of three bytes long.
    #[test]
    fn a_receipt_written_step_by_step_equals_one_written_at_once() {
        let key = crate::KeyPair::generate().unwrap();
        for (inputs, key) in [(0, None), (3, Some(&key)), (40_000, None), (40_001, Some(&key))] {
            let mut steps: Vec<StepRecord> = ["a", "b", "c"].iter().map(|n| step(n, "succeeded", true)).collect();
            steps[1].inputs = files((0..inputs).map(|n| (format!("d/f{n}"), Hex32([(n % 7) as u8; 32]))));
            let mut finished = record(steps);
            finished.sign_all_steps = key.is_some();
            let mut expected = Vec::new();
            crate::write_envelopes(&mut expected, &finished, key).unwrap();

            let dir = tempfile::tempdir().unwrap();
            let (run_id, started) = (&finished.run_id, finished.started);
            let mut writer = crate::ReceiptWriter::create(
                dir.path(),
                run_id,
                started,
                &finished.pipeline,
                &finished.requested_steps,
                key.is_some(),
            )
            .unwrap();
            for step in &finished.steps {
                writer.add_step(step).unwrap();
            }
            let path = writer.finish(&finished, key).unwrap();
            assert!(std::fs::read(&path).unwrap() == expected, "{inputs} inputs, signed: {}", key.is_some());
            let (envelope, statement) = crate::read_run_statement(&String::from_utf8(expected).unwrap()).unwrap();
            assert_eq!(
                statement.predicate.build_definition.internal_parameters.environment.and_then(|e| e.git),
                finished.environment.git
            );
            if let Some(key) = key {
                assert!(envelope.verify_signature(0, key.public()));
            }
        }
    }

    /// A receipt finished with steps it was not given, or signed though it was created
    /// unsigned, is refused, and nothing is left in the directory.
    #[test]
    fn a_receipt_finished_inconsistently_is_refused_and_removed() {
        let key = crate::KeyPair::generate().unwrap();
        let finished = record(vec![step("a", "succeeded", true), step("b", "succeeded", true)]);
        let dir = tempfile::tempdir().unwrap();
        let create = |signed| {
            let (run_id, started) = (&finished.run_id, finished.started);
            crate::ReceiptWriter::create(dir.path(), run_id, started, &finished.pipeline, &[], signed).unwrap()
        };
        let mut one_step = create(false);
        one_step.add_step(&finished.steps[0]).unwrap();
        let err = one_step.finish(&finished, None).unwrap_err();
        assert!(format!("{:?}", std::error::Error::source(&err)).contains("1 steps were written for a run of 2"));
        let mut unsigned = create(false);
        for step in &finished.steps {
            unsigned.add_step(step).unwrap();
        }
        let err = unsigned.finish(&finished, Some(&key)).unwrap_err();
        assert!(format!("{:?}", std::error::Error::source(&err)).contains("not created to be signed"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no receipt and no temporary file");
    }
}
