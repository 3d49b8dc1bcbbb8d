//! Resolution of input and output patterns to concrete files.
//!
//! A pattern is a file, a directory (everything below it), or a glob (`*` stays within one
//! path component, `**` crosses them); `!pattern` excludes. Walks never follow symlinks (a
//! link is content: its target string) and never enter `.git/` or `.attest/`.
//! The root `.attestignore` (gitignore syntax) applies to every walk; `.gitignore` files
//! (and nested `.attestignore` files) apply to the default input set (the whole
//! workspace), where untracked build junk does not belong, but not to explicit patterns,
//! which often name ignored build outputs on purpose.

use std::collections::HashSet;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::{WalkBuilder, WalkState};
use rayon::prelude::*;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, StatxFlags};
use rustix::io::Errno;

use crate::stat_cache::now_ns;
use crate::{DirListings, EntryKind, FileStat, HashError, Manifest, ManifestEntry, RelPath, RelPathError, StatCache};

/// Directories attest never looks into.
const ALWAYS_IGNORED: [&str; 2] = [".git", ".attest"];
const IGNORE_FILE: &str = ".attestignore";

/// How the name of a file attest writes next to its destination (a restored output)
/// before renaming it into place begins. Such files are always ignored, like `.attest/`:
/// a run killed between the two leaves one behind, which no later run may take for an
/// input or an output.
pub const TEMP_FILE_PREFIX: &str = ".attest-tmp-";

/// Why a file set could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum FileSetError {
    /// A pattern that is not a valid glob.
    #[error("invalid pattern `{pattern}`")]
    BadPattern {
        /// The pattern as written.
        pattern: String,
        /// What the glob parser said.
        #[source]
        source: globset::Error,
    },
    /// A pattern whose fixed part is not a workspace-relative path.
    #[error("invalid pattern `{pattern}`")]
    BadPath {
        /// The pattern as written.
        pattern: String,
        /// Why the path was refused.
        #[source]
        source: RelPathError,
    },
    /// An ignore file that could not be parsed.
    #[error("failed to read ignore file `{}`", path.display())]
    IgnoreFile {
        /// The ignore file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: ignore::Error,
    },
    /// A directory that could not be walked, or a file that could not be stat'ed.
    #[error("failed to read `{}`", path.display())]
    Walk {
        /// Where the walk failed.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A file that could not be hashed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// The workspace root and the ignore rules that apply to every walk below it. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct WorkspaceFilter {
    inner: Arc<FilterInner>,
}

#[derive(Debug)]
struct FilterInner {
    root: PathBuf,
    /// The root, open (`O_PATH`): walks open and stat paths relative to it, which is
    /// cheaper than resolving each absolute path from `/`.
    root_dir: OwnedFd,
    attestignore: Gitignore,
    listings: Option<DirListings>,
}

impl WorkspaceFilter {
    /// Reads the root `.attestignore` (if present) of the workspace at `root`.
    pub fn new(root: &Path) -> Result<Self, FileSetError> {
        Self::build(root, None)
    }

    /// As [`WorkspaceFilter::new`], with directory listings remembered from earlier runs:
    /// walks take an unchanged directory's entries from them, and remember the listings
    /// they read (see [`DirListings`]).
    pub fn with_listings(root: &Path, listings: DirListings) -> Result<Self, FileSetError> {
        Self::build(root, Some(listings))
    }

