use serde::{Deserialize, Serialize};

use crate::{Digest, RelPath};

/// Version of the manifest encoding; part of every manifest digest.
const MANIFEST_VERSION: u32 = 1;

/// What a manifest entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file; the digest is of its bytes.
    File,
    /// A symbolic link; the digest is of its target path.
    Symlink,
    /// A path named literally that does not exist (so that its appearance changes keys).
    Missing,
}

/// One file of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Workspace-relative path.
    pub path: RelPath,
    /// File, symlink or missing.
    pub kind: EntryKind,
    /// The executable bit (regular files only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
    /// Content digest; absent for missing paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Length in bytes (informational, not part of the digest).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The canonical description of a file set: entries sorted by path, one per path. Its
/// [`digest`](Manifest::digest) stands for the whole set; file order, path spelling and
/// sizes do not change it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    entries: Vec<ManifestEntry>,
}

impl Manifest {
    /// Builds a manifest: sorts by path and keeps the last entry of a duplicated path.
    pub fn new(mut entries: Vec<ManifestEntry>) -> Self {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let mut out: Vec<ManifestEntry> = Vec::with_capacity(entries.len());
        for entry in entries {
            match out.last_mut() {
                Some(last) if last.path == entry.path => *last = entry,
                _ => out.push(entry),
            }
        }
        Self { entries: out }
    }

    /// The entries, sorted by path.
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the manifest lists nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `path`, if listed.
    pub fn get(&self, path: &RelPath) -> Option<&ManifestEntry> {
        self.entries.binary_search_by(|e| e.path.cmp(path)).ok().map(|i| &self.entries[i])
    }

    /// BLAKE3 of the manifest's canonical binary form: a version tag, then per entry (sorted
    /// by path) the path's length and bytes, the kind, the executable bit and the content
    /// digest. Every field is length-prefixed or fixed-size, so two different manifests
    /// never encode alike. (Not JSON: this digest is computed for every step of every run,
    /// and streaming fixed fields into BLAKE3 is many times cheaper than building JSON.)
    pub fn digest(&self) -> Digest {
        // The encoding is built whole and hashed at once: BLAKE3 hashes a long input on
        // several lanes, but many small updates one block at a time.
        let size = 32 + self.entries.iter().map(|e| e.path.as_str().len() + 8 + 3 + 32).sum::<usize>();
        let mut bytes = Vec::with_capacity(size);
        bytes.extend_from_slice(b"attest-manifest");
        bytes.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for entry in &self.entries {
            let path = entry.path.as_str().as_bytes();
            bytes.extend_from_slice(&(path.len() as u64).to_le_bytes());
            bytes.extend_from_slice(path);
            let kind: u8 = match entry.kind {
                EntryKind::File => 1,
                EntryKind::Symlink => 2,
                EntryKind::Missing => 3,
            };
            bytes.extend_from_slice(&[kind, u8::from(entry.executable)]);
            match &entry.digest {
                Some(digest) => {
                    bytes.push(1);
                    bytes.extend_from_slice(digest.as_bytes());
                }
                None => bytes.push(0),
            }
        }
        Digest::blake3(*blake3::hash(&bytes).as_bytes())
    }

    /// Paths whose entry differs between `self` (old) and `new`: changed, added or removed.
    pub fn changed_paths(&self, new: &Manifest) -> Vec<RelPath> {
        let mut changed = Vec::new();
        let (mut i, mut j) = (0, 0);
        let (old, new) = (&self.entries, &new.entries);
        while i < old.len() || j < new.len() {
            match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) if a.path == b.path => {
                    if a.kind != b.kind || a.digest != b.digest || a.executable != b.executable {
                        changed.push(b.path.clone());
                    }
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a.path < b.path => {
                    changed.push(a.path.clone());
                    i += 1;
                }
                (Some(_), Some(b)) => {
                    changed.push(b.path.clone());
                    j += 1;
                }
                (Some(a), None) => {
                    changed.push(a.path.clone());
                    i += 1;
                }
                (None, Some(b)) => {
                    changed.push(b.path.clone());
                    j += 1;
                }
                (None, None) => break,
            }
        }
        changed
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn file(path: &str, content: &str) -> ManifestEntry {
        ManifestEntry {
            path: RelPath::new(path).unwrap(),
            kind: EntryKind::File,
            executable: false,
            digest: Some(Digest::of_bytes(content.as_bytes())),
            size: content.len() as u64,
        }
    }

