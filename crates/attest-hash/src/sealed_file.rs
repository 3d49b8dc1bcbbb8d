//! State files that end with a BLAKE3 of everything before it (the stat cache, the
//! directory listings): a torn or corrupt file is detected and dropped, never trusted.

use std::path::Path;

const SEAL_LEN: usize = 32;

/// `body` followed by its seal.
pub(crate) fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let check = blake3::hash(&body);
    body.extend_from_slice(check.as_bytes());
    body
}

/// The body of `bytes` when they end with its seal; `None` when they do not (truncated,
/// corrupt). The check runs on every core: 100k files make a 10 MB stat cache, whose check
/// would otherwise be much of its load.
pub(crate) fn unseal(mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    let body_len = bytes.len().checked_sub(SEAL_LEN)?;
    if blake3::Hasher::new().update_rayon(&bytes[..body_len]).finalize().as_bytes() != &bytes[body_len..] {
        return None;
    }
    bytes.truncate(body_len);
    Some(bytes)
}

/// Reads the sealed file at `path` and `decode`s its body. Nothing (and no warning) when
/// the file is missing; nothing and a warning, which names the file as `what` and says
/// what happens instead (`instead`), when it is unreadable, its seal is wrong or `decode`
/// refuses the body.
pub(crate) fn load<T>(
    path: &Path,
    what: &str,
    instead: &str,
    decode: impl FnOnce(Vec<u8>) -> Option<T>,
) -> (Option<T>, Option<String>) {
    let bytes = match fs_err::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return (None, None),
        Err(err) => return (None, Some(format!("{err}; {instead}"))),
    };
    match unseal(bytes).and_then(decode) {
        Some(loaded) => (Some(loaded), None),
        None => (None, Some(format!("{what} `{}` is corrupt or truncated; {instead}", path.display()))),
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_body_comes_back_and_any_damage_is_refused() {
        let sealed = seal(b"body".to_vec());
        assert_eq!(unseal(sealed.clone()).unwrap(), b"body");
        assert_eq!(unseal(seal(Vec::new())).unwrap(), b"");
        let mut flipped = sealed.clone();
        flipped[1] ^= 1;
        for bad in [sealed[..sealed.len() - 1].to_vec(), sealed[1..].to_vec(), flipped, Vec::new()] {
            assert!(unseal(bad).is_none());
        }
    }

    #[test]
    fn loading_says_why_nothing_was_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        let decode = |body: Vec<u8>| (body != b"refused").then_some(body);
        assert_eq!(load(&path, "state", "starting over", decode), (None, None), "missing: nothing to say");
        std::fs::write(&path, seal(b"fine".to_vec())).unwrap();
        assert_eq!(load(&path, "state", "starting over", decode), (Some(b"fine".to_vec()), None));
        for bad in [b"fine".to_vec(), seal(b"refused".to_vec())] {
            std::fs::write(&path, bad).unwrap();
            let (loaded, warning) = load(&path, "state", "starting over", decode);
            assert_eq!(loaded, None);
            let warning = warning.unwrap();
            assert!(
                warning.starts_with("state `") && warning.ends_with("is corrupt or truncated; starting over"),
                "{warning}"
            );
        }
        let unreadable = dir.path().join("a-directory");
        std::fs::create_dir(&unreadable).unwrap();
        let (loaded, warning) = load(&unreadable, "state", "starting over", decode);
        assert_eq!(loaded, None);
        assert!(warning.unwrap().ends_with("; starting over"));
    }
}
