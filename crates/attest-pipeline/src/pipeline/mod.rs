//! The checked pipeline and the semantic checks that produce it.

mod container_image;
mod event_handlers;
mod sandbox_settings;
mod vm_image;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use attest_hash::{Digest, FileSet, RelPath, RelPathError};
use serde::{Deserialize, Serialize};

use crate::did_you_mean::did_you_mean;
use crate::error::{PipelineError, PipelineErrors};
use crate::graph::Graph;
use crate::node::{Location, Node, PathPart, Value, parse_yaml};
use crate::raw_pipeline::{Isolation, RawPipeline, RawStep, json_schema};
use crate::schema_check;
use crate::units::{parse_duration, parse_size};

pub use container_image::ContainerImage;
pub use event_handlers::{DEFAULT_WEBHOOK_RETRIES, DEFAULT_WEBHOOK_TIMEOUT, EVENT_TYPES, EventHandler, HandlerTarget};
pub use sandbox_settings::SandboxSettings;
pub use vm_image::VmImage;

/// The only schema version this attest reads.
const SCHEMA_VERSION: &str = "0.1";
/// What a step name may contain.
pub const WORKSPACE_STEP_NAME_RULE: &str = "letters, digits, `-`, `_` and `.`, starting with a letter, digit or `_`";

/// Cache settings with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheSettings {
    /// Whether the cache is used at all.
    pub enabled: bool,
    /// Size cap in bytes for LRU eviction.
    pub max_size: Option<u64>,
    /// Whether blobs are stored zstd-compressed.
    pub compression: bool,
    /// Entries unused for this many days are evicted.
    pub retention_days: Option<u32>,
}

/// Receipt and verification settings with defaults applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationSettings {
    /// Write a statement per executed or cached step, not only per run.
    pub sign_all_steps: bool,
    /// Check upstream outputs against their recorded digests before a step runs.
    pub verify_dependencies: bool,
    /// Fail steps whose outputs contain credentials.
    pub scan_outputs: bool,
}

/// A checked step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Unique name.
    pub name: String,
    /// Human description.
    pub description: Option<String>,
    /// The command text.
    pub run: String,
    /// The shell argv; the command is appended as the last argument.
    pub shell: Vec<String>,
    /// Input patterns; `None` means the whole workspace (minus ignores and outputs).
    pub inputs: Option<Vec<String>>,
    /// Declared outputs (files or directories).
    pub outputs: Vec<RelPath>,
    /// Indexes of the steps this one needs, in declaration order.
    pub needs: Vec<usize>,
    /// Variables set for the command: the pipeline's `env` overlaid with the step's.
    pub env: BTreeMap<String, String>,
    /// Host variables that may reach the command.
    pub env_passthrough: Vec<String>,
    /// Host variables that reach the command as secrets (the pipeline's and the step's).
    pub secrets: Vec<String>,
    /// Tools whose versions the receipt records.
    pub tools: Vec<String>,
    /// Whether results are cached.
    pub cache: bool,
    /// Time limit.
    pub timeout: Option<Duration>,
    /// Directory to run in, relative to the workspace root.
    pub working_dir: Option<RelPath>,
    /// Isolation level.
    pub isolation: Isolation,
    /// What the step sees of the host when it runs in a sandbox.
    #[serde(default)]
    pub sandbox: SandboxSettings,
    /// The image a container step runs in (`isolation: container`), pinned by digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ContainerImage>,
    /// The kernel and initramfs a VM step boots (`isolation: vm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_image: Option<VmImage>,
    /// Its outputs must be bit-for-bit reproducible (`attestation.reproducible`, or the
    /// pipeline's `attestation.require_reproducible`): it is built twice and compared.
    #[serde(default)]
    pub reproducible: bool,
}

