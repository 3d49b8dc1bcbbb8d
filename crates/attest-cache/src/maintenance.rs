//! `attest cache stats|gc|verify|clean`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use attest_hash::Digest;
use serde::Serialize;

use crate::{ActionEntry, CacheError, CacheStore};

/// Sizes and counts of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Action entries.
    pub entries: u64,
    /// Blobs.
    pub blobs: u64,
    /// Bytes on disk (blobs and entries).
    pub bytes: u64,
    /// Leftover temp files (from interrupted writes).
    pub temp_files: u64,
}

/// Limits enforced by [`CacheStore::gc`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcPolicy {
    /// Evict least recently used entries until the store is at most this big.
    pub max_size: Option<u64>,
    /// Evict entries unused for longer than this.
    pub max_age: Option<Duration>,
}

/// What a garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Action entries removed.
    pub entries_removed: u64,
    /// Blobs removed (no longer referenced).
    pub blobs_removed: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Store size afterwards.
    pub bytes_after: u64,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Blobs whose content was re-hashed.
    pub blobs_checked: u64,
    /// Action entries parsed and checked.
    pub entries_checked: u64,
    /// Each problem, one line.
    pub problems: Vec<String>,
    /// Temp files left by interrupted writes (harmless; removed by `gc`).
    pub temp_files: u64,
}

