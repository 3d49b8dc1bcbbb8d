use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use attest_hash::{Digest, RelPath};
use tempfile::NamedTempFile;

use crate::action_entry::ENTRY_VERSION;
use crate::{ActionEntry, CacheError};

/// Directory name of the current layout below `.attest/cache/`.
pub const LAYOUT_VERSION: &str = "v2";

/// Layouts of earlier versions, never read; `attest cache clean` removes them.
pub(crate) const OLD_LAYOUTS: [&str; 1] = ["v1"];
const ZSTD_LEVEL: i32 = 3;
const CHUNK: usize = 256 * 1024;

/// An action entry as [`CacheStore::find_action`] found it.
#[derive(Debug)]
pub struct FoundAction {
    /// The entry.
    pub entry: ActionEntry,
    /// When it was last used: its file's modification time.
    pub last_used: std::time::SystemTime,
}

/// The file name of the action entry for `key`, in the `ac` directory.
fn action_name(key: &Digest) -> String {
    format!("{}.json", key.hex())
}

/// The content-addressed store and action cache of one workspace.
#[derive(Debug)]
pub struct CacheStore {
    root: PathBuf,
    /// The action cache's directory, open: a run looks up thousands of entries in it.
    actions: rustix::fd::OwnedFd,
    /// The last workspace restored into and its resolved path: resolved once, not per file.
    real_root: std::sync::Mutex<Option<(PathBuf, PathBuf)>>,
}

impl CacheStore {
    /// Opens (creating if needed) the store below `cache_dir` (normally `.attest/cache`).
    pub fn open(cache_dir: &Path) -> Result<Self, CacheError> {
        let root = cache_dir.join(LAYOUT_VERSION);
        for sub in ["cas", "ac", "tmp"] {
            let dir = root.join(sub);
            fs_err::create_dir_all(&dir).map_err(CacheError::io("create cache directory", &dir))?;
        }
        let ac = root.join("ac");
        let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
        let actions = rustix::fs::open(&ac, flags, rustix::fs::Mode::empty())
            .map_err(|e| CacheError::io("open cache directory", &ac)(e.into()))?;
        Ok(Self { root, actions, real_root: std::sync::Mutex::new(None) })
    }

    /// The versioned root (`.attest/cache/v1`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where a blob or entry lives: flat, `kind/<hex>`. (Layout v1 had git-style
    /// `kind/ab/<hex>` directories; creating them cost a cold run one `mkdir` per file,
    /// ~0.3 ms each on this machine's disk, and ext4 indexes large directories anyway.)
    fn shard(&self, kind: &str, digest: &Digest) -> PathBuf {
        self.root.join(kind).join(digest.hex())
    }

    /// Where a blob lives, if it is stored (plain or compressed).
    pub(crate) fn blob_path(&self, digest: &Digest) -> Option<(PathBuf, bool)> {
        let plain = self.shard("cas", digest);
        if plain.is_file() {
            return Some((plain, false));
        }
        let compressed = plain.with_extension("zst");
        compressed.is_file().then_some((compressed, true))
    }

