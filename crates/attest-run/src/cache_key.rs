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
        match self.canonical_json() {
            Some(json) => Digest::of_bytes(&json),
            None => digest_json(self).expect("cache keys contain only strings, integers and lists"),
        }
    }

    /// The RFC 8785 form of the key, written directly (every step of every run computes
    /// one, and the generic canonicaliser builds and sorts a tree first): the fields in
    /// sorted order, compact, strings escaped as serde_json escapes them, which for
    /// strings is RFC 8785's escaping. `None` when a map key is not ASCII: RFC 8785 sorts
    /// keys by UTF-16 unit, which differs from byte order beyond ASCII, and the generic
    /// canonicaliser then decides.
    fn canonical_json(&self) -> Option<Vec<u8>> {
        if !self.env.keys().chain(self.secrets.keys()).all(|k| k.is_ascii()) {
            return None;
        }
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(b"{\"command\":");
        json_string(&mut out, &self.command);
        out.extend_from_slice(b",\"env\":");
        json_map(&mut out, self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out.extend_from_slice(b",\"inputs\":");
        json_string(&mut out, &self.inputs.to_string());
        out.extend_from_slice(b",\"isolation\":");
        json_string(&mut out, &self.isolation);
        out.extend_from_slice(format!(",\"key_version\":{}", self.key_version).as_bytes());
        out.extend_from_slice(b",\"outputs\":");
        json_strings(&mut out, self.outputs.iter().map(String::as_str));
        out.extend_from_slice(b",\"platform\":");
        json_string(&mut out, &self.platform);
        if !self.secrets.is_empty() {
            let secrets: Vec<(&str, String)> = self.secrets.iter().map(|(k, v)| (k.as_str(), v.to_string())).collect();
            out.extend_from_slice(b",\"secrets\":");
            json_map(&mut out, secrets.iter().map(|(k, v)| (*k, v.as_str())));
        }
        out.extend_from_slice(b",\"shell\":");
        json_strings(&mut out, self.shell.iter().map(String::as_str));
        let upstream: Vec<String> = self.upstream.iter().map(ToString::to_string).collect();
        out.extend_from_slice(b",\"upstream\":");
        json_strings(&mut out, upstream.iter().map(String::as_str));
        out.extend_from_slice(b",\"working_dir\":");
        json_string(&mut out, &self.working_dir);
        out.push(b'}');
        Some(out)
    }
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing to memory succeeds");
}

fn json_strings<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(out, item);
    }
    out.push(b']');
}

/// A map whose keys come in sorted order.
fn json_map<'a>(out: &mut Vec<u8>, entries: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push(b'{');
    for (i, (key, value)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(out, key);
        out.push(b':');
        json_string(out, value);
    }
    out.push(b'}');
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

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn any_digest() -> impl Strategy<Value = Digest> {
        any::<[u8; 32]>().prop_map(Digest::blake3)
    }

    prop_compose! {
        fn any_key()(
            command in any::<String>(),
            shell in proptest::collection::vec(any::<String>(), 0..3),
            working_dir in any::<String>(),
            // Mostly ASCII names (the written form), sometimes any text (the fallback).
            env in proptest::collection::btree_map(prop_oneof![3 => "[ -~]{0,6}", 1 => any::<String>()], any::<String>(), 0..4),
            secrets in proptest::collection::btree_map("[A-Z_]{1,5}", any_digest(), 0..3),
            inputs in any_digest(),
            outputs in proptest::collection::vec(any::<String>(), 0..3),
            upstream in proptest::collection::vec(any_digest(), 0..3),
            isolation in "[a-z]{0,8}",
            platform in any::<String>(),
        ) -> CacheKey {
            CacheKey { key_version: KEY_VERSION, command, shell, working_dir, env, secrets, inputs, outputs, upstream, isolation, platform }
        }
    }

    proptest! {
        /// The directly written key is RFC 8785, byte for byte what the generic
        /// canonicaliser writes, for any text in any field.
        #[test]
        fn direct_canonical_json_is_rfc_8785(key in any_key()) {
            let generic = attest_hash::canonical_json(&key).expect("keys serialise");
            match key.canonical_json() {
                Some(direct) => prop_assert_eq!(String::from_utf8(direct).unwrap(), String::from_utf8(generic.clone()).unwrap()),
                None => prop_assert!(key.env.keys().any(|k| !k.is_ascii())),
            }
            prop_assert_eq!(key.digest(), Digest::of_bytes(&generic));
        }
    }
}
