//! [`FileStat`]: the part of a file's `lstat` that attest keeps.
//!
//! A walk of a hundred thousand files holds one per file, and sorts them with their paths:
//! forty bytes instead of std's `Metadata` (the whole `struct statx`, several times that).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// `st_mode`'s file type bits.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;

/// A file's stat as attest compares it: the fields of git's "racy" check but for the
/// device and owner (which cannot change without the ctime changing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Inode number.
    pub inode: u64,
    /// `st_mode`: file type and permissions.
    pub mode: u32,
}

fn nanos(secs: i64, nsecs: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsecs)
}

impl FileStat {
    /// Bytes of [`FileStat::encode`]: size, mtime, ctime, inode, mode, little-endian.
    pub(crate) const ENCODED_LEN: usize = 8 + 8 + 8 + 8 + 4;

    /// Appends the stat as the state files store it.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.ctime_ns.to_le_bytes());
        out.extend_from_slice(&self.inode.to_le_bytes());
        out.extend_from_slice(&self.mode.to_le_bytes());
    }

    /// The stat [`FileStat::encode`] wrote; `None` unless `bytes` holds exactly
    /// [`FileStat::ENCODED_LEN`] bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let eight = |at: usize| -> Option<[u8; 8]> { bytes.get(at..at + 8)?.try_into().ok() };
        (bytes.len() == Self::ENCODED_LEN).then_some(())?;
        Some(Self {
            size: u64::from_le_bytes(eight(0)?),
            mtime_ns: i64::from_le_bytes(eight(8)?),
            ctime_ns: i64::from_le_bytes(eight(16)?),
            inode: u64::from_le_bytes(eight(24)?),
            mode: u32::from_le_bytes(bytes.get(32..36)?.try_into().ok()?),
        })
    }

    /// Whether the file is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    /// Whether the file is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    /// Whether the file is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    /// Whether any execute bit is set.
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }

    /// The stat `statx` returned (asked for at least [`rustix::fs::StatxFlags::BASIC_STATS`]).
    pub(crate) fn from_statx(stat: &rustix::fs::Statx) -> Self {
        Self {
            size: stat.stx_size,
            mtime_ns: nanos(stat.stx_mtime.tv_sec, i64::from(stat.stx_mtime.tv_nsec)),
            ctime_ns: nanos(stat.stx_ctime.tv_sec, i64::from(stat.stx_ctime.tv_nsec)),
            inode: stat.stx_ino,
            mode: u32::from(stat.stx_mode),
        }
    }
}

impl From<&Metadata> for FileStat {
    fn from(meta: &Metadata) -> Self {
        Self {
            size: meta.size(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
            mode: meta.mode(),
        }
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use rustix::fs::{AtFlags, CWD, StatxFlags, statx};

    use super::*;

    #[test]
    fn statx_and_std_metadata_agree() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool.sh");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("tool.sh", &link).unwrap();
        for path in [&file, &link, &dir.path().to_owned()] {
            let from_std = FileStat::from(&std::fs::symlink_metadata(path).unwrap());
            let from_statx =
                FileStat::from_statx(&statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::BASIC_STATS).unwrap());
            assert_eq!(from_std, from_statx, "{}", path.display());
        }
        let stat = FileStat::from(&std::fs::symlink_metadata(&file).unwrap());
        assert!(stat.is_file() && stat.is_executable() && !stat.is_symlink() && !stat.is_dir());
        assert_eq!(stat.size, 10);
        assert!(FileStat::from(&std::fs::symlink_metadata(&link).unwrap()).is_symlink());
        assert!(FileStat::from(&std::fs::symlink_metadata(dir.path()).unwrap()).is_dir());
    }

    #[test]
    fn the_stored_form_round_trips_and_refuses_other_lengths() {
        let stat = FileStat { size: u64::MAX, mtime_ns: -5, ctime_ns: i64::MAX, inode: 7, mode: 0o100_755 };
        let mut bytes = Vec::new();
        stat.encode(&mut bytes);
        assert_eq!(bytes.len(), FileStat::ENCODED_LEN);
        assert_eq!(FileStat::decode(&bytes), Some(stat));
        assert_eq!(FileStat::decode(&bytes[1..]), None);
        bytes.push(0);
        assert_eq!(FileStat::decode(&bytes), None);
    }
}