/// A checked pipeline: everything in it has been validated.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "PipelineSnapshot", into = "PipelineSnapshot")]
pub struct Pipeline {
    /// The `name:` key, if given.
    pub name: Option<String>,
    /// The `description:` key.
    pub description: Option<String>,
    /// Cache settings.
    pub cache: CacheSettings,
    /// Receipt and verification settings.
    pub attestation: AttestationSettings,
    /// Whether steps run in deterministic mode (`deterministic: true`).
    pub deterministic: bool,
    /// Where run events are delivered (`events.handlers`).
    pub events: Vec<EventHandler>,
    /// Steps in the order they are declared.
    pub steps: Vec<Step>,
    /// BLAKE3 of the file's bytes.
    pub digest: Digest,
    graph: Graph,
}

/// The serialised form of a checked [`Pipeline`] (the graph is rebuilt on load).
#[derive(Serialize, Deserialize)]
struct PipelineSnapshot {
    name: Option<String>,
    description: Option<String>,
    cache: CacheSettings,
    attestation: AttestationSettings,
    #[serde(default)]
    deterministic: bool,
    events: Vec<EventHandler>,
    steps: Vec<Step>,
    digest: Digest,
}

impl From<Pipeline> for PipelineSnapshot {
    fn from(p: Pipeline) -> Self {
        Self {
            name: p.name,
            description: p.description,
            cache: p.cache,
            attestation: p.attestation,
            deterministic: p.deterministic,
            events: p.events,
            steps: p.steps,
            digest: p.digest,
        }
    }
}

impl TryFrom<PipelineSnapshot> for Pipeline {
    type Error = String;

    fn try_from(s: PipelineSnapshot) -> Result<Self, String> {
        if s.steps.iter().flat_map(|step| &step.needs).any(|&n| n >= s.steps.len()) {
            return Err("a step needs a step that does not exist".to_owned());
        }
        let graph = Graph::new(s.steps.iter().map(|step| step.needs.clone()).collect())
            .map_err(|_| "the steps form a cycle".to_owned())?;
        Ok(Self {
            name: s.name,
            description: s.description,
            cache: s.cache,
            attestation: s.attestation,
            deterministic: s.deterministic,
            events: s.events,
            steps: s.steps,
            digest: s.digest,
            graph,
        })
    }
}

/// What a cached parse is valid for: the file's name and bytes, this attest's version and
/// its schema. Any change of these means a full parse.
/// The pipeline file's JSON Schema as checked in (`attest pipeline schema` prints the
/// same text; a test in the CLI's suite fails when they drift): part of the key of a
/// cached parse, read at compile time instead of generated by every run.
const CHECKED_IN_SCHEMA: &str = include_str!("../../../../schemas/attest.schema.json");

