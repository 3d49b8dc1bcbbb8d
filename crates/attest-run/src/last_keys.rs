use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use attest_hash::Digest;

/// The last key of every step, in one small file, so a run can tell without reading each
/// step's [`crate::KeyRecord`] whether a key is new.
#[derive(Debug, Default)]
pub(crate) struct LastKeys {
    keys: HashMap<String, Digest>,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("last-keys.json")
}

impl LastKeys {
    pub(crate) fn load(state_dir: &Path) -> Self {
        let keys = std::fs::read(path(state_dir))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<HashMap<String, Digest>>(&bytes).ok())
            .unwrap_or_default();
        Self { keys }
    }

    pub(crate) fn map(&self) -> &HashMap<String, Digest> {
        &self.keys
    }

    /// Merges `new` in and writes the file atomically (nothing when `new` is empty).
    pub(crate) fn save(&self, state_dir: &Path, new: BTreeMap<String, Digest>) -> std::io::Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let mut all: BTreeMap<&String, &Digest> = self.keys.iter().collect();
        all.extend(new.iter());
        let bytes = serde_json::to_vec(&all).map_err(std::io::Error::other)?;
        attest_hash::write_atomically(&path(state_dir), &bytes, attest_hash::Durability::Synced)
    }
}
