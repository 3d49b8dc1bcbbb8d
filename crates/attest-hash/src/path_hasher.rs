//! A fast hasher for in-memory maps keyed by workspace paths.
//!
//! std's SipHash guards maps against keys chosen by an attacker, at several times the
//! cost on short keys. The paths of a workspace are its owner's, and attest looks up
//! hundreds of thousands of them per run, so its path maps use this instead: each
//! written slice is folded in eight bytes at a time, every step fully mixed by
//! MurmurHash3's finaliser. It is never persisted and never decides a digest; a
//! collision only costs a slower lookup.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`PathHasher`]s: `HashMap<K, V, PathHashBuilder>`.
pub type PathHashBuilder = BuildHasherDefault<PathHasher>;

/// See the module documentation.
#[derive(Debug, Default, Clone, Copy)]
pub struct PathHasher(u64);

/// MurmurHash3's 64-bit finaliser: a bijection in which every output bit depends on every
/// input bit.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = fmix64(self.0 ^ bytes.len() as u64 ^ 0x9e37_79b9_7f4a_7c15);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            h = fmix64(h ^ u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.0 = fmix64(h ^ u64::from_le_bytes(tail));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The hash of `bytes` alone.
    fn hash_path(bytes: &[u8]) -> u64 {
        let mut hasher = PathHasher::default();
        hasher.write(bytes);
        hasher.finish()
    }

    #[test]
    fn paths_differing_in_any_bit_or_length_hash_differently() {
        let base = b"pkgs/t0000/src/f00000.txt".to_vec();
        let mut seen = HashSet::new();
        assert!(seen.insert(hash_path(&base)));
        for i in 0..base.len() {
            for bit in 0..8 {
                let mut changed = base.clone();
                changed[i] ^= 1 << bit;
                assert!(seen.insert(hash_path(&changed)), "byte {i} bit {bit}");
            }
        }
        assert_ne!(hash_path(b"a"), hash_path(b"a\0"));
        assert_ne!(hash_path(b""), hash_path(b"\0"));
    }

    #[test]
    fn a_map_with_the_path_hasher_behaves_like_any_map() {
        let mut set: HashSet<String, PathHashBuilder> = HashSet::default();
        for i in 0..10_000 {
            assert!(set.insert(format!("dir{}/file{i}.txt", i % 7)));
        }
        assert!(!set.insert("dir3/file3.txt".to_owned()));
        assert!(set.contains("dir0/file0.txt"));
        assert!(!set.contains("dir0/file1.txt"));
    }
}
