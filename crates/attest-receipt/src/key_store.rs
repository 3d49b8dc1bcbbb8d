//! The workspace's own signing keys (`.attest/keys/`) and the keys it trusts
//! (`.attest/trust/`), with revocations (`.attest/trust/revocations.jsonl`, append-only).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::timestamp::{parse_rfc3339, rfc3339};
use crate::{KeyError, KeyPair, PublicKey};

/// A key store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// A key could not be read, written or parsed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// No key matches the id.
    #[error("no key `{0}` in .attest/keys or .attest/trust")]
    NotFound(String),
    /// Several keys start with the id.
    #[error("`{id}` matches several keys: {}", matches.join(", "))]
    Ambiguous {
        /// The id given.
        id: String,
        /// The keyids it matches.
        matches: Vec<String>,
    },
    /// The key is already revoked.
    #[error("key {0} is already revoked")]
    AlreadyRevoked(String),
}

/// A failed read or write of the store, as a [`KeyError::Io`].
fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyStoreError {
    let to_key_error = crate::key_pair::io(action, path);
    move |source| KeyStoreError::Key(to_key_error(source))
}

/// Facts kept next to a key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KeyMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    since: Option<String>,
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The revoked key.
    pub keyid: String,
    /// When it was revoked (RFC 3339).
    pub revoked_at: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Revocation {
    /// The revocation time.
    pub fn time(&self) -> Option<SystemTime> {
        parse_rfc3339(&self.revoked_at)
    }
}

/// A key as `attest keys list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    /// securesystemslib keyid.
    pub keyid: String,
    /// Name given at generation or trust time.
    pub name: Option<String>,
    /// Whether the private key is in `.attest/keys/`.
    pub private: bool,
    /// Whether it is the key `attest run --sign` uses.
    pub default: bool,
    /// Whether it is in the trust store.
    pub trusted: bool,
    /// Its revocation, if any.
    pub revoked: Option<Revocation>,
}

/// The key and trust directories of one workspace.
#[derive(Debug, Clone)]
pub struct KeyStore {
    keys: PathBuf,
    trust: PathBuf,
}

const DEFAULT_FILE: &str = "DEFAULT";
const REVOCATIONS_FILE: &str = "revocations.jsonl";

impl KeyStore {
    /// The store below `attest_dir` (`.attest`).
    pub fn new(attest_dir: &Path) -> Self {
        Self { keys: attest_dir.join("keys"), trust: attest_dir.join("trust") }
    }

    /// Where private keys live.
    pub fn keys_dir(&self) -> &Path {
        &self.keys
    }

    /// The private key file of `keyid`.
    pub fn private_key_path(&self, keyid: &str) -> PathBuf {
        self.keys.join(format!("{keyid}.key"))
    }

    fn write_meta(dir: &Path, keyid: &str, name: Option<&str>) -> Result<(), KeyStoreError> {
        let meta = KeyMeta { name: name.map(str::to_owned), since: Some(rfc3339(SystemTime::now())) };
        let path = dir.join(format!("{keyid}.json"));
        let text = serde_json::to_string_pretty(&meta).expect("key metadata serialises");
        fs_err::write(&path, text).map_err(io("write", &path))
    }

    fn read_meta(dir: &Path, keyid: &str) -> KeyMeta {
        std::fs::read(dir.join(format!("{keyid}.json")))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Generates a key pair into `.attest/keys/` (private key 0600), trusts its public
    /// half, and makes it the default signing key when there is none yet.
    pub fn generate(&self, name: Option<&str>) -> Result<KeyPair, KeyStoreError> {
        let key = KeyPair::generate()?;
        key.write(&self.keys)?;
        // Private keys never go to git, even in a workspace `attest init` did not set up.
        let ignore = self.keys.join(".gitignore");
        if !ignore.exists() {
            fs_err::write(&ignore, "# Private signing keys: never commit them.\n*.key\n")
                .map_err(io("write", &ignore))?;
        }
        let keyid = key.public().keyid().to_owned();
        Self::write_meta(&self.keys, &keyid, name)?;
        self.trust_key(key.public(), name)?;
        if self.default_keyid().is_none() {
            let path = self.keys.join(DEFAULT_FILE);
            fs_err::write(&path, format!("{keyid}\n")).map_err(io("write", &path))?;
        }
        Ok(key)
    }

    fn default_keyid(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.keys.join(DEFAULT_FILE)).ok()?;
        let keyid = text.trim().to_owned();
        self.private_key_path(&keyid).is_file().then_some(keyid)
    }

    /// The default signing key: the one named in `.attest/keys/DEFAULT`, or the only key.
    pub fn default_key(&self) -> Result<Option<KeyPair>, KeyStoreError> {
        let keyid = match self.default_keyid() {
            Some(keyid) => keyid,
            None => match self.own_keyids()?.as_slice() {
                [only] => only.clone(),
                _ => return Ok(None),
            },
        };
        let path = self.private_key_path(&keyid);
        let text = fs_err::read_to_string(&path).map_err(io("read", &path))?;
        Ok(Some(KeyPair::from_pem(&text)?))
    }

    fn ids_in(dir: &Path, extension: &str) -> Result<Vec<String>, KeyStoreError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(io("read", dir)(err)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(extension).map(str::to_owned))
            .filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn own_keyids(&self) -> Result<Vec<String>, KeyStoreError> {
        Self::ids_in(&self.keys, ".key")
    }

    fn trusted_keyids(&self) -> Result<Vec<String>, KeyStoreError> {
        Self::ids_in(&self.trust, ".pub")
    }

