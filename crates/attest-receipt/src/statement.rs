//! in-toto Statement v1 (<https://github.com/in-toto/attestation/tree/main/spec/v1>) with a
//! SLSA provenance v1 predicate (<https://slsa.dev/spec/v1.0/provenance>), typed down to
//! attest's own parameters, so that parsing a statement is also checking its format.
//! The JSON Schema published in `schemas/receipt-statement.schema.json` is generated from
//! these types.

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Hex32;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of SLSA provenance v1.
pub const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";
/// `buildDefinition.buildType` of an attest run (stable; changes only with its format).
pub const BUILD_TYPE: &str = "https://attest.dev/buildtypes/run/v1";
/// `runDetails.builder.id` of attest.
pub const BUILDER_ID: &str = "https://attest.dev/builder/local/v1";

/// The digests of one artifact (an in-toto DigestSet restricted to what attest writes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestSet {
    /// BLAKE3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<Hex32>,
    /// SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Hex32>,
}

impl DigestSet {
    /// Only a SHA-256.
    pub fn sha256(digest: Hex32) -> Self {
        Self { blake3: None, sha256: Some(digest) }
    }

    /// Only a BLAKE3.
    pub fn blake3(digest: Hex32) -> Self {
        Self { blake3: Some(digest), sha256: None }
    }
}

/// An artifact by name and digest (in-toto ResourceDescriptor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A workspace-relative path for files; `log/<step>` for step logs.
    pub name: String,
    /// Digests, lowercase hex: `sha256` for subjects and logs, `blake3` for the inputs
    /// (attest's own file digest).
    pub digest: DigestSet,
    /// Media type, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Extra facts: the BLAKE3 digest of subjects and the step that produced them.
    #[serde(default, skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
}

/// Annotations attest puts on resource descriptors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Annotations {
    /// BLAKE3 of the content, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<Hex32>,
    /// The step that produced the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

impl Annotations {
    fn is_empty(&self) -> bool {
        self.blake3.is_none() && self.step.is_none()
    }
}

/// An in-toto Statement v1 carrying SLSA provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "attest receipt statement (in-toto Statement v1, SLSA provenance v1)")]
///
/// Fields are written in this order, which JSON leaves free: the large lists (inputs and
/// steps) come first, so that a receipt can be on its way to the disk while the few fields
/// that are known last (the git state, the subject) are still being worked out.
pub struct Statement {
    /// [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// [`SLSA_PROVENANCE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The provenance.
    pub predicate: Provenance,
    /// What the statement is about: the outputs, by `sha256`.
    pub subject: Vec<ResourceDescriptor>,
}

/// SLSA provenance v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provenance {
    /// What was built and how.
    pub build_definition: BuildDefinition,
    /// Who built it, when.
    pub run_details: RunDetails,
}

/// SLSA buildDefinition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildDefinition {
    /// [`BUILD_TYPE`].
    pub build_type: String,
    /// What the user asked for.
    pub external_parameters: ExternalParameters,
    /// The input files with their BLAKE3 digests.
    pub resolved_dependencies: Vec<ResourceDescriptor>,
    /// What attest resolved: per-step commands, environments and results.
    pub internal_parameters: InternalParameters,
}

/// The pipeline and the steps asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalParameters {
    /// The pipeline file.
    pub pipeline: PipelineRef,
    /// The steps named on the command line (empty: all of them).
    pub steps: Vec<String>,
}

/// A pipeline file by name, path and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineRef {
    /// The pipeline's `name:` (or the workspace directory's name).
    pub name: String,
    /// The file, relative to the workspace root.
    pub path: String,
    /// `sha256` and `blake3` of its bytes.
    pub digest: DigestSet,
}

/// attest's resolved parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InternalParameters {
    /// The steps: every selected step in a run statement, one in a step statement.
    pub steps: Vec<StepParameters>,
    /// The run as a whole.
    pub run: RunInfo,
    /// The machine and workspace the run happened on (run statements only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentSnapshot>,
    /// The key the run was signed with (absent when unsigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerRef>,
}

/// Whether a statement covers the run or one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The run statement (line 1).
    Run,
    /// A statement for one step (`attestation.sign_all_steps`).
    Step,
}

/// The run as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// What this statement covers.
    pub scope: Scope,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// Wall time of the run, in seconds.
    pub duration_secs: f64,
    /// Whether every executed or cached step also has its own statement.
    pub sign_all_steps: bool,
    /// Present when the run was deterministic (`attest run --deterministic`): the fixed
    /// values every step ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deterministic: Option<DeterministicRun>,
}

