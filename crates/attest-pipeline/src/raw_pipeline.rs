//! The typed form of `attest.yaml` (schema "0.1"), exactly as written, before semantic
//! checks. These types are the single source of the JSON Schema (`attest pipeline
//! schema`) and of the structural checks that run on every file.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An attest pipeline: named steps that run as a DAG, with a content-addressed cache and a
/// receipt of every run.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "attest.yaml")]
pub struct RawPipeline {
    /// Schema version of this file. Must be "0.1".
    pub version: String,
    /// Name of the pipeline (defaults to the workspace directory's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the pipeline is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Variables that reach every step's command; part of every cache key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Default shell for every step, e.g. "bash" or "bash -eu -c" (default "sh -c").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Receipt and verification settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<RawAttestation>,
    /// Run every step in a controlled environment: only declared variables plus a fixed
    /// base (TZ=UTC, LC_ALL=LANG=C.UTF-8, SOURCE_DATE_EPOCH, PYTHONHASHSEED=0, a fresh
    /// HOME), umask 022, outputs' mtimes set to SOURCE_DATE_EPOCH.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deterministic: bool,
    /// Host variables every step receives as secrets: their values come from the host
    /// environment, are redacted from logs and receipts, and enter cache keys only hashed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Cache settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<RawCacheSettings>,
    /// Where run events are delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<RawEvents>,
    /// The steps, by name.
    pub steps: BTreeMap<String, RawStep>,
}

/// One step: a shell command with declared inputs and outputs.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// The command, run by the shell (`sh -c` unless `shell` says otherwise) in the
    /// workspace root (or `working_dir`).
    pub run: String,
    /// What the step does, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Files, directories and globs the step reads; `!pattern` excludes. Without this
    /// key the whole workspace (minus ignored files and declared outputs) is the input;
    /// `inputs: []` means no files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    /// Files and directories the step writes; stored in the cache and restored on a hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Steps that must finish first; their outputs' digests enter this step's key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Variables for this step (override the pipeline's `env`); part of the cache key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Host variables allowed to reach the command; their names and values enter the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_passthrough: Vec<String>,
    /// Host variables this step receives as secrets (in addition to the pipeline's):
    /// redacted from logs and receipts, hashed into the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Tools the step uses, e.g. `[gcc, node]`; each one's `--version` is recorded in the
    /// receipt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Whether results of this step are cached (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// Stop the step after this long, e.g. "90s", "10m", "1h30m".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Shell for this step, e.g. "bash" (overrides the pipeline's `shell`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Directory to run in, relative to the workspace root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// How the step is isolated from the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Container image of `isolation: container`, pinned by digest:
    /// `name[:tag]@sha256:<64 hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Sandbox settings, used when the step runs with `isolation: sandbox` (or
    /// `attest run --isolation sandbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<RawSandbox>,
    /// The kernel (and optionally initramfs) of `isolation: vm`; by default the newest
    /// `/boot/vmlinuz-*` and an initramfs attest builds from busybox-static.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_image: Option<RawVmImage>,
    /// Per-step attestation settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<RawStepAttestation>,
}

/// Isolation level of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// A child process of attest with a strict environment (the default).
    Process,
    /// A hermetic sandbox: only declared inputs visible, no network.
    Sandbox,
    /// A container (podman) running `image`: read-only root, no network, only declared
    /// inputs visible, only declared outputs writable.
    Container,
    /// A QEMU virtual machine booting `vm_image`: inputs shared read-only over
    /// virtio-9p, outputs copied back, no network.
    Vm,
}

impl Isolation {
    /// The keyword as written in attest.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Process => "process",
            Isolation::Sandbox => "sandbox",
            Isolation::Container => "container",
            Isolation::Vm => "vm",
        }
    }
}

/// Receipt and verification settings of the pipeline.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAttestation {
    /// Write a signed statement per step, not only per run.
    #[serde(default)]
    pub sign_all_steps: bool,
    /// Before a step runs, check its upstream outputs against their recorded digests.
    #[serde(default)]
    pub verify_dependencies: bool,
    /// Build every step twice and compare the outputs.
    #[serde(default)]
    pub require_reproducible: bool,
    /// Fail a step whose outputs contain a credential (`attest scan` findings of high
    /// severity).
    #[serde(default)]
    pub scan_outputs: bool,
}

/// What a sandboxed step sees of the host besides `/usr`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSandbox {
    /// Absolute host paths (directories or files) mounted read-only at the same place
    /// inside the sandbox, e.g. `[/etc/ssl, /opt/toolchain]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_paths: Vec<String>,
}

/// The virtual machine of an `isolation: vm` step.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVmImage {
    /// Absolute host path of the kernel to boot, e.g. `/boot/vmlinuz-6.1.0-28-cloud-amd64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Absolute host path of an initramfs following attest's guest protocol (see the
    /// README); without it attest builds one from busybox-static and the kernel's modules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initramfs: Option<String>,
}

/// Per-step attestation settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStepAttestation {
    /// This step's outputs must be bit-for-bit reproducible.
    #[serde(default)]
    pub reproducible: bool,
}

/// Cache settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCacheSettings {
    /// Use the cache at all (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Evict least recently used entries beyond this size, e.g. "10GB", "500MB".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<String>,
    /// Store blobs compressed with zstd (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<bool>,
    /// Evict entries not used for this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

/// Event delivery settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEvents {
    /// Where events go.
    #[serde(default)]
    pub handlers: Vec<RawHandler>,
}

/// One event handler.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHandler {
    /// `file` (JSON Lines appended to `path`) or `webhook` (HTTP POST to `url`).
    #[serde(rename = "type")]
    pub kind: HandlerKind,
    /// File to append to (file handlers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Where to POST (webhook handlers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Event types to deliver, `*` for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Variable holding the HMAC secret for `X-Attest-Signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// Give up a delivery attempt after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Delivery attempts after the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Fail the run when delivery fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// Kinds of event handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HandlerKind {
    /// Append JSON Lines to a file.
    File,
    /// POST JSON to a URL.
    Webhook,
}

/// The JSON Schema of attest.yaml, generated from [`RawPipeline`].
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(RawPipeline);
    serde_json::to_value(schema).expect("a generated schema serialises to JSON")
}