fn snapshot_key(file: &str, source: &str) -> Digest {
    let mut hasher = blake3::Hasher::new();
    for part in [env!("CARGO_PKG_VERSION").as_bytes(), CHECKED_IN_SCHEMA.as_bytes(), file.as_bytes(), source.as_bytes()]
    {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    Digest::blake3(*hasher.finalize().as_bytes())
}

#[derive(Serialize, Deserialize)]
struct CachedParse {
    key: Digest,
    pipeline: Pipeline,
}

impl Pipeline {
    /// Like [`parse`](Self::parse), but reuses `cached` (bytes from
    /// [`to_cached`](Self::to_cached)) when it was made from the same file name, bytes,
    /// attest version and schema; otherwise parses. Returns the pipeline and, when it had
    /// to parse, fresh cache bytes to store.
    pub fn parse_cached(
        file: &str,
        source: &str,
        cached: Option<&[u8]>,
    ) -> Result<(Self, Option<Vec<u8>>), PipelineErrors> {
        let key = snapshot_key(file, source);
        if let Some(hit) =
            cached.and_then(|bytes| serde_json::from_slice::<CachedParse>(bytes).ok()).filter(|c| c.key == key)
        {
            return Ok((hit.pipeline, None));
        }
        let pipeline = Self::parse(file, source)?;
        let bytes = serde_json::to_vec(&CachedParse { key, pipeline: pipeline.clone() }).ok();
        Ok((pipeline, bytes))
    }

    /// Parses and checks `source`, the contents of the pipeline file named `file` (used in
    /// messages). Returns every problem found, sorted by location.
    pub fn parse(file: &str, source: &str) -> Result<Self, PipelineErrors> {
        let error = |location: Option<Location>, message: String, hint: Option<String>| PipelineError {
            file: file.to_owned(),
            location,
            message,
            hint,
        };
        let node = parse_yaml(source).map_err(|e| {
            PipelineErrors::new(vec![error(
                e.location,
                format!("invalid YAML: {}", e.message),
                Some("check indentation and quoting around this place".to_owned()),
            )])
        })?;
        if matches!(node.value, Value::Null) {
            return Err(PipelineErrors::new(vec![error(
                None,
                "the pipeline file is empty".to_owned(),
                Some("run `attest init` for a starter, or add `version: \"0.1\"` and `steps:`".to_owned()),
            )]));
        }
        let mut node = node;
        let problems = schema_check::check(&json_schema(), &node);
        let only_unknown_keys = problems.iter().all(|p| p.unknown_key.is_some());
        for problem in &problems {
            if let Some(path) = &problem.unknown_key {
                node.remove(path);
            }
        }
        let structural: Vec<PipelineError> =
            problems.into_iter().map(|p| error(Some(p.location), p.message, p.hint)).collect();
        if !only_unknown_keys {
            return Err(PipelineErrors::new(structural));
        }
        let raw: RawPipeline = serde_json::from_value(node.to_json()).map_err(|e| {
            PipelineErrors::new(vec![error(
                None,
                format!("this is a bug in attest, please report it: checked pipeline failed to load: {e}"),
                None,
            )])
        })?;
        let mut checker = Semantics { file, node: &node, errors: structural };
        let pipeline = checker.build(raw, Digest::of_bytes(source.as_bytes()));
        match pipeline {
            Some(pipeline) if checker.errors.is_empty() => Ok(pipeline),
            _ => Err(PipelineErrors::new(checker.errors)),
        }
    }

    /// The step graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The index of the step called `name`.
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name == name)
    }

    /// Runs every step at `level` (`attest run --isolation`), whatever its `isolation:`.
    pub fn set_isolation(&mut self, level: Isolation) {
        for step in &mut self.steps {
            step.isolation = level;
        }
    }

    /// The step names closest to `name`, for "did you mean" in the CLI.
    pub fn suggest_step(&self, name: &str) -> Option<&str> {
        let names: Vec<&str> = self.steps.iter().map(|s| s.name.as_str()).collect();
        did_you_mean(name, &names)
    }
}

struct Semantics<'a> {
    file: &'a str,
    node: &'a Node,
    errors: Vec<PipelineError>,
}

fn key(k: &str) -> PathPart {
    PathPart::Key(k.to_owned())
}

fn valid_step_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn shell_argv(shell: &str) -> Vec<String> {
    let mut argv: Vec<String> = shell.split_whitespace().map(str::to_owned).collect();
    if argv.len() == 1 {
        argv.push("-c".to_owned());
    }
    argv
}

