use std::path::Path;

use attest_receipt::{KeyStore, PublicKey};
use serde_json::json;

use crate::args::{Format, KeysCommand};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::workspace_root;
use crate::user_error::UserError;
use attest_run::error_chain as chain;

fn store_error(error: attest_receipt::KeyStoreError) -> UserError {
    let hint = match &error {
        attest_receipt::KeyStoreError::NotFound(_) => Some("`attest keys list` shows the keys this workspace knows"),
        attest_receipt::KeyStoreError::Ambiguous { .. } => Some("give more digits of the keyid"),
        _ => None,
    };
    let user = UserError::new(chain(&error));
    match hint {
        Some(hint) => user.hint(hint),
        None => user,
    }
}

/// `attest keys generate|list|trust|revoke|export`.
pub(crate) fn keys(cwd: &Path, command: KeysCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    let root = workspace_root(cwd);
    let store = KeyStore::new(&root.join(".attest"));
    match command {
        KeysCommand::Generate { name, format } => {
            let key = store.generate(name.as_deref()).map_err(store_error)?;
            let keyid = key.public().keyid();
            let private = store.private_key_path(keyid);
            match format {
                Format::Json => printer.data(
                    &json!({
                        "keyid": keyid,
                        "private_key": private.display().to_string(),
                        "public_key": private.with_extension("pub").display().to_string(),
                    })
                    .to_string(),
                ),
                Format::Human => {
                    printer.info(&format!("Generated key {keyid}"));
                    printer.info(&format!("  private  {} (mode 0600; never share or commit it)", private.display()));
                    printer.info(&format!("  public   {}", private.with_extension("pub").display()));
                    printer.info(&format!("Give verifiers the public key: attest keys export {}", &keyid[..12]));
                }
            }
        }
        KeysCommand::List { trusted, format } => {
            let keys: Vec<_> =
                store.list().map_err(store_error)?.into_iter().filter(|k| !trusted || k.trusted).collect();
            match format {
                Format::Json => printer.data(&serde_json::to_string(&keys)?),
                Format::Human if keys.is_empty() => {
                    printer.info("No keys: `attest keys generate` makes one, `attest keys trust FILE.pub` trusts one.");
                }
                Format::Human => {
                    for key in keys {
                        let mut flags = Vec::new();
                        if key.default {
                            flags.push("default".to_owned());
                        }
                        if key.private {
                            flags.push("private".to_owned());
                        }
                        if key.trusted {
                            flags.push("trusted".to_owned());
                        }
                        if let Some(revoked) = &key.revoked {
                            flags.push(format!("revoked {}", revoked.revoked_at));
                        }
                        printer.info(&format!(
                            "{}  {:<12}  {}",
                            key.keyid,
                            key.name.as_deref().unwrap_or("-"),
                            flags.join(", ")
                        ));
                    }
                }
            }
        }
        KeysCommand::Trust { file, name, format } => {
            let path = cwd.join(&file);
            let text =
                fs_err::read_to_string(&path).map_err(|e| UserError::new(format!("failed to read the key: {e}")))?;
            let key = PublicKey::from_pem(&text).map_err(|_| {
                UserError::new(format!("`{}` is not an Ed25519 public key in SPKI PEM format", file.display()))
                    .hint("export one with `attest keys export ID` or `openssl pkey -pubout`")
            })?;
            store.trust_key(&key, name.as_deref()).map_err(store_error)?;
            match format {
                Format::Json => printer.data(&json!({"keyid": key.keyid(), "trusted": true}).to_string()),
                Format::Human => printer.info(&format!("Trusted key {}", key.keyid())),
            }
        }
        KeysCommand::Revoke { id, reason, format } => {
            let revocation = store.revoke(&id, reason.as_deref()).map_err(store_error)?;
            match format {
                Format::Json => printer.data(&serde_json::to_string(&revocation)?),
                Format::Human => printer.info(&format!(
                    "Revoked key {} at {}: receipts it signed before stay valid (with a warning), later ones fail.",
                    revocation.keyid, revocation.revoked_at
                )),
            }
        }
        KeysCommand::Export { id } => printer.data(store.export(&id).map_err(store_error)?.trim_end()),
    }
    Ok(ExitStatus::Success)
}
