use std::path::{Path, PathBuf};

/// A workspace: the directory holding the pipeline file, and attest's state below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The workspace root (the pipeline file's directory).
    pub root: PathBuf,
}

impl Workspace {
    /// The workspace at `root`.
    pub fn new(root: &Path) -> Self {
        Self { root: root.to_owned() }
    }

    /// `.attest/`.
    pub fn attest_dir(&self) -> PathBuf {
        self.root.join(".attest")
    }

    /// `.attest/cache/`.
    pub fn cache_dir(&self) -> PathBuf {
        self.attest_dir().join("cache")
    }

    /// `.attest/state/v1/`: stat cache and key records.
    pub fn state_dir(&self) -> PathBuf {
        self.attest_dir().join("state").join("v1")
    }

    /// The stat cache file.
    pub fn stat_cache_path(&self) -> PathBuf {
        self.state_dir().join("stat-cache.bin")
    }

    /// The remembered directory listings file.
    pub fn dir_listings_path(&self) -> PathBuf {
        self.state_dir().join("dir-listings.bin")
    }

    /// `.attest/receipts/`: one receipt per run.
    pub fn receipts_dir(&self) -> PathBuf {
        self.attest_dir().join("receipts")
    }

    /// `.attest/attest.db`: run history (and, later, the governance log).
    pub fn database_path(&self) -> PathBuf {
        self.attest_dir().join("attest.db")
    }

    /// `.attest/sandbox/`: scratch directories of sandboxed steps (one per running step,
    /// removed when it finishes; outputs pass through them by renaming).
    pub fn sandbox_dir(&self) -> PathBuf {
        self.attest_dir().join("sandbox")
    }

    /// `.attest/containers`: local container images unpacked for runc, by digest.
    pub fn containers_dir(&self) -> PathBuf {
        self.attest_dir().join("containers")
    }

    /// `.attest/vm`: the kernels and initramfs images VM steps boot, by digest.
    pub fn vm_dir(&self) -> PathBuf {
        self.attest_dir().join("vm")
    }

    /// `.attest/lock`, held by runs and cache maintenance.
    pub fn lock_path(&self) -> PathBuf {
        self.attest_dir().join("lock")
    }
}
