//! The local cache under `.attest/cache/`.
//!
//! Layout (the version is in the path; bump it together with the test
//! `layout_version_is_pinned`):
//!
//! ```text
//! .attest/cache/v2/cas/abcdef….           blob by BLAKE3 of its content (`.zst` when compressed)
//! .attest/cache/v2/ac/1234….json          action entry: cache key -> outputs, exit code, log
//! .attest/cache/v2/tmp/                   temp files, renamed into place when complete
//! ```
//!
//! Every write goes to `tmp/` and is renamed into place, so a reader (or a process killed
//! at any moment) sees a whole entry or none. Cache files are not fsync'ed one by one
//! (that would cost milliseconds per step): every blob is verified against its digest
//! when it is restored and an unreadable entry is a miss, so data lost to a power cut
//! costs a re-run with a warning, never a wrong output. [`CacheLock`] serialises runs
//! and maintenance on one `.attest/` directory.

mod action_entry;
mod cache_error;
mod cache_lock;
mod cache_store;
mod maintenance;

pub use action_entry::ActionEntry;
pub use cache_error::CacheError;
pub use cache_lock::{CacheLock, LockMode};
pub use cache_store::{CacheStore, FoundAction, LAYOUT_VERSION};
pub use maintenance::{CacheStats, GcPolicy, GcReport, VerifyReport};