    /// Whether the blob is stored.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_some()
    }

    fn action_path(&self, key: &Digest) -> PathBuf {
        self.root.join("ac").join(action_name(key))
    }

    fn temp(&self) -> Result<NamedTempFile, CacheError> {
        NamedTempFile::new_in(self.tmp_dir()).map_err(CacheError::io("create temp file in", self.tmp_dir()))
    }

    /// Renames `temp` to `dest`, creating `dest`'s directory only when it is missing
    /// (someone removed it while the store was open).
    fn persist(temp: NamedTempFile, dest: &Path) -> Result<(), CacheError> {
        let rename_error = |source| CacheError::Io { action: "rename into", path: dest.to_owned(), source };
        let temp = match temp.persist(dest) {
            Ok(_) => return Ok(()),
            Err(err) if err.error.kind() == std::io::ErrorKind::NotFound => err.file,
            Err(err) => return Err(rename_error(err.error)),
        };
        if let Some(parent) = dest.parent() {
            fs_err::create_dir_all(parent).map_err(CacheError::io("create", parent))?;
        }
        temp.persist(dest).map(|_| ()).map_err(|e| rename_error(e.error))
    }

    /// Stores the file at `path`, whose content digest is `digest`, unless the blob is
    /// already present. Returns the bytes written (0 when it was present).
    pub fn store_file(&self, path: &Path, digest: &Digest, compress: bool) -> Result<u64, CacheError> {
        if self.has_blob(digest) {
            return Ok(0);
        }
        let mut source = fs_err::File::open(path).map_err(CacheError::io("read output", path))?;
        self.store_reader(&mut source, path, digest, compress)
    }

    /// Stores `bytes` (a log, a symlink target) under their digest.
    pub fn store_bytes(&self, bytes: &[u8], compress: bool) -> Result<Digest, CacheError> {
        let digest = Digest::of_bytes(bytes);
        if !self.has_blob(&digest) {
            self.store_reader(&mut &bytes[..], Path::new("<memory>"), &digest, compress)?;
        }
        Ok(digest)
    }

    fn store_reader(
        &self,
        source: &mut dyn Read,
        origin: &Path,
        digest: &Digest,
        compress: bool,
    ) -> Result<u64, CacheError> {
        let temp = self.temp()?;
        let temp_path = temp.path().to_owned();
        let write_err = CacheError::io("write blob", &temp_path);
        let mut hasher = blake3::Hasher::new();
        let mut buffer = vec![0u8; CHUNK];
        let written = {
            let file = temp.as_file();
            let mut sink: Box<dyn Write + '_> = if compress {
                Box::new(
                    zstd::Encoder::new(file, ZSTD_LEVEL).map_err(CacheError::io("compress", &temp_path))?.auto_finish(),
                )
            } else {
                Box::new(file)
            };
            let mut total = 0u64;
            loop {
                let n = source.read(&mut buffer).map_err(CacheError::io("read output", origin))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                sink.write_all(&buffer[..n]).map_err(CacheError::io("write blob", &temp_path))?;
                total += n as u64;
            }
            sink.flush().map_err(write_err)?;
            total
        };
        let actual = Digest::blake3(*hasher.finalize().as_bytes());
        if actual != *digest {
            // The file changed between hashing and storing: do not store a lie.
            return Err(CacheError::DigestMismatch { expected: *digest, actual });
        }
        let mut dest = self.shard("cas", digest);
        if compress {
            dest.set_extension("zst");
        }
        Self::persist(temp, &dest)?;
        Ok(written)
    }

    /// Reads a whole blob, verifying its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, CacheError> {
        let mut out = Vec::new();
        self.copy_blob(digest, &mut out)?;
        Ok(out)
    }

    /// Streams a blob into `sink`, verifying its digest at the end. On a mismatch the
    /// sink has received bad bytes; callers write to a temp file and discard it.
    fn copy_blob(&self, digest: &Digest, sink: &mut dyn Write) -> Result<(), CacheError> {
        let (path, compressed) = self.blob_path(digest).ok_or(CacheError::MissingBlob { digest: *digest })?;
        let file = fs_err::File::open(&path).map_err(CacheError::io("read blob", &path))?;
        let mut reader: Box<dyn Read> = if compressed {
            Box::new(zstd::Decoder::new(file).map_err(CacheError::io("decompress blob", &path))?)
        } else {
            Box::new(file)
        };
        let mut hasher = blake3::Hasher::new();
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut buffer).map_err(CacheError::io("read blob", &path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            sink.write_all(&buffer[..n]).map_err(CacheError::io("write restored file from", &path))?;
        }
        let actual = Digest::blake3(*hasher.finalize().as_bytes());
        if actual != *digest {
            return Err(CacheError::DigestMismatch { expected: *digest, actual });
        }
        Ok(())
    }

    /// Restores blob `digest` to `workspace/path` (a regular file, with the executable
    /// bit as given): verified, written to a temp file next to it, renamed into place.
    /// Refuses paths whose parent directory resolves outside the workspace.
    ///
    /// The temp file is written in the destination's directory, named
    /// [`attest_hash::TEMP_FILE_PREFIX`]`*` (a run killed in between leaves one there,
    /// which no walk ever lists): a rename within one directory locks that directory
    /// only, where one from the cache's `tmp/` into the workspace takes the file system's
    /// lock for renames across directories, which made the workers of a restore wait for
    /// each other.
    pub fn restore_file(
        &self,
        workspace: &Path,
        path: &RelPath,
        digest: &Digest,
        executable: bool,
    ) -> Result<(), CacheError> {
        let dest = self.prepare_destination(workspace, path)?;
        let parent = dest.parent().unwrap_or(workspace);
        let mut temp = tempfile::Builder::new()
            .prefix(attest_hash::TEMP_FILE_PREFIX)
            .tempfile_in(parent)
            .map_err(CacheError::io("create temp file in", parent))?;
        self.copy_blob(digest, temp.as_file_mut())?;
        let mode = if executable { 0o755 } else { 0o644 };
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(CacheError::io("set permissions of", temp.path()))?;
        remove_if_dir(&dest)?;
        temp.persist(&dest).map(|_| ()).map_err(|e| CacheError::Io {
            action: "rename into",
            path: dest,
            source: e.error,
        })
    }

    /// Restores a symlink output whose target text is stored as blob `digest`. Targets
    /// that are absolute or lead outside the workspace are refused.
    pub fn restore_symlink(&self, workspace: &Path, path: &RelPath, digest: &Digest) -> Result<(), CacheError> {
        let target_bytes = self.read_blob(digest)?;
        let target = String::from_utf8(target_bytes).map_err(|_| CacheError::UnsafePath {
            path: path.to_string(),
            reason: "the link target is not UTF-8".to_owned(),
        })?;
        let parent = path.as_str().rsplit_once('/').map_or("", |(p, _)| p);
        let joined = if parent.is_empty() { target.clone() } else { format!("{parent}/{target}") };
        if target.starts_with('/') || RelPath::new(&joined).is_err() {
            return Err(CacheError::UnsafePath {
                path: path.to_string(),
                reason: format!("the link target `{target}` points outside the workspace"),
            });
        }
        let dest = self.prepare_destination(workspace, path)?;
        remove_if_dir(&dest)?;
        let temp_link = self.tmp_dir().join(format!("link-{}-{}", std::process::id(), digest.short(16)));
        let _ = std::fs::remove_file(&temp_link);
        std::os::unix::fs::symlink(&target, &temp_link).map_err(CacheError::io("create symlink", &temp_link))?;
        fs_err::rename(&temp_link, &dest).map_err(CacheError::io("rename into", &dest))?;
        Ok(())
    }

    fn prepare_destination(&self, workspace: &Path, path: &RelPath) -> Result<PathBuf, CacheError> {
        let dest = path.under(workspace);
        let parent = dest.parent().unwrap_or(workspace).to_owned();
        fs_err::create_dir_all(&parent).map_err(CacheError::io("create", &parent))?;
        let real_parent = fs_err::canonicalize(&parent).map_err(CacheError::io("resolve", &parent))?;
        let real_root = {
            let mut known = self.real_root.lock().expect("real root lock is never poisoned");
            match known.as_ref() {
                Some((root, real)) if root == workspace => real.clone(),
                _ => {
                    let real = fs_err::canonicalize(workspace).map_err(CacheError::io("resolve", workspace))?;
                    *known = Some((workspace.to_owned(), real.clone()));
                    real
                }
            }
        };
        if !real_parent.starts_with(&real_root) {
            return Err(CacheError::UnsafePath {
                path: path.to_string(),
                reason: format!("its directory resolves to `{}`, outside the workspace", real_parent.display()),
            });
        }
        Ok(dest)
    }

    /// The entry for `key`, if present. A corrupt entry is an error the caller reports
    /// and treats as a miss.
    pub fn get_action(&self, key: &Digest) -> Result<Option<ActionEntry>, CacheError> {
        Ok(self.find_action(key)?.map(|found| found.entry))
    }

    /// The entry for `key` and when it was last used, if present: what a run that uses
    /// the entry passes to [`CacheStore::touch_action`]. Errors as [`CacheStore::get_action`].
    pub fn find_action(&self, key: &Digest) -> Result<Option<FoundAction>, CacheError> {
        let path = self.action_path(key);
        let read = || -> std::io::Result<(Vec<u8>, std::time::SystemTime)> {
            let name = action_name(key);
            let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
            let mut file =
                std::fs::File::from(rustix::fs::openat(&self.actions, name, flags, rustix::fs::Mode::empty())?);
            let meta = file.metadata()?;
            // Entries are renamed into place whole: the size read is the entry's.
            let mut bytes = vec![0; usize::try_from(meta.len()).map_err(std::io::Error::other)?];
            file.read_exact(&mut bytes)?;
            Ok((bytes, meta.modified()?))
        };
        let (bytes, last_used) = match read() {
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(CacheError::io("read action entry", &path)(err)),
        };
        let entry: ActionEntry =
            serde_json::from_slice(&bytes).map_err(|source| CacheError::CorruptEntry { path: path.clone(), source })?;
        if entry.version != ENTRY_VERSION || entry.key != *key {
            return Ok(None);
        }
        Ok(Some(FoundAction { entry, last_used }))
    }

    /// Writes the entry for `entry.key` (atomically).
    pub fn put_action(&self, entry: &ActionEntry) -> Result<(), CacheError> {
        let mut temp = self.temp()?;
        let bytes = serde_json::to_vec(entry).expect("action entries serialise to JSON");
        temp.write_all(&bytes).map_err(CacheError::io("write action entry", temp.path()))?;
        Self::persist(temp, &self.action_path(&entry.key))
    }

    /// Marks an entry found by [`CacheStore::find_action`] as used now (its modification
    /// time drives LRU eviction). Entries used within the last hour are left alone: LRU
    /// does not need finer time, and a null run then writes nothing.
    pub fn touch_action(&self, found: &FoundAction) {
        let now = std::time::SystemTime::now();
        if now.duration_since(found.last_used).is_ok_and(|age| age < std::time::Duration::from_secs(3600)) {
            return;
        }
        if let Ok(file) = std::fs::File::options().write(true).open(self.action_path(&found.entry.key)) {
            let _ = file.set_modified(now);
        }
    }
}

