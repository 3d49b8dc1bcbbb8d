use serde::Serialize;

use crate::Digest;

/// A value that could not be turned into canonical JSON (a float that is NaN, a map with
/// non-string keys, …).
#[derive(Debug, thiserror::Error)]
#[error("failed to encode a value as canonical JSON (RFC 8785)")]
pub struct CanonicalJsonError {
    #[source]
    source: serde_json::Error,
}

/// The RFC 8785 (JCS) encoding of `value`: sorted keys, no whitespace, one number form.
/// Everything attest hashes or signs as JSON goes through here.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalJsonError> {
    serde_json_canonicalizer::to_vec(value).map_err(|source| CanonicalJsonError { source })
}

/// The BLAKE3 digest of the canonical JSON of `value`.
pub fn digest_json<T: Serialize>(value: &T) -> Result<Digest, CanonicalJsonError> {
    Ok(Digest::of_bytes(&canonical_json(value)?))
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn keys_are_sorted_and_compact() {
        let mut map = HashMap::new();
        map.insert("b", 1);
        map.insert("a", 2);
        assert_eq!(canonical_json(&map).unwrap(), br#"{"a":2,"b":1}"#);
    }

    #[test]
    fn insertion_order_does_not_change_the_digest() {
        let one: serde_json::Value = serde_json::from_str(r#"{"x":[1,2],"y":"z"}"#).unwrap();
        let two: serde_json::Value = serde_json::from_str(r#"{ "y" : "z", "x" : [1, 2] }"#).unwrap();
        assert_eq!(digest_json(&one).unwrap(), digest_json(&two).unwrap());
    }
}