    fn build(root: &Path, listings: Option<DirListings>) -> Result<Self, FileSetError> {
        let mut builder = GitignoreBuilder::new(root);
        let path = root.join(IGNORE_FILE);
        if path.is_file()
            && let Some(source) = builder.add(&path)
        {
            return Err(FileSetError::IgnoreFile { path, source });
        }
        let attestignore = builder.build().map_err(|source| FileSetError::IgnoreFile { path: path.clone(), source })?;
        let root_dir = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| FileSetError::Walk { path: root.to_owned(), source: e.into() })?;
        Ok(Self { inner: Arc::new(FilterInner { root: root.to_owned(), root_dir, attestignore, listings }) })
    }

    /// The directory listings walks use and add to, if any.
    pub fn listings(&self) -> Option<&DirListings> {
        self.inner.listings.as_ref()
    }

    /// The workspace root.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// `lstat` of workspace path `rel`, relative to the open root; `None` when missing.
    pub fn stat(&self, rel: &RelPath) -> std::io::Result<Option<FileStat>> {
        stat_at(self.root_dir(), rel.as_str()).map_err(Into::into)
    }

    fn root_dir(&self) -> BorrowedFd<'_> {
        self.inner.root_dir.as_fd()
    }

    /// The absolute path of workspace path `rel` (`None`: the root), for messages.
    fn shown(&self, rel: Option<&RelPath>) -> PathBuf {
        rel.map_or_else(|| self.root().to_owned(), |rel| rel.under(self.root()))
    }

    fn walk_error(&self, rel: Option<&RelPath>, errno: Errno) -> FileSetError {
        FileSetError::Walk { path: self.shown(rel), source: errno.into() }
    }

    /// Whether the workspace path `rel` is never looked at, whatever the ignore files say:
    /// `.git`, `.attest` and everything below them, and attest's own temporary files.
    pub fn always_ignored(rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        name.starts_with(TEMP_FILE_PREFIX)
            || ALWAYS_IGNORED
                .iter()
                .any(|d| rel == *d || (rel.starts_with(d) && rel.as_bytes().get(d.len()) == Some(&b'/')))
    }

    fn ignored(&self, rel: &str, is_dir: bool) -> bool {
        Self::always_ignored(rel) || self.inner.attestignore.matched_path_or_any_parents(rel, is_dir).is_ignore()
    }
}

/// A resolved file: its path and metadata (`None` when a literal path does not exist).
#[derive(Debug, Clone)]
pub struct Found {
    /// Workspace-relative path.
    pub path: RelPath,
    /// `lstat` of the path, or `None` if it is missing.
    pub meta: Option<FileStat>,
}

/// A resolved, sorted, de-duplicated list of files.
#[derive(Debug, Clone, Default)]
pub struct FileSet {
    files: Vec<Found>,
}

fn is_glob(component: &str) -> bool {
    component.contains(['*', '?', '[', '{'])
}

fn glob(pattern: &str) -> Result<Glob, FileSetError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|source| FileSetError::BadPattern { pattern: pattern.to_owned(), source })
}

/// What an include pattern matches below its base directory.
enum Matcher {
    /// A literal path: the file itself, or everything below a directory.
    Literal,
    /// `base/**`: everything below the base (no glob matching needed).
    Everything,
    /// Any other glob, matched against workspace-relative paths.
    Glob(GlobMatcher),
}

/// One include pattern, split into the directory to walk and what to match there.
struct Include {
    base: Option<RelPath>,
    matcher: Matcher,
}

fn parse_include(pattern: &str, compile: bool) -> Result<Include, FileSetError> {
    let trimmed = pattern.trim_end_matches('/');
    let components: Vec<&str> = trimmed.split('/').collect();
    let fixed = components.iter().take_while(|c| !is_glob(c)).count();
    let bad_path = |source| FileSetError::BadPath { pattern: pattern.to_owned(), source };
    let base_text = components[..fixed].join("/");
    let base = match RelPath::new(&base_text) {
        Ok(path) => Some(path),
        Err(RelPathError::Empty) => None,
        Err(source) => return Err(bad_path(source)),
    };
    if fixed == components.len() {
        if base.is_none() {
            return Err(bad_path(RelPathError::Empty));
        }
        return Ok(Include { base, matcher: Matcher::Literal });
    }
    if components[fixed..] == ["**"] {
        return Ok(Include { base, matcher: Matcher::Everything });
    }
    // Normalise the glob the same way paths are normalised (drop `./`).
    let normalised: Vec<&str> = components.iter().copied().filter(|c| !c.is_empty() && *c != ".").collect();
    let parsed = glob(&normalised.join("/"))?;
    let matcher = if compile { Matcher::Glob(parsed.compile_matcher()) } else { Matcher::Everything };
    Ok(Include { base, matcher })
}

fn exclude_set(patterns: &[&str]) -> Result<Option<GlobSet>, FileSetError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let trimmed = pattern.trim_start_matches("./").trim_end_matches('/');
        builder.add(glob(trimmed)?);
        builder.add(glob(&format!("{trimmed}/**"))?);
    }
    builder.build().map(Some).map_err(|source| FileSetError::BadPattern { pattern: patterns.join(", "), source })
}

