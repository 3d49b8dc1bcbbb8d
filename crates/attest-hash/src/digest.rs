use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The hash function behind a [`Digest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// BLAKE3, attest's own digests.
    Blake3,
    /// SHA-256, where a standard (in-toto subjects, audit packages) requires it.
    Sha256,
}

impl Algorithm {
    /// The prefix used in the textual form (`blake3`, `sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Blake3 => "blake3",
            Algorithm::Sha256 => "sha256",
        }
    }
}

/// A 32-byte content digest, written `<algorithm>:<64 lowercase hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    bytes: [u8; 32],
}

/// A string that is not a valid `<algorithm>:<hex>` digest.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not a digest: {reason}")]
pub struct DigestParseError {
    text: String,
    reason: &'static str,
}

impl Digest {
    /// A BLAKE3 digest from its raw bytes.
    pub fn blake3(bytes: [u8; 32]) -> Self {
        Self { algorithm: Algorithm::Blake3, bytes }
    }

    /// A SHA-256 digest from its raw bytes.
    pub fn sha256(bytes: [u8; 32]) -> Self {
        Self { algorithm: Algorithm::Sha256, bytes }
    }

    /// The BLAKE3 digest of `data`.
    pub fn of_bytes(data: &[u8]) -> Self {
        Self::blake3(*blake3::hash(data).as_bytes())
    }

    /// Which hash function produced this digest.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The 64 lowercase hex characters, without the algorithm prefix.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.bytes {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        out
    }

    /// The first `n` hex characters, for human output.
    pub fn short(&self, n: usize) -> String {
        let mut hex = self.hex();
        hex.truncate(n);
        hex
    }

    /// Parses 64 hex characters as a digest of the given algorithm.
    pub fn from_hex(algorithm: Algorithm, hex: &str) -> Result<Self, DigestParseError> {
        let err = |reason| DigestParseError { text: hex.to_owned(), reason };
        let raw = hex.as_bytes();
        if raw.len() != 64 {
            return Err(err("expected 64 hex characters"));
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in raw.chunks_exact(2).enumerate() {
            let high = hex_value(pair[0]).ok_or_else(|| err("non-hex character"))?;
            let low = hex_value(pair[1]).ok_or_else(|| err("non-hex character"))?;
            bytes[i] = (high << 4) | low;
        }
        Ok(Self { algorithm, bytes })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, hex) = text
            .split_once(':')
            .ok_or(DigestParseError { text: text.to_owned(), reason: "expected `<algorithm>:<hex>`" })?;
        let algorithm = match name {
            "blake3" => Algorithm::Blake3,
            "sha256" => Algorithm::Sha256,
            _ => {
                return Err(DigestParseError {
                    text: text.to_owned(),
                    reason: "unknown algorithm (expected `blake3` or `sha256`)",
                });
            }
        };
        Self::from_hex(algorithm, hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let digest = Digest::of_bytes(b"hello");
        let text = digest.to_string();
        assert!(text.starts_with("blake3:"));
        assert_eq!(text.len(), 7 + 64);
        assert_eq!(text.parse::<Digest>().unwrap(), digest);
    }

    #[test]
    fn known_blake3_vector() {
        // b3sum of the empty input.
        assert_eq!(Digest::of_bytes(b"").hex(), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    }

    #[test]
    fn rejects_malformed() {
        assert!("blake3:zz".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
        assert!("nothing".parse::<Digest>().is_err());
        let upper = format!("blake3:{}", "A".repeat(64));
        assert!(upper.parse::<Digest>().is_err());
    }
}
