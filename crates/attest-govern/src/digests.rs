//! The digest spelling shared with nexus-attest: `H(x)` = lowercase hex SHA-256 of the
//! sorted compact JSON of `x`; `P(h)` = `sha256:` + `h`.

use serde_json::Value;

/// Lowercase hex SHA-256 of the sorted compact JSON of `value` (raw, no prefix). Fails on
/// floats, which no governance document contains.
pub fn content_digest(value: &Value) -> Result<String, attest_hash::SortedJsonError> {
    Ok(attest_hash::sha256_bytes(attest_hash::sorted_json(value)?.as_bytes()).hex())
}

/// `sha256:` + `hex`.
pub fn prefixed(hex: &str) -> String {
    format!("sha256:{hex}")
}

/// `hex` without a leading `sha256:`.
pub fn unprefixed(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}
