//! Local OCI images (`image: oci-archive:PATH` or `oci:PATH`): the manifest digest that
//! names them in cache keys and receipts, read from the image's own `index.json`.
//!
//! An OCI layout is a directory with `index.json`; an OCI archive is that directory as a
//! tar file (what `podman save --format oci-archive` writes). podman runs both directly
//! (`podman run oci-archive:/path`), loading them into its storage.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::ExecError;

fn image_error(path: &Path, what: &str) -> ExecError {
    ExecError::ImageUnavailable { message: format!("local OCI image `{}`: {what}", path.display()) }
}

/// Digests already read by this process, by path: the key and the receipt of each step
/// both need it.
static DIGESTS: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// The digest (`sha256:<hex>`) of the first manifest in the local image at `path`.
pub fn local_image_digest(path: &Path) -> Result<String, ExecError> {
    if let Some((_, digest)) = DIGESTS.lock().expect("image digest lock").iter().find(|(p, _)| p == path) {
        return Ok(digest.clone());
    }
    let index = if path.is_dir() {
        std::fs::read(path.join("index.json")).map_err(|e| image_error(path, &format!("no index.json ({e})")))?
    } else {
        let archive = std::fs::File::open(path).map_err(|e| image_error(path, &format!("cannot read it ({e})")))?;
        tar_member(archive, "index.json")
            .map_err(|e| image_error(path, &format!("cannot read it ({e})")))?
            .ok_or_else(|| image_error(path, "not an OCI archive (no index.json)"))?
    };
    let value: serde_json::Value =
        serde_json::from_slice(&index).map_err(|e| image_error(path, &format!("index.json is not JSON ({e})")))?;
    let digest = value["manifests"][0]["digest"].as_str().unwrap_or_default();
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(image_error(path, "index.json names no sha256 manifest"));
    }
    DIGESTS.lock().expect("image digest lock").push((path.to_owned(), digest.to_owned()));
    Ok(digest.to_owned())
}

/// The content of the member `name` (or `./name`) of a ustar archive, reading only the
/// headers and seeking over the other members' data (layers can be large).
fn tar_member(mut archive: impl Read + Seek, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 512];
    loop {
        if archive.read_exact(&mut header).is_err() || header.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let field = |range: std::ops::Range<usize>| {
            let bytes = &header[range];
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            std::str::from_utf8(&bytes[..end]).ok().map(str::trim)
        };
        let (Some(member), Some(size)) = (field(0..100), field(124..136).and_then(|s| u64::from_str_radix(s, 8).ok()))
        else {
            return Ok(None);
        };
        if member.trim_start_matches("./") == name {
            let mut data = vec![0; usize::try_from(size).map_err(std::io::Error::other)?];
            archive.read_exact(&mut data)?;
            return Ok(Some(data));
        }
        archive.seek(SeekFrom::Current(i64::try_from(size.div_ceil(512) * 512).map_err(std::io::Error::other)?))?;
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn reads_the_manifest_digest_of_layouts_and_archives() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        std::fs::create_dir(&layout).unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32));
        std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        std::fs::write(
            layout.join("index.json"),
            format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{digest}"}}]}}"#),
        )
        .unwrap();
        assert_eq!(local_image_digest(&layout).unwrap(), digest);
        let archive = dir.path().join("image.tar");
        let status =
            std::process::Command::new("tar").arg("-C").arg(&layout).arg("-cf").arg(&archive).arg(".").status();
        assert!(status.unwrap().success());
        assert_eq!(local_image_digest(&archive).unwrap(), digest);
        std::fs::write(dir.path().join("junk.tar"), vec![7u8; 2048]).unwrap();
        assert!(local_image_digest(&dir.path().join("junk.tar")).is_err());
        assert!(local_image_digest(&dir.path().join("missing.tar")).is_err());
    }
}