impl Semantics<'_> {
    fn at(&self, path: &[PathPart]) -> Option<Location> {
        self.node.find(path).map(|n| n.location)
    }

    fn key_at(&self, path: &[PathPart], name: &str) -> Option<Location> {
        self.node.find(path).and_then(|n| n.key_location(name))
    }

    fn push(&mut self, location: Option<Location>, message: String, hint: Option<String>) {
        self.errors.push(PipelineError { file: self.file.to_owned(), location, message, hint });
    }

    fn step_order(&self) -> Vec<String> {
        match self.node.find(&[key("steps")]).map(|n| &n.value) {
            Some(Value::Mapping(entries)) => entries.iter().map(|(k, _, _)| k.clone()).collect(),
            _ => Vec::new(),
        }
    }

    fn build(&mut self, raw: RawPipeline, digest: Digest) -> Option<Pipeline> {
        if raw.version != SCHEMA_VERSION {
            self.push(
                self.at(&[key("version")]),
                format!("unsupported pipeline version `{}`", raw.version),
                Some(format!("this attest reads `version: \"{SCHEMA_VERSION}\"`")),
            );
        }
        for name in raw.env.keys() {
            self.env_name(name, &[key("env")], "env");
        }
        self.secret_names(&raw.secrets, &[key("secrets")], &raw.env);
        let cache = self.cache_settings(&raw);
        let events = self.event_handlers(&raw);
        if let Some(shell) = &raw.shell
            && shell.trim().is_empty()
        {
            self.push(
                self.at(&[key("shell")]),
                "`shell` is empty".to_owned(),
                Some("remove it to use `sh -c`".to_owned()),
            );
        }
        let order = self.step_order();
        if order.is_empty() {
            self.push(
                self.at(&[key("steps")]),
                "the pipeline has no steps".to_owned(),
                Some("add a step, e.g. `steps: { build: { run: make } }`".to_owned()),
            );
        }
        let index: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let names: Vec<&str> = order.iter().map(String::as_str).collect();
        let mut steps = Vec::with_capacity(order.len());
        for name in &order {
            let raw_step = raw.steps.get(name)?;
            steps.push(self.step(name, raw_step, &raw, &index, &names));
        }
        self.overlapping_outputs(&steps);
        let dependencies: Vec<Vec<usize>> = steps.iter().map(|s| s.needs.clone()).collect();
        let graph = match Graph::new(dependencies) {
            Ok(graph) => graph,
            Err(cycles) => {
                for cycle in cycles {
                    let path: Vec<&str> = cycle.iter().map(|&i| order[i].as_str()).collect();
                    let first = &order[cycle[0]];
                    self.push(
                        self.key_at(&[key("steps")], first),
                        format!("steps form a cycle: {}", path.join(" -> ")),
                        Some("remove one of these `needs` so that the steps can run in order".to_owned()),
                    );
                }
                return None;
            }
        };
        let attestation = raw.attestation.as_ref().map_or_else(AttestationSettings::default, |a| AttestationSettings {
            sign_all_steps: a.sign_all_steps,
            verify_dependencies: a.verify_dependencies,
            scan_outputs: a.scan_outputs,
        });
        Some(Pipeline {
            name: raw.name,
            description: raw.description,
            cache,
            attestation,
            deterministic: raw.deterministic,
            events,
            steps,
            digest,
            graph,
        })
    }

    fn env_name(&mut self, name: &str, path: &[PathPart], what: &str) {
        if !valid_env_name(name) {
            self.push(
                self.key_at(path, name),
                format!("`{name}` is not a valid variable name in `{what}`"),
                Some("use letters, digits and `_`, not starting with a digit".to_owned()),
            );
        }
    }

    /// Secrets must be valid names and must not also be set in `env` (their values come
    /// from the host, never from attest.yaml).
    fn secret_names(&mut self, secrets: &[String], path: &[PathPart], env: &BTreeMap<String, String>) {
        for (i, secret) in secrets.iter().enumerate() {
            let item = [path, &[PathPart::Index(i)]].concat();
            if !valid_env_name(secret) {
                self.push(
                    self.at(&item),
                    format!("`{secret}` is not a valid variable name in `secrets`"),
                    Some("use letters, digits and `_`, not starting with a digit".to_owned()),
                );
            } else if env.contains_key(secret) {
                self.push(
                    self.at(&item),
                    format!("secret `{secret}` is also set in `env`"),
                    Some("secret values come from the host environment; remove it from `env`".to_owned()),
                );
            }
        }
    }

    fn cache_settings(&mut self, raw: &RawPipeline) -> CacheSettings {
        let spec = raw.cache.clone().unwrap_or_default();
        let max_size = spec.max_size.as_deref().and_then(|text| match parse_size(text) {
            Ok(bytes) => Some(bytes),
            Err(message) => {
                self.push(
                    self.at(&[key("cache"), key("max_size")]),
                    format!("`cache.max_size`: {message}"),
                    Some("write a size such as `10GB` or `512MiB`".to_owned()),
                );
                None
            }
        });
        if spec.retention_days == Some(0) {
            self.push(
                self.at(&[key("cache"), key("retention_days")]),
                "`cache.retention_days` must be at least 1".to_owned(),
                Some("use `cache: { enabled: false }` to turn the cache off".to_owned()),
            );
        }
        CacheSettings {
            enabled: spec.enabled.unwrap_or(true),
            max_size,
            compression: spec.compression.unwrap_or(false),
            retention_days: spec.retention_days.filter(|d| *d > 0),
        }
    }

    fn step(
        &mut self,
        name: &str,
        raw: &RawStep,
        pipeline: &RawPipeline,
        index: &BTreeMap<&str, usize>,
        names: &[&str],
    ) -> Step {
        let base = [key("steps"), key(name)];
        let at = |this: &Self, rest: &[PathPart]| this.at(&[&base[..], rest].concat());
        if !valid_step_name(name) {
            self.push(
                self.key_at(&[key("steps")], name),
                format!("`{name}` is not a valid step name"),
                Some(format!("use {WORKSPACE_STEP_NAME_RULE}")),
            );
        }
        if raw.run.trim().is_empty() {
            self.push(
                at(self, &[key("run")]),
                format!("step `{name}` has an empty `run`"),
                Some("write the shell command the step runs".to_owned()),
            );
        }
        let mut needs = Vec::new();
        for (i, need) in raw.needs.iter().enumerate() {
            let location = |this: &Self| at(this, &[key("needs"), PathPart::Index(i)]);
            match index.get(need.as_str()) {
                Some(&target) if needs.contains(&target) => {
                    self.push(
                        location(self),
                        format!("step `{name}` lists `{need}` in `needs` twice"),
                        Some("remove the duplicate".to_owned()),
                    );
                }
                Some(&target) => needs.push(target),
                None => {
                    let hint = match did_you_mean(need, names) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!("steps in this pipeline: {}", names.join(", ")),
                    };
                    self.push(location(self), format!("step `{name}` needs `{need}`, which is not a step"), Some(hint));
                }
            }
        }
        if let Some(inputs) = &raw.inputs {
            for (i, pattern) in inputs.iter().enumerate() {
                if let Err(e) = FileSet::check_pattern(pattern) {
                    let cause = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
                    self.push(
                        at(self, &[key("inputs"), PathPart::Index(i)]),
                        format!("{e}: {cause}"),
                        Some("inputs are relative to the workspace root and stay inside it".to_owned()),
                    );
                }
            }
        }
        let mut outputs = Vec::new();
        for (i, text) in raw.outputs.iter().enumerate() {
            let location = |this: &Self| at(this, &[key("outputs"), PathPart::Index(i)]);
            if text.starts_with('!') || text.contains(['*', '?', '[', '{']) {
                self.push(
                    location(self),
                    format!("output `{text}` is a pattern"),
                    Some(
                        "list the files or directories the step writes; a directory covers everything below it"
                            .to_owned(),
                    ),
                );
                continue;
            }
            match RelPath::new(text) {
                Ok(path)
                    if path.as_str() == ".attest"
                        || path.as_str().starts_with(".attest/")
                        || path.as_str() == ".git"
                        || path.as_str().starts_with(".git/") =>
                {
                    self.push(
                        location(self),
                        format!("output `{text}` is inside attest's or git's own directory"),
                        Some("write outputs elsewhere in the workspace".to_owned()),
                    );
                }
                Ok(path) => outputs.push(path),
                Err(e) => self.push(
                    location(self),
                    format!("output {}", path_message(&e)),
                    Some("outputs are relative to the workspace root and stay inside it".to_owned()),
                ),
            }
        }
        let mut env = pipeline.env.clone();
        for (k, v) in &raw.env {
            self.env_name(k, &[&base[..], &[key("env")]].concat(), "env");
            env.insert(k.clone(), v.clone());
        }
        for (i, var) in raw.env_passthrough.iter().enumerate() {
            if !valid_env_name(var) {
                self.push(
                    at(self, &[key("env_passthrough"), PathPart::Index(i)]),
                    format!("`{var}` is not a valid variable name"),
                    Some("use letters, digits and `_`, not starting with a digit".to_owned()),
                );
            }
        }
        self.secret_names(&raw.secrets, &[&base[..], &[key("secrets")]].concat(), &env);
        let mut secrets = pipeline.secrets.clone();
        for secret in &raw.secrets {
            if !secrets.contains(secret) {
                secrets.push(secret.clone());
            }
        }
        for (i, tool) in raw.tools.iter().enumerate() {
            if tool.is_empty() || tool.contains(|c: char| c.is_whitespace() || c == '/') {
                self.push(
                    at(self, &[key("tools"), PathPart::Index(i)]),
                    format!("tool `{tool}` of step `{name}` is not a command name"),
                    Some("name the program as found on PATH, e.g. `gcc`; attest runs `gcc --version`".to_owned()),
                );
            }
        }
        let timeout = raw.timeout.as_deref().and_then(|text| match parse_duration(text) {
            Ok(d) => Some(d),
            Err(message) => {
                self.push(
                    at(self, &[key("timeout")]),
                    format!("`timeout` of step `{name}`: {message}"),
                    Some("write a duration such as `90s`, `10m` or `1h30m`".to_owned()),
                );
                None
            }
        });
        let working_dir = raw.working_dir.as_deref().and_then(|text| match RelPath::new(text) {
            Ok(p) => Some(p),
            Err(e) => {
                self.push(
                    at(self, &[key("working_dir")]),
                    format!("`working_dir` {}", path_message(&e)),
                    Some("use a directory relative to the workspace root".to_owned()),
                );
                None
            }
        });
        let shell_text = raw.shell.as_deref().or(pipeline.shell.as_deref()).unwrap_or("sh -c");
        if raw.shell.as_deref().is_some_and(|s| s.trim().is_empty()) {
            self.push(
                at(self, &[key("shell")]),
                format!("`shell` of step `{name}` is empty"),
                Some("remove it to use `sh -c`".to_owned()),
            );
        }
        let isolation = raw.isolation.unwrap_or(Isolation::Process);
        let vm_image = match (&raw.vm_image, isolation) {
            (Some(rawvm), Isolation::Vm) => {
                let mut checked = VmImage::default();
                for (field, text, slot) in [
                    ("kernel", &rawvm.kernel, &mut checked.kernel),
                    ("initramfs", &rawvm.initramfs, &mut checked.initramfs),
                ] {
                    let Some(text) = text else { continue };
                    match vm_image::check_path(name, field, text) {
                        Ok(path) => *slot = Some(path),
                        Err(problem) => self.push(
                            at(self, &[key("vm_image"), key(field)]),
                            problem.message,
                            Some(problem.hint.to_owned()),
                        ),
                    }
                }
                Some(checked)
            }
            (Some(_), _) => {
                self.push(
                    at(self, &[key("vm_image")]),
                    format!("step `{name}` sets `vm_image`, which needs `isolation: vm`"),
                    Some("add `isolation: vm` or remove `vm_image`".to_owned()),
                );
                None
            }
            (None, _) => None,
        };
        let mut sandbox = SandboxSettings::default();
        for (i, text) in raw.sandbox.iter().flat_map(|s| s.system_paths.iter()).enumerate() {
            match sandbox_settings::check_system_path(name, text) {
                Ok(path) if sandbox.system_paths.contains(&path) => {}
                Ok(path) => sandbox.system_paths.push(path),
                Err(problem) => self.push(
                    at(self, &[key("sandbox"), key("system_paths"), PathPart::Index(i)]),
                    problem.message,
                    Some(problem.hint.to_owned()),
                ),
            }
        }
        let image = match (&raw.image, isolation) {
            (Some(text), Isolation::Container) => match container_image::check_image(name, text) {
                Ok(image) => Some(image),
                Err(problem) => {
                    self.push(at(self, &[key("image")]), problem.message, Some(problem.hint));
                    None
                }
            },
            (Some(_), _) => {
                self.push(
                    at(self, &[key("image")]),
                    format!("step `{name}` sets `image`, which needs `isolation: container`"),
                    Some("add `isolation: container` or remove `image`".to_owned()),
                );
                None
            }
            (None, Isolation::Container) => {
                self.push(
                    at(self, &[key("isolation")]),
                    format!("step `{name}` has `isolation: container` but no `image`"),
                    Some("add `image: NAME@sha256:<digest>`".to_owned()),
                );
                None
            }
            (None, _) => None,
        };
        let reproducible = raw.attestation.as_ref().is_some_and(|a| a.reproducible)
            || pipeline.attestation.as_ref().is_some_and(|a| a.require_reproducible);
        Step {
            name: name.to_owned(),
            description: raw.description.clone(),
            run: raw.run.clone(),
            shell: shell_argv(shell_text),
            inputs: raw.inputs.clone(),
            outputs,
            needs,
            env,
            env_passthrough: raw.env_passthrough.clone(),
            secrets,
            tools: raw.tools.clone(),
            cache: raw.cache.unwrap_or(true),
            timeout,
            working_dir,
            isolation,
            sandbox,
            image,
            vm_image,
            reproducible,
        }
    }

    /// Every output path must belong to one step: no two steps may declare the same path
    /// or one inside the other. Linear in the number of outputs (ancestor lookups).
    fn overlapping_outputs(&mut self, steps: &[Step]) {
        let mut owners: HashMap<&str, (&str, usize)> = HashMap::new();
        let mut conflicts: Vec<(String, usize, String, String)> = Vec::new();
        for step in steps {
            for (i, output) in step.outputs.iter().enumerate() {
                match owners.get(output.as_str()) {
                    Some((owner, _)) if *owner != step.name => {
                        conflicts.push((
                            step.name.clone(),
                            i,
                            output.to_string(),
                            format!("output `{output}` of step `{owner}`"),
                        ));
                    }
                    _ => {
                        owners.insert(output.as_str(), (&step.name, i));
                    }
                }
            }
        }
        for step in steps {
            for (i, output) in step.outputs.iter().enumerate() {
                let text = output.as_str();
                for (cut, _) in text.match_indices('/') {
                    if let Some((owner, _)) = owners.get(&text[..cut])
                        && *owner != step.name
                    {
                        conflicts.push((
                            step.name.clone(),
                            i,
                            output.to_string(),
                            format!("output `{}` of step `{owner}`", &text[..cut]),
                        ));
                    }
                }
            }
        }
        for (step, i, output, other) in conflicts {
            let location = self.at(&[key("steps"), key(&step), key("outputs"), PathPart::Index(i)]);
            self.push(
                location,
                format!("output `{output}` of step `{step}` overlaps {other}"),
                Some("every file must be written by one step; give each step its own output path".to_owned()),
            );
        }
    }
}

fn path_message(error: &RelPathError) -> String {
    match error {
        RelPathError::Absolute(p) => format!("`{p}` is absolute"),
        RelPathError::Escapes(p) => format!("`{p}` leaves the workspace"),
        RelPathError::Empty => "is empty".to_owned(),
        RelPathError::BadCharacter(p) => format!("`{p}` contains a backslash or NUL"),
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests;