/// `lstat` of `name` in `dir`; `None` when it does not exist.
fn stat_at<P: rustix::path::Arg>(dir: BorrowedFd<'_>, name: P) -> Result<Option<FileStat>, Errno> {
    match rustix::fs::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::BASIC_STATS) {
        Ok(stat) => Ok(Some(FileStat::from_statx(&stat))),
        Err(Errno::NOENT) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// Opens the directory `path` below `dir` for reading, without following a final symlink:
/// `NOTDIR` or `LOOP` when it is a file or a link.
fn open_dir<P: rustix::path::Arg>(dir: BorrowedFd<'_>, path: P) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

impl FileSet {
    /// Checks a pattern's syntax without touching the file system.
    pub fn check_pattern(pattern: &str) -> Result<(), FileSetError> {
        match pattern.strip_prefix('!') {
            Some(rest) => glob(rest.trim_start_matches("./").trim_end_matches('/')).map(|_| ()),
            None => parse_include(pattern, false).map(|_| ()),
        }
    }

    /// Resolves explicit patterns (`!` excludes) below the filter's root.
    pub fn resolve(filter: &WorkspaceFilter, patterns: &[String]) -> Result<Self, FileSetError> {
        Self::resolve_knowing(filter, patterns, &|_| None)
    }

    /// [`FileSet::resolve`], taking the stat of a file from `known` when it has one (a
    /// stat the caller knows to be current: one it took itself, or one a file-system
    /// watcher vouches for) instead of asking the file system again.
    pub fn resolve_knowing(
        filter: &WorkspaceFilter,
        patterns: &[String],
        known: &dyn Fn(&RelPath) -> Option<FileStat>,
    ) -> Result<Self, FileSetError> {
        let (excludes, includes): (Vec<&str>, Vec<&str>) = {
            let mut ex = Vec::new();
            let mut inc = Vec::new();
            for p in patterns {
                match p.strip_prefix('!') {
                    Some(rest) => ex.push(rest),
                    None => inc.push(p.as_str()),
                }
            }
            (ex, inc)
        };
        let excluded = exclude_set(&excludes)?;
        let is_excluded = |rel: &RelPath| excluded.as_ref().is_some_and(|set| set.is_match(rel.as_str()));
        // Room for a typical step's inputs without growing (a reallocation on a worker's
        // heap may wait for another thread that frees a chunk there).
        let mut files = Vec::with_capacity(64);
        for pattern in includes {
            let include = parse_include(pattern, true)?;
            let base = include.base.as_ref();
            if base.is_some_and(|b| WorkspaceFilter::always_ignored(b.as_str())) {
                continue;
            }
            if let Matcher::Literal = include.matcher {
                let base = include.base.expect("a literal pattern has a non-empty path");
                if is_excluded(&base) {
                    continue;
                }
                // Usually a file (an output, a lock file): one `statx` says so; only a
                // directory is opened and walked.
                let stat = |base: &RelPath| stat_at(filter.root_dir(), base.as_str());
                let meta = match known(&base).filter(|known| !known.is_dir()) {
                    Some(known) => Some(known),
                    None => stat(&base).map_err(|e| filter.walk_error(Some(&base), e))?,
                };
                if !meta.as_ref().is_some_and(FileStat::is_dir) {
                    files.push(Found { path: base, meta });
                    continue;
                }
                match open_dir(filter.root_dir(), base.as_str()) {
                    Ok(dir) => walk_dir(filter, dir, Some(base), known, &mut |found| {
                        if !is_excluded(&found.path) {
                            files.push(found);
                        }
                    })?,
                    // Replaced by a file, a symlink (never followed) or nothing since.
                    Err(Errno::NOTDIR | Errno::LOOP | Errno::NOENT) => {
                        let meta = stat(&base).map_err(|e| filter.walk_error(Some(&base), e))?;
                        files.push(Found { path: base, meta });
                    }
                    Err(errno) => return Err(filter.walk_error(Some(&base), errno)),
                }
                continue;
            }
            // Relative to the open root, whose own path is `.`.
            let dir = match open_dir(filter.root_dir(), base.map_or(".", RelPath::as_str)) {
                Ok(dir) => dir,
                // The glob's fixed part is missing, a file or a symlink: nothing matches.
                Err(Errno::NOTDIR | Errno::LOOP | Errno::NOENT) => continue,
                Err(errno) => return Err(filter.walk_error(base, errno)),
            };
            walk_dir(filter, dir, include.base.clone(), known, &mut |found| {
                let matched = match &include.matcher {
                    Matcher::Glob(glob) => glob.is_match(found.path.as_str()),
                    _ => true,
                };
                if matched && !is_excluded(&found.path) {
                    files.push(found);
                }
            })?;
        }
        Ok(Self::from_found(files))
    }

    /// The default input set: every file of the workspace, minus `.gitignore`d,
    /// `.attestignore`d files and anything at or below one of `outputs` (the pipeline's
    /// declared outputs, which reach a step through its upstream digests instead).
    /// The walk runs on several threads.
    pub fn resolve_workspace(filter: &WorkspaceFilter, outputs: &[RelPath]) -> Result<Self, FileSetError> {
        let outputs: HashSet<String> = outputs.iter().map(|p| p.as_str().to_owned()).collect();
        let under_output =
            move |rel: &str| outputs.contains(rel) || rel.match_indices('/').any(|(i, _)| outputs.contains(&rel[..i]));
        let walk_filter = filter.clone();
        let files = Mutex::new(Vec::new());
        let error = Mutex::new(None);
        let root = filter.root().to_owned();
        let walker = WalkBuilder::new(&root)
            .standard_filters(false)
            .hidden(false)
            .parents(false)
            .git_ignore(true)
            .require_git(false)
            .add_custom_ignore_filename(IGNORE_FILE)
            .follow_links(false)
            .filter_entry(move |entry| {
                let Some(rel) = entry.path().strip_prefix(walk_filter.root()).ok().and_then(Path::to_str) else {
                    return true;
                };
                rel.is_empty() || !(WorkspaceFilter::always_ignored(rel) || under_output(rel))
            })
            .build_parallel();
        walker.run(|| {
            Box::new(|result| {
                match result.map_err(|e| e.into_io_error()) {
                    Ok(entry) => {
                        if entry.file_type().is_some_and(|t| !t.is_dir())
                            && let Some(path) = RelPath::from_walk(&root, entry.path())
                        {
                            match std::fs::symlink_metadata(entry.path()) {
                                Ok(meta) => files
                                    .lock()
                                    .expect("walk lock is never poisoned")
                                    .push(Found { path, meta: Some(FileStat::from(&meta)) }),
                                Err(source) if source.kind() == std::io::ErrorKind::NotFound => {}
                                Err(source) => {
                                    *error.lock().expect("walk lock is never poisoned") =
                                        Some(FileSetError::Walk { path: entry.path().to_owned(), source });
                                    return WalkState::Quit;
                                }
                            }
                        }
                    }
                    Err(Some(source)) if source.kind() != std::io::ErrorKind::NotFound => {
                        *error.lock().expect("walk lock is never poisoned") =
                            Some(FileSetError::Walk { path: root.clone(), source });
                        return WalkState::Quit;
                    }
                    Err(_) => {}
                }
                WalkState::Continue
            })
        });
        if let Some(err) = error.into_inner().expect("walk lock is never poisoned") {
            return Err(err);
        }
        Ok(Self::from_found(files.into_inner().expect("walk lock is never poisoned")))
    }

    fn from_found(mut files: Vec<Found>) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        Self { files }
    }

    /// The files, sorted by path.
    pub fn files(&self) -> &[Found] {
        &self.files
    }

    /// Number of files (including missing literal paths).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether nothing matched.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Hashes every file (through the stat cache; many files on several threads) into a
    /// [`Manifest`], which takes the set's paths.
    pub fn into_manifest(self, root: &Path, stat_cache: &StatCache) -> Result<Manifest, HashError> {
        let entry = |found: Found| manifest_entry(root, found, stat_cache);
        let entries: Result<Vec<ManifestEntry>, HashError> = if self.files.len() > 64 {
            self.files.into_par_iter().map(entry).collect()
        } else {
            self.files.into_iter().map(entry).collect()
        };
        Ok(Manifest::new(entries?))
    }
}

fn manifest_entry(root: &Path, found: Found, stat_cache: &StatCache) -> Result<ManifestEntry, HashError> {
    let Some(meta) = &found.meta else {
        return Ok(ManifestEntry {
            path: found.path,
            kind: EntryKind::Missing,
            executable: false,
            digest: None,
            size: 0,
        });
    };
    if meta.is_symlink() {
        let abs = found.path.under(root);
        let target = std::fs::read_link(&abs).map_err(|source| HashError { path: abs, source })?;
        return Ok(ManifestEntry {
            path: found.path,
            kind: EntryKind::Symlink,
            executable: false,
            digest: Some(crate::hash_bytes(target.as_os_str().as_encoded_bytes())),
            size: 0,
        });
    }
    let digest = stat_cache.file_digest(root, &found.path, meta)?;
    Ok(ManifestEntry {
        path: found.path,
        kind: EntryKind::File,
        executable: meta.is_executable(),
        digest: Some(digest),
        size: meta.size,
    })
}

/// Walks the open directory `dir` (workspace path `start`; `None`: the root) recursively,
/// no symlinks followed, passing every file and symlink not ignored by the root
/// `.attestignore` or always ignored. Directories are read with `getdents` (or, unchanged
/// since a remembered listing, not read at all) and their entries stat'ed relative to the
/// open directory, which on large trees is several times cheaper than resolving each
/// absolute path. A subdirectory is opened only when its turn comes (relative to its
/// parent, which stays open until then): the open descriptors are bounded by the tree's
/// depth, not its width. A file whose stat `known` has is not stat'ed.
fn walk_dir(
    filter: &WorkspaceFilter,
    dir: OwnedFd,
    start: Option<RelPath>,
    known: &dyn Fn(&RelPath) -> Option<FileStat>,
    sink: &mut dyn FnMut(Found),
) -> Result<(), FileSetError> {
    // Only for a directory read (not for one whose listing is remembered).
    let mut buffer: Vec<MaybeUninit<u8>> = Vec::new();
    let mut pending: Vec<(Arc<OwnedFd>, RelPath)> = Vec::new();
    let mut next = Some((dir, start));
    while let Some((dir, rel)) = next.take() {
        let dir = Arc::new(dir);
        let mut walk = DirWalk { filter, dir: &dir, rel: rel.as_ref(), pending: &mut pending, known, sink: &mut *sink };
        let key = rel.as_ref().map_or("", RelPath::as_str);
        // The directory's stat, when there are listings to look it up in or add it to.
        let remembered = filter.listings().and_then(|listings| {
            let stat = rustix::fs::statx(&*dir, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS).ok()?;
            Some((listings, FileStat::from_statx(&stat)))
        });
        if let Some(entries) = remembered.as_ref().and_then(|(listings, stat)| listings.entries(key, stat)) {
            for (name, kind) in entries {
                walk.visit(name, kind)?;
            }
        } else {
            let listed_at = now_ns();
            let mut listing = remembered.as_ref().map(|_| Vec::new());
            if buffer.is_empty() {
                buffer.resize(32 * 1024, MaybeUninit::uninit());
            }
            let mut entries = RawDir::new(dir.as_fd(), &mut buffer);
            while let Some(entry) = entries.next() {
                let entry = entry.map_err(|e| filter.walk_error(rel.as_ref(), e))?;
                // `.`, `..` and names that are not text are never listed.
                let Some(name) = entry.file_name().to_str().ok().filter(|n| *n != "." && *n != "..") else { continue };
                if let Some(listing) = &mut listing {
                    listing.push((name.to_owned(), entry.file_type()));
                }
                walk.visit(name, entry.file_type())?;
            }
            if let (Some((listings, stat)), Some(listing)) = (remembered, listing) {
                listings.record(key, stat, listed_at, listing);
            }
        }
        while let Some((parent, rel)) = pending.pop() {
            let name = rel.as_str().rsplit('/').next().unwrap_or(rel.as_str());
            match open_dir(parent.as_fd(), name) {
                Ok(dir) => {
                    next = Some((dir, Some(rel)));
                    break;
                }
                // Removed, or replaced by a file or a link, since it was listed.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => {}
                Err(errno) => return Err(filter.walk_error(Some(&rel), errno)),
            }
        }
    }
    Ok(())
}

/// The directory [`walk_dir`] is in, and where what it finds goes.
struct DirWalk<'a> {
    filter: &'a WorkspaceFilter,
    dir: &'a Arc<OwnedFd>,
    rel: Option<&'a RelPath>,
    pending: &'a mut Vec<(Arc<OwnedFd>, RelPath)>,
    known: &'a dyn Fn(&RelPath) -> Option<FileStat>,
    sink: &'a mut dyn FnMut(Found),
}

