//! The cache key: everything that can change a step's result, and nothing else.

use std::collections::BTreeMap;

use attest_hash::{Digest, digest_json};
use attest_pipeline::Step;
use serde::{Deserialize, Serialize};

/// Version of the key format. Adding or changing a field of [`CacheKey`] bumps it, and the
/// contract test `tests/it/hash_contract.rs` pins the resulting digests.
pub const KEY_VERSION: u32 = 1;

/// The parts of a step's cache key. The key is the BLAKE3 of this struct's canonical JSON
/// (RFC 8785). Not part of it, on purpose: the step's name, timestamps, the host's
/// other variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// [`KEY_VERSION`].
    pub key_version: u32,
    /// The command text.
    pub command: String,
    /// The shell argv the command is given to.
    pub shell: Vec<String>,
    /// The working directory relative to the workspace root (`.` for the root).
    pub working_dir: String,
    /// Every variable that reaches the command, by name (unset is absent; empty is ""),
    /// except secrets.
    pub env: BTreeMap<String, String>,
    /// Secrets that reach the command: name to the BLAKE3 of the value, never the value.
    /// Absent from the key's JSON when there are none, so keys without secrets keep their
    /// digests.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Digest>,
    /// Digest of the inputs' manifest.
    pub inputs: Digest,
    /// Declared outputs.
    pub outputs: Vec<String>,
    /// Digests of the output manifests of the steps this one needs, sorted.
    pub upstream: Vec<Digest>,
    /// Isolation level.
    pub isolation: String,
    /// Operating system and architecture (`linux-x86_64`).
    pub platform: String,
}

impl CacheKey {
    /// The key digest.
    pub fn digest(&self) -> Digest {
        digest_json(self).expect("cache keys contain only strings, integers and lists")
    }
}

/// The variables a step's command sees, secrets aside: `PATH` from the host (so commands
/// are found; its value is part of the key), the host variables the step lists in
/// `env_passthrough` (when set), then the pipeline's and step's `env`.
pub fn command_env(step: &Step, host_env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(path) = host_env.get("PATH") {
        env.insert("PATH".to_owned(), path.clone());
    }
    for name in &step.env_passthrough {
        if let Some(value) = host_env.get(name) {
            env.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &step.env {
        env.insert(name.clone(), value.clone());
    }
    for name in &step.secrets {
        env.remove(name);
    }
    env
}

/// The secrets a step's command receives: the values of its `secrets` in the host
/// environment (unset ones are absent).
pub fn secret_env(step: &Step, host_env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    step.secrets.iter().filter_map(|name| Some((name.clone(), host_env.get(name)?.clone()))).collect()
}

/// `linux-x86_64` and the like.
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}
