use std::collections::BTreeMap;

use attest_hash::{Digest, Manifest};
use serde::{Deserialize, Serialize};

/// Format version of action entries.
pub(crate) const ENTRY_VERSION: u32 = 1;

/// What the action cache stores for one cache key: the successful result of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionEntry {
    /// Entry format version.
    pub version: u32,
    /// The cache key this entry answers.
    pub key: Digest,
    /// The step that produced it (informational; never part of the key).
    pub step: String,
    /// The outputs, with content digests (blobs in the CAS).
    pub outputs: Manifest,
    /// The command's exit code (always 0: only successes are stored).
    pub exit_code: i32,
    /// How long the command ran, in milliseconds.
    pub duration_ms: u64,
    /// Blob holding the command's (redacted, possibly truncated) output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<Digest>,
    /// When the entry was written (seconds since the Unix epoch).
    pub created_at: u64,
    /// SHA-256 (hex) of each output by path, for receipts' subjects, so that a cache hit
    /// never reads its outputs again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output_sha256: BTreeMap<String, String>,
    /// SHA-256 (hex) of the log blob, for receipts' byproducts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_sha256: Option<String>,
}

impl ActionEntry {
    /// A new entry with the current format version.
    pub fn new(
        key: Digest,
        step: &str,
        outputs: Manifest,
        duration_ms: u64,
        log: Option<Digest>,
        created_at: u64,
    ) -> Self {
        Self {
            version: ENTRY_VERSION,
            key,
            step: step.to_owned(),
            outputs,
            exit_code: 0,
            duration_ms,
            log,
            created_at,
            output_sha256: BTreeMap::new(),
            log_sha256: None,
        }
    }

    /// Every blob the entry needs.
    pub fn blobs(&self) -> impl Iterator<Item = Digest> + '_ {
        self.outputs.entries().iter().filter_map(|e| e.digest).chain(self.log)
    }
}