impl VerifyReport {
    /// Whether the store is consistent.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

struct EntryFile {
    path: PathBuf,
    size: u64,
    used: SystemTime,
    entry: Result<ActionEntry, String>,
}

/// The files directly in `dir`.
fn files_below(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let Ok(items) = std::fs::read_dir(dir) else { return Vec::new() };
    items
        .flatten()
        .filter_map(|item| Some((item.path(), item.metadata().ok().filter(std::fs::Metadata::is_file)?)))
        .collect()
}

fn blob_digest(path: &Path) -> Option<Digest> {
    let name = path.file_name()?.to_str()?;
    let hex = name.strip_suffix(".zst").unwrap_or(name);
    Digest::from_hex(attest_hash::Algorithm::Blake3, hex).ok()
}

impl CacheStore {
    fn entries(&self) -> Vec<EntryFile> {
        files_below(&self.root().join("ac"))
            .into_iter()
            .map(|(path, meta)| {
                let entry = std::fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| serde_json::from_slice::<ActionEntry>(&bytes).map_err(|e| e.to_string()));
                EntryFile { used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), size: meta.len(), path, entry }
            })
            .collect()
    }

    fn temp_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.tmp_dir()).map(|items| items.flatten().map(|i| i.path()).collect()).unwrap_or_default()
    }

    /// Counts and sizes.
    pub fn stats(&self) -> CacheStats {
        let entries = files_below(&self.root().join("ac"));
        let blobs = files_below(&self.root().join("cas"));
        CacheStats {
            entries: entries.len() as u64,
            blobs: blobs.len() as u64,
            bytes: entries.iter().chain(blobs.iter()).map(|(_, m)| m.len()).sum(),
            temp_files: self.temp_files().len() as u64,
        }
    }

    /// Evicts entries by age and then least-recently-used until under the size cap,
    /// deletes blobs no remaining entry refers to, and clears temp files. Call it with
    /// the exclusive [`crate::CacheLock`] held.
    pub fn gc(&self, policy: GcPolicy, now: SystemTime) -> Result<GcReport, CacheError> {
        let mut report = GcReport::default();
        let mut entries = self.entries();
        entries.sort_by_key(|e| e.used);
        let blobs = files_below(&self.root().join("cas"));
        let blob_sizes: std::collections::HashMap<Digest, u64> =
            blobs.iter().filter_map(|(p, m)| blob_digest(p).map(|d| (d, m.len()))).collect();
        let mut keep: Vec<bool> = entries.iter().map(|e| e.entry.is_ok()).collect();
        if let Some(max_age) = policy.max_age {
            for (i, e) in entries.iter().enumerate() {
                if now.duration_since(e.used).unwrap_or_default() > max_age {
                    keep[i] = false;
                }
            }
        }
        let size_of = |keep: &[bool]| -> u64 {
            let mut seen = HashSet::new();
            let mut total = 0;
            for (_, e) in entries.iter().enumerate().filter(|(i, _)| keep[*i]) {
                total += e.size;
                if let Ok(entry) = &e.entry {
                    for blob in entry.blobs() {
                        if seen.insert(blob) {
                            total += blob_sizes.get(&blob).copied().unwrap_or(0);
                        }
                    }
                }
            }
            total
        };
        if let Some(max_size) = policy.max_size {
            let mut oldest = 0;
            while size_of(&keep) > max_size && oldest < entries.len() {
                keep[oldest] = false;
                oldest += 1;
            }
        }
        let mut referenced = HashSet::new();
        for (i, e) in entries.iter().enumerate() {
            if keep[i] {
                if let Ok(entry) = &e.entry {
                    referenced.extend(entry.blobs());
                }
            } else {
                fs_err::remove_file(&e.path).map_err(CacheError::io("remove action entry", &e.path))?;
                report.entries_removed += 1;
                report.bytes_freed += e.size;
            }
        }
        for (path, meta) in &blobs {
            if blob_digest(path).is_none_or(|d| !referenced.contains(&d)) {
                fs_err::remove_file(path).map_err(CacheError::io("remove blob", path))?;
                report.blobs_removed += 1;
                report.bytes_freed += meta.len();
            }
        }
        for temp in self.temp_files() {
            let _ = std::fs::remove_file(&temp);
        }
        report.bytes_after = self.stats().bytes;
        Ok(report)
    }

    /// Re-hashes every blob and checks every entry (parses, refers only to present
    /// blobs). Reports every problem, not just the first.
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport::default();
        let mut present = HashSet::new();
        for (path, _) in files_below(&self.root().join("cas")) {
            report.blobs_checked += 1;
            let Some(digest) = blob_digest(&path) else {
                report.problems.push(format!("`{}` is not named after a digest", path.display()));
                continue;
            };
            match self.read_blob(&digest) {
                Ok(_) => {
                    present.insert(digest);
                }
                Err(err) => report.problems.push(err.to_string()),
            }
        }
        for e in self.entries() {
            report.entries_checked += 1;
            match &e.entry {
                Err(reason) => report.problems.push(format!("cache entry `{}` is corrupt: {reason}", e.path.display())),
                Ok(entry) => {
                    for blob in entry.blobs() {
                        if !present.contains(&blob) {
                            report.problems.push(format!(
                                "cache entry `{}` (step `{}`) refers to missing blob `{blob}`",
                                e.path.display(),
                                entry.step
                            ));
                        }
                    }
                }
            }
        }
        report.temp_files = self.temp_files().len() as u64;
        report
    }

    /// Deletes the whole store (this layout version).
    pub fn clean(&self) -> Result<CacheStats, CacheError> {
        let before = self.stats();
        fs_err::remove_dir_all(self.root()).map_err(CacheError::io("remove", self.root()))?;
        for old in crate::cache_store::OLD_LAYOUTS {
            let dir = self.root().with_file_name(old);
            if dir.is_dir() {
                fs_err::remove_dir_all(&dir).map_err(CacheError::io("remove", &dir))?;
            }
        }
        Ok(before)
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use attest_hash::{EntryKind, Manifest, ManifestEntry, RelPath};

    use super::*;

    fn entry(store: &CacheStore, name: &str, content: &[u8]) -> ActionEntry {
        let digest = store.store_bytes(content, false).unwrap();
        let outputs = Manifest::new(vec![ManifestEntry {
            path: RelPath::new(name).unwrap(),
            kind: EntryKind::File,
            executable: false,
            digest: Some(digest),
            size: content.len() as u64,
        }]);
        let entry = ActionEntry::new(Digest::of_bytes(name.as_bytes()), name, outputs, 1, None, 0);
        store.put_action(&entry).unwrap();
        entry
    }

    #[test]
    fn clean_removes_the_store_and_layouts_of_earlier_versions() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path()).unwrap();
        entry(&store, "a", b"content");
        std::fs::create_dir_all(dir.path().join("v1/cas/ab")).unwrap();
        std::fs::write(dir.path().join("v1/cas/ab/abcd"), "old").unwrap();
        let before = store.clean().unwrap();
        assert_eq!(before.entries, 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "v1 and v2 are gone");
    }

    #[test]
    fn lru_eviction_by_size_and_age_then_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path()).unwrap();
        let old = entry(&store, "old", &[1u8; 10_000]);
        let new = entry(&store, "new", &[2u8; 10_000]);
        let past = SystemTime::now() - Duration::from_secs(3600);
        let old_path = store.root().join("ac").join(format!("{}.json", old.key.hex()));
        std::fs::File::options().write(true).open(&old_path).unwrap().set_modified(past).unwrap();
        assert!(store.verify().is_clean());

        let report = store.gc(GcPolicy { max_size: Some(15_000), max_age: None }, SystemTime::now()).unwrap();
        assert_eq!((report.entries_removed, report.blobs_removed), (1, 1));
        assert!(store.get_action(&old.key).unwrap().is_none());
        assert!(store.get_action(&new.key).unwrap().is_some());
        assert!(report.bytes_after <= 15_000);

        let later = SystemTime::now() + Duration::from_secs(86_400 * 2);
        let report = store.gc(GcPolicy { max_size: None, max_age: Some(Duration::from_secs(86_400)) }, later).unwrap();
        assert_eq!(report.entries_removed, 1);
        assert_eq!(store.stats().entries, 0);
        assert_eq!(store.stats().blobs, 0);
    }

    #[test]
    fn verify_reports_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path()).unwrap();
        let a = entry(&store, "a", b"aaa");
        let b = entry(&store, "b", b"bbb");
        let (blob_a, _) = store.blob_path(&a.outputs.entries()[0].digest.unwrap()).unwrap();
        std::fs::write(blob_a, b"tampered").unwrap();
        let (blob_b, _) = store.blob_path(&b.outputs.entries()[0].digest.unwrap()).unwrap();
        std::fs::remove_file(blob_b).unwrap();
        let report = store.verify();
        assert_eq!(report.problems.len(), 3, "{:?}", report.problems);
    }
}
