//! Ed25519 keys: generation, PEM (PKCS#8 private, SPKI public), keyids.

use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// A key that could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("failed to generate a key: no randomness available")]
    Random,
    /// The text is not a PKCS#8 / SPKI PEM Ed25519 key.
    #[error("not an Ed25519 {what} key in PEM format")]
    Pem {
        /// "private" or "public".
        what: &'static str,
    },
    /// The text is not 64 hex digits holding an Ed25519 public key.
    #[error("not a raw Ed25519 public key (64 hex digits)")]
    RawHex,
    /// Reading or writing a key file (or the key store) failed.
    #[error("failed to {action} `{}`", path.display())]
    Io {
        /// What attest was doing.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// The keyid of an Ed25519 public key as securesystemslib computes it by default: the
/// lowercase hex SHA-256 of the canonical JSON
/// `{"keytype":"ed25519","keyval":{"public":"<hex>"},"scheme":"ed25519"}`.
pub fn keyid(public: &[u8; 32]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in public {
        hex.push_str(&format!("{byte:02x}"));
    }
    // Keys sorted, no whitespace: the canonical form for these ASCII-only values.
    let canonical = format!(r#"{{"keytype":"ed25519","keyval":{{"public":"{hex}"}},"scheme":"ed25519"}}"#);
    Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A failed read or write of a key file.
pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyError {
    let path = path.to_owned();
    move |source| KeyError::Io { action, path, source }
}

/// A public key and its keyid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    keyid: String,
}

impl PublicKey {
    fn new(key: VerifyingKey) -> Self {
        let keyid = keyid(key.as_bytes());
        Self { key, keyid }
    }

    /// Reads an SPKI PEM public key.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        VerifyingKey::from_public_key_pem(text.trim()).map(Self::new).map_err(|_| KeyError::Pem { what: "public" })
    }

    /// Reads a raw 32-byte public key written as 64 hex digits (either case), as
    /// nexus-attest's attestations carry it in `meta.public_key_hex`.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = crate::Hex32::parse(&text.to_ascii_lowercase()).ok_or(KeyError::RawHex)?;
        VerifyingKey::from_bytes(&bytes.0).map(Self::new).map_err(|_| KeyError::RawHex)
    }

    /// The SPKI PEM text.
    pub fn to_pem(&self) -> String {
        self.key.to_public_key_pem(LineEnding::LF).expect("an Ed25519 public key encodes as SPKI")
    }

    /// The securesystemslib keyid.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The raw 32 bytes as lowercase hex.
    pub fn hex(&self) -> String {
        self.key.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `signature` is this key's signature of `message` (strict verification).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = Signature::from_slice(signature) else { return false };
        self.key.verify(message, &signature).is_ok()
    }
}

/// A private signing key with its public half. The private key is never printed: its
/// `Debug` shows only the keyid.
pub struct KeyPair {
    signing: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("keyid", &self.public.keyid).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| KeyError::Random)?;
        Ok(Self::from_signing(SigningKey::from_bytes(&seed)))
    }

    fn from_signing(signing: SigningKey) -> Self {
        let public = PublicKey::new(signing.verifying_key());
        Self { signing, public }
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(text.trim()).map(Self::from_signing).map_err(|_| KeyError::Pem { what: "private" })
    }

    /// PKCS#8 v1 PEM (RFC 8410 §7: the seed only, no public key attribute), the form
    /// OpenSSL, Python's cryptography and securesystemslib read.
    fn to_pkcs8_pem(&self) -> String {
        use base64::Engine;
        /// SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
        const PREFIX: [u8; 16] =
            [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        let mut der = PREFIX.to_vec();
        der.extend_from_slice(self.signing.as_bytes());
        let body = base64::engine::general_purpose::STANDARD.encode(&der);
        der.fill(0);
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.signing.sign(message).to_bytes().to_vec()
    }

    /// Writes `<dir>/<keyid>.key` (PKCS#8 PEM, created with mode 0600 so that it is never
    /// readable by others, not even briefly) and `<dir>/<keyid>.pub` (SPKI PEM).
    pub fn write(&self, dir: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        fs_err::create_dir_all(dir).map_err(io("create", dir))?;
        let private = dir.join(format!("{}.key", self.public.keyid));
        let pem = self.to_pkcs8_pem();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private)
            .map_err(io("create", &private))?;
        file.write_all(pem.as_bytes()).map_err(io("write", &private))?;
        file.sync_all().map_err(io("write", &private))?;
        let public = dir.join(format!("{}.pub", self.public.keyid));
        fs_err::write(&public, self.public.to_pem()).map_err(io("write", &public))?;
        Ok(())
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keyid_matches_securesystemslib() {
        // securesystemslib: SSlibKey(keyid, "ed25519", "ed25519", {"public": 32 zero bytes hex}),
        // keyid = sha256(canonical json) — computed independently with Python's hashlib.
        let expected: String = Sha256::digest(
            br#"{"keytype":"ed25519","keyval":{"public":"0000000000000000000000000000000000000000000000000000000000000000"},"scheme":"ed25519"}"#,
        )
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
        assert_eq!(keyid(&[0; 32]), expected);
    }

    #[test]
    fn pem_round_trip_and_private_file_mode() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        key.write(dir.path()).unwrap();
        let private = dir.path().join(format!("{}.key", key.public().keyid()));
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&private).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = KeyPair::from_pem(&text).unwrap();
        assert_eq!(again.public(), key.public());
        let public = std::fs::read_to_string(dir.path().join(format!("{}.pub", key.public().keyid()))).unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(&PublicKey::from_pem(&public).unwrap(), key.public());
        assert_eq!(&PublicKey::from_hex(&key.public().hex()).unwrap(), key.public());
        assert_eq!(&PublicKey::from_hex(&key.public().hex().to_uppercase()).unwrap(), key.public());
        assert!(PublicKey::from_hex(&key.public().hex()[2..]).is_err());
        assert!(!format!("{key:?}").contains("PRIVATE"));
        assert!(KeyPair::from_pem(&public).is_err());
        // RFC 8410 §10.3's example key, byte for byte.
        let rfc = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        assert_eq!(KeyPair::from_pem(rfc).unwrap().to_pkcs8_pem(), rfc);
    }
}
