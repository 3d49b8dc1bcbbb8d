//! The run's stat cache, loaded beside the first steps' directory walks: a step needs the
//! cache only once it has listed and stat'ed its inputs, so the run does not wait for a
//! large cache to be read before it starts.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use attest_hash::{PendingStatCache, StatCache};

use crate::{Reporter, RunEvent};

/// Where the run's [`StatCache`] comes from, and the cache once a step has asked for it.
pub(crate) struct StatSource<'a> {
    cache: OnceLock<Arc<StatCache>>,
    /// A load started before the run (none: load from `path` when first needed).
    pending: Option<PendingStatCache>,
    path: PathBuf,
    /// Told when the cache on disk was unusable and is rebuilt.
    reporter: &'a dyn Reporter,
}

impl<'a> StatSource<'a> {
    /// The cache at `path`, from `pending` when its load was started early.
    pub(crate) fn new(pending: Option<PendingStatCache>, path: PathBuf, reporter: &'a dyn Reporter) -> Self {
        Self { cache: OnceLock::new(), pending, path, reporter }
    }

    /// A cache already loaded.
    pub(crate) fn loaded(cache: StatCache, reporter: &'a dyn Reporter) -> Self {
        let source = Self::new(None, PathBuf::new(), reporter);
        let _ = source.cache.set(Arc::new(cache));
        source
    }

    /// The cache, waiting for its load the first time (other callers wait for the same load).
    pub(crate) fn get(&self) -> &StatCache {
        self.cache.get_or_init(|| {
            let load = match &self.pending {
                Some(pending) => pending.wait(),
                None => StatCache::load(&self.path),
            };
            if let Some(warning) = &load.warning {
                self.reporter.report(RunEvent::Warning(warning));
            }
            Arc::new(load.cache)
        })
    }

    /// The cache, loaded now if no step asked for it.
    pub(crate) fn into_cache(self) -> Arc<StatCache> {
        self.get();
        self.cache.into_inner().expect("get() filled the cache")
    }
}