/// What deterministic mode fixed for every step of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeterministicRun {
    /// `SOURCE_DATE_EPOCH`, also the mtime of every output.
    pub source_date_epoch: u64,
    /// The umask, octal.
    pub umask: u32,
}

/// One step as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepParameters {
    /// Step name.
    pub name: String,
    /// The command text.
    pub command: String,
    /// The shell argv the command was given to.
    pub shell: Vec<String>,
    /// Working directory, relative to the workspace root.
    pub working_dir: String,
    /// The variables that reached the command (secret values redacted).
    pub env: BTreeMap<String, String>,
    /// Steps it needs.
    pub needs: Vec<String>,
    /// `succeeded`, `failed`, `skipped` or `cancelled`.
    pub status: String,
    /// Exit code of the command (absent when it did not run to an exit code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Time spent on the step, in seconds.
    pub duration_secs: f64,
    /// Whether the result came from the cache.
    pub cache_hit: bool,
    /// The cache key (`blake3:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    /// Why the cache missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miss_reason: Option<String>,
    /// Input files by name, as receipts before `input_ranges` list them (their digests
    /// are in `resolvedDependencies`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Input files, as ranges `[start, end)` of indices into `resolvedDependencies`
    /// (which lists each file of the run once): the files are those of the ranges, in
    /// order. A step's own files are listed together, so a few ranges name thousands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_ranges: Vec<[usize; 2]>,
    /// Output files (digests in `subject`).
    pub outputs: Vec<String>,
    /// Whether a second build reproduced the outputs bit for bit (when one was made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducibility: Option<ReproducibilityClaim>,
    /// How the step was isolated from the host (absent in receipts of attest before
    /// sandboxes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationParameters>,
}

/// How a step was isolated from the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IsolationParameters {
    /// The level: `process` (a child process with a strict environment), `sandbox`,
    /// `container` or `vm`.
    pub level: String,
    /// What the sandbox showed and allowed (`sandbox` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParameters>,
    /// The image and settings of a container step (`container` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerParameters>,
    /// The kernel, initramfs and settings of a virtual machine step (`vm` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmParameters>,
}

/// What a VM step booted and how. Its inputs and the outputs of the steps it needs were
/// shared read-only below `root` (virtio-9p); nothing else of the workspace existed inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VmParameters {
    /// The virtual machine monitor and machine type (`qemu microvm`).
    pub engine: String,
    /// The kernel file on the host.
    pub kernel: String,
    /// Its digest, `sha256:<64 hex>`.
    pub kernel_digest: String,
    /// The initramfs file on the host, or `attest` for the one attest builds.
    pub initramfs: String,
    /// Its digest (for attest's own: of its recipe: busybox, modules, guest protocol).
    pub initramfs_digest: String,
    /// Where the workspace was shared (`/work`).
    pub root: String,
    /// Workspace paths the step could write: its declared outputs.
    pub writable: Vec<String>,
    /// `none`: no network device.
    pub network: String,
}

/// The image and settings of a container step. Its inputs and the outputs of the steps it
/// needs were mounted read-only below `root`; nothing else of the workspace existed inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerParameters {
    /// The image reference as written in attest.yaml (pinned by digest).
    pub image: String,
    /// The image's digest, `sha256:<64 hex>`.
    pub digest: String,
    /// The container engine: `podman`, or `runc` (over the image unpacked by umoci).
    pub engine: String,
    /// Where the workspace was mounted (`/work`).
    pub root: String,
    /// Workspace paths the step could write: its declared outputs.
    pub writable: Vec<String>,
    /// Private, empty, writable file systems (`/tmp`).
    pub tmpfs: Vec<String>,
    /// `none`: a network namespace with only the loopback interface.
    pub network: String,
    /// The image's root file system was read-only.
    pub read_only_root: bool,
}

/// The mounts and identity of a sandboxed step. Its inputs (`inputs`) and the outputs of
/// the steps it needs were mounted read-only below `root`; nothing else of the workspace
/// existed inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxParameters {
    /// Where the workspace was mounted (`/work`).
    pub root: String,
    /// Host paths mounted read-only at the same place (`/usr` first).
    pub system_paths: Vec<String>,
    /// Workspace paths the step could write: its declared outputs.
    pub writable: Vec<String>,
    /// Private, empty, writable file systems (`/tmp`).
    pub tmpfs: Vec<String>,
    /// `loopback`: a network namespace of its own with only the loopback interface.
    pub network: String,
    /// The hostname inside.
    pub hostname: String,
    /// The uid the command ran as.
    pub uid: u32,
    /// The gid the command ran as.
    pub gid: u32,
    /// The Landlock ABI whose rules were enforced on top of the namespaces: writing only
    /// below the outputs' directories and `/tmp` (and to existing files of `/dev`); from ABI
    /// 6 also no abstract UNIX sockets or signals outside. Absent: no Landlock (a kernel
    /// without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landlock_abi: Option<u8>,
}

