//! Which key signs a run's receipt: `--key FILE`, else `ATTEST_SIGNING_KEY`, else with
//! `--sign` the workspace's default key (generated on first use). The private key is
//! never printed; errors name where it came from, never its text.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use attest_receipt::{KeyPair, KeyStore};
use attest_run::{Workspace, error_chain as chain};

use crate::printer::Printer;
use crate::settings::SIGNING_KEY_VAR;
use crate::user_error::UserError;

/// The signing key and a description of where it came from.
pub(crate) struct SigningKey {
    pub(crate) key: KeyPair,
    pub(crate) source: String,
}

/// Resolves the signing key of a run, or `None` for an unsigned receipt.
pub(crate) fn signing_key(
    sign: bool,
    key_file: Option<&Path>,
    workspace: &Workspace,
    printer: Printer,
) -> Result<Option<SigningKey>, UserError> {
    if let Some(path) = key_file {
        let text =
            fs_err::read_to_string(path).map_err(|e| UserError::new(format!("failed to read the signing key: {e}")))?;
        if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
            printer.info(&format!(
                "warning: the signing key `{}` is readable by other users; run `chmod 600` on it",
                path.display()
            ));
        }
        let key = KeyPair::from_pem(&text).map_err(|_| {
            UserError::new(format!("`{}` is not an Ed25519 private key in PKCS#8 PEM format", path.display()))
                .hint("generate one with `attest keys generate` or `openssl genpkey -algorithm ed25519`")
        })?;
        return Ok(Some(SigningKey { key, source: format!("key file {}", path.display()) }));
    }
    if let Some(text) = std::env::var_os(SIGNING_KEY_VAR).filter(|v| !v.is_empty()) {
        let key = text.to_str().and_then(|t| KeyPair::from_pem(t).ok()).ok_or_else(|| {
            UserError::new(format!("{SIGNING_KEY_VAR} does not hold an Ed25519 private key in PKCS#8 PEM format"))
                .hint("put the whole PEM text, BEGIN and END lines included, in the variable")
        })?;
        return Ok(Some(SigningKey { key, source: SIGNING_KEY_VAR.to_owned() }));
    }
    if !sign {
        return Ok(None);
    }
    let store = KeyStore::new(&workspace.attest_dir());
    let failed = |e: attest_receipt::KeyStoreError| UserError::new(chain(&e));
    if let Some(key) = store.default_key().map_err(failed)? {
        let source = display(workspace, &store.private_key_path(key.public().keyid()));
        return Ok(Some(SigningKey { key, source }));
    }
    let key = store.generate(Some("default")).map_err(failed)?;
    let path = display(workspace, &store.private_key_path(key.public().keyid()));
    printer.info(&format!(
        "Generated a signing key: {path} (private, mode 0600; keep it out of git). \
         Its public half is trusted in .attest/trust/; share it with `attest keys export {}`.",
        &key.public().keyid()[..12]
    ));
    Ok(Some(SigningKey { key, source: path }))
}

fn display(workspace: &Workspace, path: &Path) -> String {
    path.strip_prefix(&workspace.root).unwrap_or(path).display().to_string()
}