    /// Adds a public key to the trust store.
    pub fn trust_key(&self, key: &PublicKey, name: Option<&str>) -> Result<(), KeyStoreError> {
        fs_err::create_dir_all(&self.trust).map_err(io("create", &self.trust))?;
        let path = self.trust.join(format!("{}.pub", key.keyid()));
        fs_err::write(&path, key.to_pem()).map_err(io("write", &path))?;
        Self::write_meta(&self.trust, key.keyid(), name)
    }

    /// The public key of `keyid`, from the trust store or the workspace's own keys.
    pub fn public_key(&self, keyid: &str) -> Option<PublicKey> {
        [&self.trust, &self.keys].iter().find_map(|dir| {
            let text = std::fs::read_to_string(dir.join(format!("{keyid}.pub"))).ok()?;
            PublicKey::from_pem(&text).ok().filter(|key| key.keyid() == keyid)
        })
    }

    /// Whether `keyid` is in the trust store.
    pub fn is_trusted(&self, keyid: &str) -> bool {
        self.trust.join(format!("{keyid}.pub")).is_file()
    }

    /// The full keyid of a key named by a unique prefix (at least 4 hex digits).
    pub fn resolve(&self, id: &str) -> Result<String, KeyStoreError> {
        let id = id.to_ascii_lowercase();
        let mut all = self.own_keyids()?;
        all.extend(self.trusted_keyids()?);
        all.sort();
        all.dedup();
        let matches: Vec<String> = all.into_iter().filter(|k| id.len() >= 4 && k.starts_with(&id)).collect();
        match matches.len() {
            0 => Err(KeyStoreError::NotFound(id)),
            1 => Ok(matches.into_iter().next().expect("one match")),
            _ => Err(KeyStoreError::Ambiguous { id, matches }),
        }
    }

    /// The SPKI PEM of a key, by id or prefix.
    pub fn export(&self, id: &str) -> Result<String, KeyStoreError> {
        let keyid = self.resolve(id)?;
        self.public_key(&keyid).map(|key| key.to_pem()).ok_or(KeyStoreError::NotFound(keyid))
    }

    /// Every revocation recorded, oldest first (unreadable lines are skipped).
    pub fn revocations(&self) -> Vec<Revocation> {
        std::fs::read_to_string(self.trust.join(REVOCATIONS_FILE))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The revocation of `keyid`, if any.
    pub fn revocation(&self, keyid: &str) -> Option<Revocation> {
        self.revocations().into_iter().find(|r| r.keyid == keyid)
    }

    /// Revokes a key (by id or prefix) now; receipts it signed before stay valid with a
    /// warning, later ones fail verification.
    pub fn revoke(&self, id: &str, reason: Option<&str>) -> Result<Revocation, KeyStoreError> {
        let keyid = self.resolve(id)?;
        if self.revocation(&keyid).is_some() {
            return Err(KeyStoreError::AlreadyRevoked(keyid));
        }
        let revocation =
            Revocation { keyid, revoked_at: rfc3339(SystemTime::now()), reason: reason.map(str::to_owned) };
        fs_err::create_dir_all(&self.trust).map_err(io("create", &self.trust))?;
        let path = self.trust.join(REVOCATIONS_FILE);
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io("open", &path))?;
        let line = format!("{}\n", serde_json::to_string(&revocation).expect("a revocation serialises"));
        file.write_all(line.as_bytes()).map_err(io("write", &path))?;
        file.sync_all().map_err(io("write", &path))?;
        Ok(revocation)
    }

    /// Every key the workspace holds or trusts.
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
        let own = self.own_keyids()?;
        let trusted = self.trusted_keyids()?;
        let default = self.default_keyid();
        let revocations = self.revocations();
        let mut all: Vec<String> = own.iter().chain(&trusted).cloned().collect();
        all.sort();
        all.dedup();
        Ok(all
            .into_iter()
            .map(|keyid| {
                let private = own.contains(&keyid);
                let meta = Self::read_meta(if private { &self.keys } else { &self.trust }, &keyid);
                KeyInfo {
                    name: meta.name,
                    private,
                    default: default.as_deref() == Some(keyid.as_str()),
                    trusted: trusted.contains(&keyid),
                    revoked: revocations.iter().find(|r| r.keyid == keyid).cloned(),
                    keyid,
                }
            })
            .collect())
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn generate_trust_resolve_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        assert!(store.default_key().unwrap().is_none());
        let key = store.generate(Some("ci")).unwrap();
        let keyid = key.public().keyid().to_owned();
        assert!(std::fs::read_to_string(dir.path().join("keys/.gitignore")).unwrap().contains("*.key"));
        assert_eq!(store.default_key().unwrap().unwrap().public(), key.public());
        assert!(store.is_trusted(&keyid));
        assert_eq!(store.resolve(&keyid[..8]).unwrap(), keyid);
        assert!(matches!(store.resolve("zz"), Err(KeyStoreError::NotFound(_))));
        let second = store.generate(None).unwrap();
        // The first key stays the default.
        assert_eq!(store.default_key().unwrap().unwrap().public(), key.public());
        let list = store.list().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().any(|k| k.keyid == keyid && k.default && k.name.as_deref() == Some("ci")));
        store.revoke(second.public().keyid(), Some("lost")).unwrap();
        assert!(store.revocation(second.public().keyid()).is_some());
        assert!(matches!(store.revoke(second.public().keyid(), None), Err(KeyStoreError::AlreadyRevoked(_))));
        assert_eq!(PublicKey::from_pem(&store.export(&keyid).unwrap()).unwrap(), *key.public());
    }
}
