use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A normalised workspace-relative path: `/`-separated, no `.` or empty components, no
/// `..`, not absolute. It can never name anything outside the workspace.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

/// Why a path was refused as workspace-relative.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelPathError {
    /// `/etc/passwd`, `C:\x`.
    #[error("`{0}` is absolute; paths in attest are relative to the workspace root")]
    Absolute(String),
    /// `../x`, `a/../../x`.
    #[error("`{0}` leaves the workspace")]
    Escapes(String),
    /// `""`, `.`.
    #[error("the path is empty")]
    Empty,
    /// A NUL byte or a backslash (attest paths use `/` on every platform).
    #[error("`{0}` contains a backslash or NUL; use `/` as the separator")]
    BadCharacter(String),
}

impl RelPath {
    /// Normalises `text`: strips `./` and duplicate `/`, resolves inner `..` that stay
    /// inside, refuses anything that would leave the workspace.
    pub fn new(text: &str) -> Result<Self, RelPathError> {
        if text.contains('\0') || text.contains('\\') {
            return Err(RelPathError::BadCharacter(text.to_owned()));
        }
        if text.starts_with('/') || text.as_bytes().get(1) == Some(&b':') {
            return Err(RelPathError::Absolute(text.to_owned()));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(RelPathError::Escapes(text.to_owned()));
                    }
                }
                other => parts.push(other),
            }
        }
        if parts.is_empty() {
            return Err(RelPathError::Empty);
        }
        Ok(Self(parts.join("/")))
    }

    /// The entry `name` of directory `parent` (`None`: the workspace root), as a directory
    /// walk finds it: `None` for a name a `RelPath` cannot hold (`.`, `..`, a separator,
    /// a backslash or NUL). Cheaper than [`RelPath::new`] on the joined text.
    pub fn child(parent: Option<&RelPath>, name: &str) -> Option<Self> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return None;
        }
        Some(Self(match parent {
            Some(parent) => {
                let mut text = String::with_capacity(parent.0.len() + 1 + name.len());
                text.push_str(&parent.0);
                text.push('/');
                text.push_str(name);
                text
            }
            None => name.to_owned(),
        }))
    }

    /// Builds a `RelPath` from a path below `root` found by walking the file system.
    pub fn from_walk(root: &Path, path: &Path) -> Option<Self> {
        let rel = path.strip_prefix(root).ok()?;
        let text = rel.to_str()?;
        Self::new(text).ok()
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The absolute location below `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(&self.0)
    }

    /// Whether `self` is `other` or lies below it (`a/b` is within `a`).
    pub fn is_within(&self, other: &RelPath) -> bool {
        self.0 == other.0 || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for RelPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RelPath::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn children_are_joined_or_refused_like_new() {
        let parent = RelPath::new("src/lib").unwrap();
        assert_eq!(RelPath::child(Some(&parent), "a.rs").unwrap().as_str(), "src/lib/a.rs");
        assert_eq!(RelPath::child(None, "a.rs").unwrap().as_str(), "a.rs");
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
            assert!(RelPath::child(Some(&parent), bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn normalises() {
        assert_eq!(RelPath::new("./a//b/").unwrap().as_str(), "a/b");
        assert_eq!(RelPath::new("a/x/../b").unwrap().as_str(), "a/b");
    }

    #[test]
    fn refuses_escapes() {
        assert_eq!(RelPath::new("../x"), Err(RelPathError::Escapes("../x".into())));
        assert!(matches!(RelPath::new("a/../../x"), Err(RelPathError::Escapes(_))));
        assert!(matches!(RelPath::new("/etc/passwd"), Err(RelPathError::Absolute(_))));
        assert!(matches!(RelPath::new("C:/x"), Err(RelPathError::Absolute(_))));
        assert!(matches!(RelPath::new("a\\b"), Err(RelPathError::BadCharacter(_))));
        assert_eq!(RelPath::new("./"), Err(RelPathError::Empty));
    }

    #[test]
    fn within() {
        let a = RelPath::new("dist").unwrap();
        assert!(RelPath::new("dist/x").unwrap().is_within(&a));
        assert!(RelPath::new("dist").unwrap().is_within(&a));
        assert!(!RelPath::new("distx").unwrap().is_within(&a));
    }

    proptest! {
        #[test]
        fn normalised_paths_never_escape(parts in proptest::collection::vec("(\\.\\.|\\.|[a-z]{1,3}|)", 1..8)) {
            let text = parts.join("/");
            if let Ok(path) = RelPath::new(&text) {
                prop_assert!(!path.as_str().split('/').any(|p| p == ".." || p == "." || p.is_empty()));
                prop_assert!(!path.as_str().starts_with('/'));
                // Normalisation is idempotent.
                prop_assert_eq!(RelPath::new(path.as_str()).unwrap(), path);
            }
        }
    }
}
