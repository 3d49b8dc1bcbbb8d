//! A step's `image:` (`isolation: container`): a reference pinned by digest.
//!
//! A tag moves; the cache key and the receipt must name the bytes the step ran in, so a
//! reference without `@sha256:<64 hex>` is refused with a hint showing how to pin it.

use serde::{Deserialize, Serialize};

/// A checked `image:`: `name[:tag]@sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerImage {
    /// The reference as written (name, optional tag, and the digest).
    pub reference: String,
    /// The digest, `sha256:<64 hex>`.
    pub digest: String,
}

/// Why an `image:` is refused: the message and a hint.
#[derive(Debug)]
pub(crate) struct ImageProblem {
    pub(crate) message: String,
    pub(crate) hint: String,
}

/// Checks the `image:` of step `step`.
pub(crate) fn check_image(step: &str, text: &str) -> Result<ContainerImage, ImageProblem> {
    let text = text.trim();
    let Some((name, digest)) = text.rsplit_once('@') else {
        let name = if text.is_empty() { "NAME" } else { text };
        return Err(ImageProblem {
            message: format!("image `{text}` of step `{step}` is not pinned by digest"),
            hint: format!(
                "pin it as `{name}@sha256:<digest>`; `podman image inspect --format '{{{{.Digest}}}}' {name}` prints \
                 the digest of a local image"
            ),
        });
    };
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    let hex_ok = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex_ok {
        return Err(ImageProblem {
            message: format!("image `{text}` of step `{step}` has a malformed digest `{digest}`"),
            hint: "a digest is `sha256:` followed by 64 lowercase hex digits".to_owned(),
        });
    }
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ImageProblem {
            message: format!("image `{text}` of step `{step}` has no valid name before `@`"),
            hint: "write `name@sha256:<digest>`, e.g. `localhost/tools@sha256:…`".to_owned(),
        });
    }
    Ok(ContainerImage { reference: text.to_owned(), digest: digest.to_owned() })
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn only_references_pinned_by_a_sha256_digest_are_accepted() {
        let hex = "ab".repeat(32);
        let image = check_image("a", &format!("localhost/tools:1@sha256:{hex}")).unwrap();
        assert_eq!(image.digest, format!("sha256:{hex}"));
        let tag = check_image("a", "node:18").err().unwrap();
        assert_eq!(tag.message, "image `node:18` of step `a` is not pinned by digest");
        assert!(tag.hint.contains("podman image inspect --format '{{.Digest}}' node:18"), "{}", tag.hint);
        assert!(check_image("a", "node@sha256:abc").is_err());
        assert!(check_image("a", &format!("node@sha256:{}", "AB".repeat(32))).is_err());
        assert!(check_image("a", &format!("@sha256:{hex}")).is_err());
    }
}
