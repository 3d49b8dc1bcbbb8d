//! The last key of each step, kept so that a miss can say what changed (`attest explain`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use attest_hash::{Digest, Durability, Manifest};
use serde::{Deserialize, Serialize};

use crate::CacheKey;

/// A step's key with the detail behind it: the full input manifest and upstream digests by
/// step name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key digest.
    pub key: Digest,
    /// Its parts.
    pub parts: CacheKey,
    /// The input files behind `parts.inputs`.
    pub inputs: Manifest,
    /// The upstream output digests behind `parts.upstream`, by step name.
    pub upstream: BTreeMap<String, Digest>,
}

/// Where key records live: `.attest/state/v1/keys/<step>.json`.
#[derive(Debug, Clone)]
pub struct KeyRecords {
    dir: PathBuf,
}

impl KeyRecords {
    /// Records below the state directory (`.attest/state/v1`).
    pub fn new(state_dir: &Path) -> Self {
        Self { dir: state_dir.join("keys") }
    }

    fn path(&self, step: &str) -> PathBuf {
        self.dir.join(format!("{step}.json"))
    }

    /// The last record of `step`, if any (an unreadable one counts as none).
    pub fn load(&self, step: &str) -> Option<KeyRecord> {
        let bytes = std::fs::read(self.path(step)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores the record of `step` atomically.
    pub fn save(&self, step: &str, record: &KeyRecord) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        attest_hash::write_atomically(&self.path(step), &bytes, Durability::Atomic)
    }
}
