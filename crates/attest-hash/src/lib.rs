//! Content digests for attest: what a file, a file set or a JSON value "is".
//!
//! - [`Digest`]: a typed `blake3:<hex>` / `sha256:<hex>` value, never a bare string.
//! - [`canonical_json`]: RFC 8785 (JCS) bytes for anything hashed or signed.
//! - [`RelPath`]: a normalised, workspace-relative `/`-separated path that cannot escape.
//! - [`StatCache`]: `(path, size, mtime, ctime, inode, mode) -> digest`, persisted, so an
//!   unchanged file is never read twice; entries younger than their hashing time are
//!   re-hashed (the "racy git" rule).
//! - [`FileSet`]: resolution of input/output patterns (files, directories, globs,
//!   `!` excludes, ignore files) to a sorted list of files.
//! - [`civil_from_days`], [`days_from_civil`]: the calendar arithmetic of attest's UTC
//!   timestamps.
//! - [`DirListings`]: directory listings remembered between runs, trusted while the
//!   directory's stat is unchanged (and not racy), so an unchanged directory is not read.
//! - [`Manifest`]: the canonical list of `(path, kind, executable, digest)` whose digest
//!   stands for a whole file set.

mod atomic_file;
mod canonical;
mod civil_date;
mod digest;
mod dir_listings;
mod file_digest;
mod file_set;
mod file_stat;
mod manifest;
mod path_hasher;
mod pending_load;
mod rel_path;
mod sealed_file;
mod sorted_json;
mod stat_cache;
mod stat_table;
mod synced_pieces;

pub use atomic_file::{Durability, write_atomically};
pub use canonical::{CanonicalJsonError, canonical_json, digest_json};
pub use civil_date::{civil_from_days, days_from_civil};
pub use digest::{Algorithm, Digest, DigestParseError};
pub use dir_listings::{DirListings, DirListingsLoad, PendingDirListings};
pub use file_digest::{HashError, hash_bytes, hash_file, sha256_bytes, sha256_file};
pub use file_set::{FileSet, FileSetError, TEMP_FILE_PREFIX, WorkspaceFilter};
pub use file_stat::FileStat;
pub use manifest::{EntryKind, Manifest, ManifestEntry};
pub use path_hasher::{PathHashBuilder, PathHasher};
pub use pending_load::PendingLoad;
pub use rel_path::{RelPath, RelPathError};
pub use sorted_json::{SortedJsonError, sorted_json};
pub use stat_cache::{PendingStatCache, StatCache, StatCacheLoad};
pub use stat_table::WatchToken;
pub use synced_pieces::SyncedPieces;