fn remove_if_dir(dest: &Path) -> Result<(), CacheError> {
    if std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        fs_err::remove_dir_all(dest).map_err(CacheError::io("replace directory", dest))?;
    }
    Ok(())
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use attest_hash::{EntryKind, Manifest, ManifestEntry};

    use super::*;

    fn store() -> (tempfile::TempDir, CacheStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(&dir.path().join(".attest/cache")).unwrap();
        (dir, store)
    }

    #[test]
    fn layout_version_is_pinned() {
        // Changing the on-disk layout must come with a new directory name.
        assert_eq!(LAYOUT_VERSION, "v2");
    }

    #[test]
    fn store_and_restore_plain_and_compressed() {
        for compress in [false, true] {
            let (dir, store) = store();
            let src = dir.path().join("out.bin");
            let data: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
            std::fs::write(&src, &data).unwrap();
            let digest = Digest::of_bytes(&data);
            assert!(store.store_file(&src, &digest, compress).unwrap() > 0);
            assert_eq!(store.store_file(&src, &digest, compress).unwrap(), 0, "stored once");
            let rel = RelPath::new("restored/dir/out.bin").unwrap();
            store.restore_file(dir.path(), &rel, &digest, true).unwrap();
            let restored = dir.path().join("restored/dir/out.bin");
            assert_eq!(std::fs::read(&restored).unwrap(), data);
            assert_eq!(std::fs::metadata(&restored).unwrap().permissions().mode() & 0o777, 0o755);
        }
    }

    #[test]
    fn a_corrupt_blob_is_detected_and_nothing_is_written() {
        let (dir, store) = store();
        let digest = store.store_bytes(b"good content", false).unwrap();
        let (blob, _) = store.blob_path(&digest).unwrap();
        std::fs::write(&blob, b"evil content").unwrap();
        let rel = RelPath::new("out.txt").unwrap();
        let err = store.restore_file(dir.path(), &rel, &digest, false).unwrap_err();
        assert!(matches!(err, CacheError::DigestMismatch { .. }), "{err}");
        assert!(!dir.path().join("out.txt").exists());
        assert_eq!(workspace_files(dir.path()), [".attest"], "temp file cleaned up");
    }

    /// The names in `dir`, sorted.
    fn workspace_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_restore_writes_next_to_its_destination_and_leaves_only_the_file() {
        let (dir, store) = store();
        let digest = store.store_bytes(b"built\n", false).unwrap();
        store.restore_file(dir.path(), &RelPath::new("dist/bin/tool").unwrap(), &digest, true).unwrap();
        store.restore_file(dir.path(), &RelPath::new("top.txt").unwrap(), &digest, false).unwrap();
        assert_eq!(workspace_files(&dir.path().join("dist/bin")), ["tool"]);
        assert_eq!(workspace_files(dir.path()), [".attest", "dist", "top.txt"]);
        assert_eq!(std::fs::read(dir.path().join("dist/bin/tool")).unwrap(), b"built\n");
        let mode = std::fs::metadata(dir.path().join("dist/bin/tool")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn restores_refuse_to_leave_the_workspace() {
        let (dir, store) = store();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        let digest = store.store_bytes(b"x", false).unwrap();
        let err = store.restore_file(dir.path(), &RelPath::new("escape/file").unwrap(), &digest, false).unwrap_err();
        assert!(matches!(err, CacheError::UnsafePath { .. }), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        for target in ["/etc/passwd", "../../etc/passwd"] {
            let link = store.store_bytes(target.as_bytes(), false).unwrap();
            let err = store.restore_symlink(dir.path(), &RelPath::new("dist/link").unwrap(), &link).unwrap_err();
            assert!(matches!(err, CacheError::UnsafePath { .. }), "{err}");
        }
        let ok = store.store_bytes(b"../src/a", false).unwrap();
        store.restore_symlink(dir.path(), &RelPath::new("dist/link").unwrap(), &ok).unwrap();
        assert_eq!(std::fs::read_link(dir.path().join("dist/link")).unwrap(), Path::new("../src/a"));
    }

    #[test]
    fn action_entries_round_trip_and_corruption_is_an_error() {
        let (_dir, store) = store();
        let key = Digest::of_bytes(b"key");
        assert!(store.get_action(&key).unwrap().is_none());
        let outputs = Manifest::new(vec![ManifestEntry {
            path: RelPath::new("dist/a").unwrap(),
            kind: EntryKind::File,
            executable: false,
            digest: Some(Digest::of_bytes(b"a")),
            size: 1,
        }]);
        let entry = ActionEntry::new(key, "build", outputs, 12, None, 1);
        store.put_action(&entry).unwrap();
        assert_eq!(store.get_action(&key).unwrap(), Some(entry));
        std::fs::write(store.action_path(&key), b"{\"trunc").unwrap();
        assert!(matches!(store.get_action(&key), Err(CacheError::CorruptEntry { .. })));
    }

    #[test]
    fn using_an_entry_refreshes_its_age_at_most_hourly() {
        let (_dir, store) = store();
        let entry = ActionEntry::new(Digest::of_bytes(b"key"), "build", Manifest::new(Vec::new()), 1, None, 1);
        store.put_action(&entry).unwrap();
        let path = store.action_path(&entry.key);
        let set_age = |secs: u64| {
            let then = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(then).unwrap();
            then
        };
        let recent = set_age(600);
        let found = store.find_action(&entry.key).unwrap().unwrap();
        assert_eq!(found.last_used, recent);
        store.touch_action(&found);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), recent, "used within the hour: left alone");
        let old = set_age(2 * 86_400);
        let found = store.find_action(&entry.key).unwrap().unwrap();
        assert_eq!(found.last_used, old);
        store.touch_action(&found);
        let age = std::fs::metadata(&path).unwrap().modified().unwrap().elapsed().unwrap_or_default();
        assert!(age < std::time::Duration::from_secs(60), "touched: {age:?}");
    }
}
