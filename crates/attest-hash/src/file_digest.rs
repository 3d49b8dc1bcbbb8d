use std::io::Read;
use std::path::{Path, PathBuf};

use crate::Digest;

/// Files at least this large are hashed through a memory map and, past
/// [`PARALLEL_THRESHOLD`], on several threads.
const MMAP_THRESHOLD: u64 = 256 * 1024;
const PARALLEL_THRESHOLD: u64 = 8 * 1024 * 1024;

/// A file that could not be read for hashing.
#[derive(Debug, thiserror::Error)]
#[error("failed to hash `{}`", path.display())]
pub struct HashError {
    /// The file.
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: std::io::Error,
}

/// The BLAKE3 digest of `data`.
pub fn hash_bytes(data: &[u8]) -> Digest {
    Digest::of_bytes(data)
}

/// The BLAKE3 digest of a regular file's bytes; `size` is its length from a prior stat
/// and only chooses the strategy (small read, mmap, or mmap on several threads).
pub fn hash_file(path: &Path, size: u64) -> Result<Digest, HashError> {
    let err = |source| HashError { path: path.to_owned(), source };
    let mut hasher = blake3::Hasher::new();
    if size >= PARALLEL_THRESHOLD {
        hasher.update_mmap_rayon(path).map_err(err)?;
    } else if size >= MMAP_THRESHOLD {
        hasher.update_mmap(path).map_err(err)?;
    } else {
        let mut file = fs_err::File::open(path).map_err(err)?;
        let mut buffer = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
        file.read_to_end(&mut buffer).map_err(err)?;
        hasher.update(&buffer);
    }
    Ok(Digest::blake3(*hasher.finalize().as_bytes()))
}

/// The SHA-256 digest of `data` (receipt subjects: the algorithm every verifier knows).
pub fn sha256_bytes(data: &[u8]) -> Digest {
    use sha2::Digest as _;
    Digest::sha256(sha2::Sha256::digest(data).into())
}

/// The SHA-256 digest of a file's bytes, read in blocks.
pub fn sha256_file(path: &Path) -> Result<Digest, HashError> {
    use sha2::Digest as _;
    let err = |source| HashError { path: path.to_owned(), source };
    let mut file = fs_err::File::open(path).map_err(err)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(Digest::sha256(hasher.finalize().into()))
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn all_strategies_agree() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0usize, 10, 300 * 1024, 9 * 1024 * 1024] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let path = dir.path().join(format!("f{size}"));
            std::fs::write(&path, &data).unwrap();
            assert_eq!(hash_file(&path, size as u64).unwrap(), hash_bytes(&data));
            assert_eq!(sha256_file(&path).unwrap(), sha256_bytes(&data));
        }
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(sha256_bytes(b"abc").hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = hash_file(Path::new("/nonexistent/x"), 1).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x"));
    }
}