/// What a reproducibility check of a step found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReproducibilityClaim {
    /// Every output of the second build matched the first bit for bit.
    pub verified: bool,
    /// Builds compared.
    pub runs: u32,
    /// How the second build was made (clean copy, other directory, variations).
    pub method: String,
}

/// The machine and workspace a run happened on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSnapshot {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture (`x86_64`).
    pub arch: String,
    /// Kernel release, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// attest's version.
    pub attest_version: String,
    /// The git work tree, when the workspace is in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitInfo>,
    /// `sha256` of the lock files found at the workspace root, by path.
    pub lock_files: BTreeMap<String, String>,
    /// Versions of the tools the steps declare, by name (first line of `--version`).
    pub tools: BTreeMap<String, String>,
}

/// The git state of the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitInfo {
    /// `HEAD`'s commit.
    pub commit: String,
    /// The branch, when on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Whether tracked files have uncommitted changes.
    pub dirty: bool,
}

/// The key that signed the statement, as the signer declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignerRef {
    /// The securesystemslib keyid.
    pub keyid: String,
    /// The public key, SPKI PEM.
    pub public_key: String,
}

/// SLSA runDetails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunDetails {
    /// The builder.
    pub builder: Builder,
    /// Invocation id and times.
    pub metadata: BuildMetadata,
    /// Step logs, by digest.
    pub byproducts: Vec<ResourceDescriptor>,
}

/// SLSA builder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    /// [`BUILDER_ID`].
    pub id: String,
    /// Versions of its components (`attest`).
    pub version: BTreeMap<String, String>,
}

/// SLSA BuildMetadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildMetadata {
    /// The run id.
    pub invocation_id: String,
    /// RFC 3339 start time (UTC).
    pub started_on: String,
    /// RFC 3339 end time (UTC).
    pub finished_on: String,
}

impl Statement {
    /// Whether this is a run statement (as opposed to a step statement).
    pub fn is_run(&self) -> bool {
        self.predicate.build_definition.internal_parameters.run.scope == Scope::Run
    }

    /// The steps it records.
    pub fn steps(&self) -> &[StepParameters] {
        &self.predicate.build_definition.internal_parameters.steps
    }

    /// The input files of `step` by name: its `inputs`, then the files its
    /// `input_ranges` name. `None` when a range is not one of `resolvedDependencies`.
    pub fn step_inputs<'a>(&'a self, step: &'a StepParameters) -> Option<Vec<&'a str>> {
        let dependencies = &self.predicate.build_definition.resolved_dependencies;
        let mut names: Vec<&str> = step.inputs.iter().map(String::as_str).collect();
        for &[start, end] in &step.input_ranges {
            names.extend(dependencies.get(start..end)?.iter().map(|d| d.name.as_str()));
        }
        Some(names)
    }

    /// The subjects by name (for lookups in receipts of many files).
    pub fn subjects_by_name(&self) -> HashMap<&str, &ResourceDescriptor> {
        self.subject.iter().map(|s| (s.name.as_str(), s)).collect()
    }

    /// The dependencies by name; the first wins if a name repeats.
    pub fn dependencies_by_name(&self) -> HashMap<&str, &ResourceDescriptor> {
        let mut map = HashMap::new();
        for d in &self.predicate.build_definition.resolved_dependencies {
            map.entry(d.name.as_str()).or_insert(d);
        }
        map
    }

    /// The JSON Schema of statements.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Statement)).expect("a schema serialises to JSON")
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use std::path::PathBuf;

    use crate::Envelope;

    /// The published schemas are what the types generate; `ATTEST_UPDATE_SCHEMA=1`
    /// rewrites them.
    #[test]
    fn published_schemas_match_the_types() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        for (file, schema) in [
            ("receipt-statement.schema.json", super::Statement::json_schema()),
            ("dsse-envelope.schema.json", Envelope::json_schema()),
        ] {
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            let path = dir.join(file);
            if std::env::var_os("ATTEST_UPDATE_SCHEMA").is_some() {
                std::fs::write(&path, &text).unwrap();
            }
            let published = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                published == text,
                "schemas/{file} is out of date; regenerate it with `ATTEST_UPDATE_SCHEMA=1 cargo test -p attest-receipt`"
            );
        }
    }
}
