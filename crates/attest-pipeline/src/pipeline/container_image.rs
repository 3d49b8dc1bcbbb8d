//! A step's `image:` (`isolation: container`): a reference pinned by digest, or a local
//! OCI image in the workspace (`oci-archive:PATH`, `oci:PATH`).
//!
//! A tag moves; the cache key and the receipt must name the bytes the step ran in, so a
//! reference without `@sha256:<64 hex>` is refused with a hint showing how to pin it. A
//! local image names its bytes by itself: its manifest digest is read from the archive or
//! layout when the step's key is computed (`attest_exec::local_image_digest`).

use serde::{Deserialize, Serialize};

/// A checked `image:`: `name[:tag]@sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerImage {
    /// The reference as written (name, optional tag, and the digest).
    pub reference: String,
    /// The digest, `sha256:<64 hex>` (empty for a local image: read from it at run time).
    pub digest: String,
    /// A local image: its transport (`oci-archive` or `oci`) and workspace-relative path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<(String, String)>,
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
    for transport in ["oci-archive", "oci"] {
        if let Some(path) = text.strip_prefix(transport).and_then(|rest| rest.strip_prefix(':')) {
            return match attest_hash::RelPath::new(path) {
                Ok(rel) => Ok(ContainerImage {
                    reference: text.to_owned(),
                    digest: String::new(),
                    local: Some((transport.to_owned(), rel.to_string())),
                }),
                Err(err) => Err(ImageProblem {
                    message: format!("image `{text}` of step `{step}`: {err}"),
                    hint: format!(
                        "write the {transport} path relative to the workspace, e.g. `{transport}:images/tools.tar`"
                    ),
                }),
            };
        }
    }
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
    Ok(ContainerImage { reference: text.to_owned(), digest: digest.to_owned(), local: None })
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

    #[test]
    fn local_oci_images_are_workspace_paths() {
        let image = check_image("a", "oci-archive:images/tools.tar").unwrap();
        assert_eq!(image.local, Some(("oci-archive".to_owned(), "images/tools.tar".to_owned())));
        assert_eq!(check_image("a", "oci:layout").unwrap().local.unwrap().0, "oci");
        let escaping = check_image("a", "oci-archive:../x.tar").err().unwrap();
        assert!(escaping.message.contains("leaves the workspace"), "{}", escaping.message);
        assert!(check_image("a", "oci-archive:/abs.tar").is_err());
    }
}