    #[test]
    fn kind_and_mode_change_the_digest() {
        let plain = Manifest::new(vec![file("a", "x")]);
        let mut exec = file("a", "x");
        exec.executable = true;
        let mut link = file("a", "x");
        link.kind = EntryKind::Symlink;
        assert_ne!(plain.digest(), Manifest::new(vec![exec]).digest());
        assert_ne!(plain.digest(), Manifest::new(vec![link]).digest());
    }

    #[test]
    fn changed_paths_lists_edits_adds_and_removals() {
        let old = Manifest::new(vec![file("a", "1"), file("b", "1"), file("c", "1")]);
        let new = Manifest::new(vec![file("a", "1"), file("b", "2"), file("d", "1")]);
        let changed: Vec<String> = old.changed_paths(&new).iter().map(|p| p.to_string()).collect();
        assert_eq!(changed, ["b", "c", "d"]);
    }

    fn arb_entries() -> impl Strategy<Value = Vec<(String, String, bool, u8)>> {
        proptest::collection::vec(("[a-c]{1,2}(/[a-c]{1,2}){0,2}", "[xy]{0,3}", any::<bool>(), 0u8..3), 0..12)
    }

    fn build(raw: &[(String, String, bool, u8)], spell: impl Fn(&str) -> String) -> Vec<ManifestEntry> {
        raw.iter()
            .map(|(path, content, executable, kind)| {
                let kind = [EntryKind::File, EntryKind::Symlink, EntryKind::Missing][usize::from(*kind)];
                ManifestEntry {
                    path: RelPath::new(&spell(path)).unwrap(),
                    kind,
                    executable: *executable && kind == EntryKind::File,
                    digest: (kind != EntryKind::Missing).then(|| Digest::of_bytes(content.as_bytes())),
                    size: 0,
                }
            })
            .collect()
    }

    proptest! {
        /// Canonicalisation: the order of entries never changes the digest.
        #[test]
        fn order_does_not_matter(raw in arb_entries(), seed in any::<u64>()) {
            // Deduplicate first so that "last one wins" does not depend on order.
            let mut raw = raw;
            raw.sort_by(|a, b| a.0.cmp(&b.0));
            raw.dedup_by(|a, b| a.0 == b.0);
            let forward = Manifest::new(build(&raw, str::to_owned));
            let mut shuffled = raw.clone();
            let len = shuffled.len().max(1);
            shuffled.rotate_left(usize::try_from(seed).unwrap_or(0) % len);
            shuffled.reverse();
            prop_assert_eq!(forward.digest(), Manifest::new(build(&shuffled, str::to_owned)).digest());
        }

        /// Canonicalisation: `./a//b` and `a/b` are the same path.
        #[test]
        fn path_spelling_does_not_matter(raw in arb_entries()) {
            let plain = Manifest::new(build(&raw, str::to_owned));
            let odd = Manifest::new(build(&raw, |p| format!("./{}", p.replace('/', "//./"))));
            prop_assert_eq!(plain.digest(), odd.digest());
        }

        /// Any change of one entry's content changes the digest.
        #[test]
        fn content_changes_the_digest(raw in arb_entries(), pick in any::<usize>()) {
            let entries = Manifest::new(build(&raw, str::to_owned));
            prop_assume!(!entries.is_empty());
            let mut changed = entries.entries().to_vec();
            let i = pick % changed.len();
            changed[i].digest = Some(Digest::of_bytes(b"something else entirely"));
            changed[i].kind = EntryKind::File;
            let before = &entries.entries()[i];
            prop_assume!(before.digest != changed[i].digest || before.kind != EntryKind::File);
            prop_assert_ne!(entries.digest(), Manifest::new(changed).digest());
        }
    }
}