impl DirWalk<'_> {
    /// One entry of the directory: a subdirectory is queued, a file stat'ed and passed on,
    /// anything ignored skipped.
    fn visit(&mut self, name: &str, kind: FileType) -> Result<(), FileSetError> {
        let Some(child) = RelPath::child(self.rel, name) else { return Ok(()) };
        let mut stat = None;
        let is_dir = match kind {
            FileType::Directory => true,
            FileType::RegularFile | FileType::Symlink => false,
            // File systems that do not fill in the entry's type, and the rare others.
            _ => {
                stat = stat_at(self.dir.as_fd(), name).map_err(|e| self.filter.walk_error(Some(&child), e))?;
                match stat {
                    Some(stat) => stat.is_dir(),
                    None => return Ok(()),
                }
            }
        };
        if self.filter.ignored(child.as_str(), is_dir) {
            return Ok(());
        }
        if is_dir {
            self.pending.push((Arc::clone(self.dir), child));
            return Ok(());
        }
        if stat.is_none() {
            stat = (self.known)(&child)
                .filter(|known| !known.is_dir() && known.is_symlink() == (kind == FileType::Symlink));
        }
        if stat.is_none() {
            stat = stat_at(self.dir.as_fd(), name).map_err(|e| self.filter.walk_error(Some(&child), e))?;
        }
        if let Some(stat) = stat {
            (self.sink)(Found { path: child, meta: Some(stat) });
        }
        Ok(())
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, f).unwrap();
        }
        dir
    }

    fn names(set: &FileSet) -> Vec<String> {
        set.files().iter().map(|f| format!("{}{}", f.path, if f.meta.is_none() { " (missing)" } else { "" })).collect()
    }

    fn resolve(dir: &Path, patterns: &[&str]) -> Vec<String> {
        let filter = WorkspaceFilter::new(dir).unwrap();
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        names(&FileSet::resolve(&filter, &patterns).unwrap())
    }

    /// A known stat stands in for the file system's for a file named literally, and only
    /// there: a glob, a directory and an unknown file are still looked at.
    #[test]
    fn known_stats_stand_in_for_literal_files_only() {
        let dir = tree(&["out/a.txt", "out/b.txt", "src/c.txt"]);
        let filter = WorkspaceFilter::new(dir.path()).unwrap();
        let a = RelPath::new("out/a.txt").unwrap();
        let a_stat = filter.stat(&a).unwrap().unwrap();
        let dir_stat = filter.stat(&RelPath::new("src").unwrap()).unwrap().unwrap();
        std::fs::remove_file(dir.path().join("out/a.txt")).unwrap();
        let known = |path: &RelPath| match path.as_str() {
            "out/a.txt" => Some(a_stat),
            "src" => Some(dir_stat),
            _ => None,
        };
        let resolve = |patterns: &[&str]| {
            let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
            names(&FileSet::resolve_knowing(&filter, &patterns, &known).unwrap())
        };
        assert_eq!(resolve(&["out/a.txt"]), ["out/a.txt"], "the known stat, though the file is gone");
        assert_eq!(resolve(&["out/*.txt"]), ["out/b.txt"], "a glob walks the directory");
        assert_eq!(resolve(&["src"]), ["src/c.txt"], "a directory is walked");
        assert_eq!(resolve(&["out/b.txt", "out/none.txt"]), ["out/b.txt", "out/none.txt (missing)"]);
    }

    /// A temp file a killed restore left next to an output is neither an input nor an
    /// output, in a directory walk and in the default (whole workspace) set alike.
    #[test]
    fn attests_own_temp_files_are_never_listed() {
        let dir = tree(&["out/a.txt", "out/.attest-tmp-x1Yz", "src/.attest-tmp-q", "src/b.c"]);
        assert_eq!(resolve(dir.path(), &["out"]), ["out/a.txt"]);
        assert_eq!(resolve(dir.path(), &["out/*"]), ["out/a.txt"]);
        let filter = WorkspaceFilter::new(dir.path()).unwrap();
        assert_eq!(names(&FileSet::resolve_workspace(&filter, &[]).unwrap()), ["out/a.txt", "src/b.c"]);
    }

    #[test]
    fn files_dirs_globs_and_excludes() {
        let dir = tree(&["src/a.c", "src/b.h", "src/sub/c.c", "docs/x.md", "Makefile", ".attest/junk", "p/q.proto"]);
        assert_eq!(resolve(dir.path(), &["src/"]), ["src/a.c", "src/b.h", "src/sub/c.c"]);
        assert_eq!(resolve(dir.path(), &["src/*.c"]), ["src/a.c"]);
        assert_eq!(resolve(dir.path(), &["src/**/*.c"]), ["src/a.c", "src/sub/c.c"]);
        assert_eq!(resolve(dir.path(), &["**/*.proto", "Makefile"]), ["Makefile", "p/q.proto"]);
        assert_eq!(resolve(dir.path(), &["src", "!src/sub", "!**/*.h"]), ["src/a.c"]);
        assert_eq!(resolve(dir.path(), &["nope.txt"]), ["nope.txt (missing)"]);
        assert_eq!(resolve(dir.path(), &["./src//a.c"]), ["src/a.c"]);
        assert!(resolve(dir.path(), &[".attest"]).is_empty());
    }

    #[test]
    fn attestignore_applies_to_walks_and_gitignore_only_to_the_default_set() {
        let dir = tree(&["src/a.c", "src/a.o", "gen/out.txt", "keep.txt"]);
        std::fs::write(dir.path().join(".attestignore"), "*.o\n").unwrap();
        std::fs::write(dir.path().join(".gitignore"), "gen/\n").unwrap();
        assert_eq!(resolve(dir.path(), &["src"]), ["src/a.c"]);
        assert_eq!(resolve(dir.path(), &["gen/**"]), ["gen/out.txt"]);
        let filter = WorkspaceFilter::new(dir.path()).unwrap();
        let all = FileSet::resolve_workspace(&filter, &[RelPath::new("src/a.c").unwrap()]).unwrap();
        assert_eq!(names(&all), [".attestignore", ".gitignore", "keep.txt"]);
    }

    #[test]
    fn symlinks_are_content_and_not_followed() {
        let dir = tree(&["real/file.txt"]);
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        let filter = WorkspaceFilter::new(dir.path()).unwrap();
        let set = FileSet::resolve(&filter, &["link".to_string(), "real".to_string()]).unwrap();
        assert_eq!(names(&set), ["link", "real/file.txt"]);
        let manifest = set.into_manifest(dir.path(), &StatCache::new()).unwrap();
        assert_eq!(manifest.entries()[0].kind, EntryKind::Symlink);
        assert_eq!(manifest.entries()[0].digest, Some(crate::hash_bytes(b"real")));
    }

    #[test]
    fn walks_list_deep_and_wide_trees_with_their_stats() {
        let mut files: Vec<String> = (0..300).map(|i| format!("wide/d{i:03}/f.txt")).collect();
        files.push("deep/a/b/c/d/e/f/g/h/leaf.txt".to_owned());
        files.push("deep/a/top.txt".to_owned());
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        let dir = tree(&refs);
        std::os::unix::fs::symlink("../wide", dir.path().join("deep/a/link")).unwrap();
        let filter = WorkspaceFilter::new(dir.path()).unwrap();
        let set = FileSet::resolve(&filter, &["wide".to_string(), "deep/**".to_string()]).unwrap();
        let mut expected = refs.clone();
        expected.push("deep/a/link");
        expected.sort_unstable();
        assert_eq!(names(&set), expected);
        for found in set.files() {
            let from_std = FileStat::from(&std::fs::symlink_metadata(found.path.under(dir.path())).unwrap());
            assert_eq!(found.meta, Some(from_std), "{}", found.path);
        }
    }

    #[test]
    fn a_glob_below_a_file_or_a_missing_directory_matches_nothing() {
        let dir = tree(&["file.txt", "src/a.c"]);
        std::os::unix::fs::symlink("src", dir.path().join("link")).unwrap();
        assert!(resolve(dir.path(), &["file.txt/**"]).is_empty());
        assert!(resolve(dir.path(), &["missing/*.c"]).is_empty());
        // A link to a directory is not entered, as a base or below one.
        assert!(resolve(dir.path(), &["link/*.c"]).is_empty());
        assert_eq!(resolve(dir.path(), &["**/*.c"]), ["src/a.c"]);
        assert_eq!(resolve(dir.path(), &["file.txt", "missing.txt"]), ["file.txt", "missing.txt (missing)"]);
    }

    /// Remembered listings give what reading the directories gives, and are used only while
    /// the directories are unchanged.
    #[test]
    fn walks_with_remembered_listings_see_every_change() {
        let dir = tree(&["src/a.c", "src/sub/b.c", "src/sub/deep/c.c", "docs/x.md"]);
        let saved = dir.path().join(".attest/listings.bin");
        let patterns = ["src/**".to_string(), "docs".to_string()];
        let walk = || {
            let listings = DirListings::load(&saved).listings;
            let filter = WorkspaceFilter::with_listings(dir.path(), listings).unwrap();
            let set = FileSet::resolve(&filter, &patterns).unwrap();
            let listings = filter.listings().unwrap();
            let dirty = listings.is_dirty();
            listings.save(&saved).unwrap();
            let plain = FileSet::resolve(&WorkspaceFilter::new(dir.path()).unwrap(), &patterns).unwrap();
            assert_eq!(names(&set), names(&plain));
            (names(&set), dirty)
        };
        // Settled before the first walk, which lists every directory; the next lists none.
        std::thread::sleep(std::time::Duration::from_millis(120));
        assert_eq!(
            walk(),
            (
                vec!["docs/x.md", "src/a.c", "src/sub/b.c", "src/sub/deep/c.c"].into_iter().map(String::from).collect(),
                true
            )
        );
        assert!(!walk().1, "settled listings are used: nothing read");
        // A listing taken within the racy margin of the directory's last change (here: at
        // the very time of it) is not trusted: the directory is read again.
        let listings = DirListings::load(&saved).listings;
        let src = FileStat::from(&std::fs::symlink_metadata(dir.path().join("src")).unwrap());
        let entries = vec![("a.c".to_owned(), FileType::RegularFile), ("sub".to_owned(), FileType::Directory)];
        listings.record("src", src, src.mtime_ns.max(src.ctime_ns), entries);
        listings.save(&saved).unwrap();
        assert!(walk().1, "racy listings are read again");
        assert!(!walk().1, "and used once settled");
        // New content in a listed directory: same listing, new stat.
        std::fs::write(dir.path().join("src/a.c"), "longer content").unwrap();
        let set = FileSet::resolve(
            &WorkspaceFilter::with_listings(dir.path(), DirListings::load(&saved).listings).unwrap(),
            &patterns,
        )
        .unwrap();
        assert_eq!(set.files()[1].meta.unwrap().size, 14);
        // Entries added, removed and replaced are seen.
        std::fs::write(dir.path().join("src/sub/new.c"), "n").unwrap();
        std::fs::remove_file(dir.path().join("src/sub/deep/c.c")).unwrap();
        std::fs::remove_file(dir.path().join("docs/x.md")).unwrap();
        std::fs::create_dir(dir.path().join("docs/x.md")).unwrap();
        std::fs::write(dir.path().join("docs/x.md/inner.md"), "i").unwrap();
        let (found, dirty) = walk();
        assert_eq!(found, ["docs/x.md/inner.md", "src/a.c", "src/sub/b.c", "src/sub/new.c"]);
        assert!(dirty);
    }

    #[test]
    fn escaping_patterns_are_refused() {
        assert!(FileSet::check_pattern("../x/**").is_err());
        assert!(FileSet::check_pattern("/etc/*").is_err());
        assert!(FileSet::check_pattern("src/[").is_err());
        assert!(FileSet::check_pattern("src/**/*.rs").is_ok());
    }
}
