//! `attest audit package attest` and the attestation half of `attest audit package verify
//! --attestation`: the signed overlay v0.7 of nexus-attest (`docs/governance-formats.md` §7).
//! The package is never changed; the attestation is a file of its own. The work is in
//! `attest_govern`; here are the files, the keys and the trust store.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use attest_govern::iso_time::now_micros;
use attest_govern::{Attestation, AttestationPayload, Attestor, PackageCheck, TrustedKey, prefixed, unprefixed};
use attest_receipt::{KeyPair, KeyStore, PublicKey};
use serde_json::Value;

use crate::commands::audit_package::{package_report, read_package};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::workspace_root;
use crate::user_error::UserError;

/// The arguments of `attest audit package attest`.
pub(crate) struct AttestRequest {
    pub(crate) file: PathBuf,
    pub(crate) claims: Vec<String>,
    pub(crate) key: PathBuf,
    pub(crate) attestor: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) output: Option<PathBuf>,
}

/// `attest audit package attest FILE --claim CLAIM --key KEYFILE`.
pub(crate) fn attest(cwd: &Path, request: AttestRequest, printer: Printer) -> anyhow::Result<ExitStatus> {
    let file = &request.file;
    let package = read_package(cwd, file)?;
    let report = package_report(cwd, &package);
    if !report.ok {
        let failed: Vec<&str> = report.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
        printer.error(
            &format!("`{}` does not verify ({} failed): attest will not attest it", file.display(), failed.join(", ")),
            Some(&format!("see every check with `attest audit package verify {}`", file.display())),
        );
        return Ok(ExitStatus::Failure);
    }
    let key = read_key(&cwd.join(&request.key), printer)?;
    let binding = package
        .pointer("/integrity/binding_digest")
        .and_then(Value::as_str)
        .map(|digest| prefixed(unprefixed(digest)))
        .expect("a package that verifies should have a binding digest");
    let attestor = request.attestor.filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "unknown".to_owned());
    let keyid = key.public().keyid().to_owned();
    let payload = AttestationPayload::new(
        binding.clone(),
        request.claims,
        Attestor { id: attestor.clone(), key_id: keyid.clone() },
        now_micros(),
    );
    let attestation = Attestation::sign(payload, key.public().hex(), request.role, |bytes| key.sign(bytes));

    let output = cwd.join(request.output.unwrap_or_else(|| default_output(file)));
    let text = serde_json::to_string_pretty(&attestation)?;
    attest_hash::write_atomically(&output, format!("{text}\n").as_bytes(), attest_hash::Durability::Synced)
        .map_err(|e| UserError::new(format!("cannot write {}: {e}", output.display())))?;
    printer.info(&format!(
        "Attestation {} written to {}: {attestor} vouches `{}` for binding digest {binding} (key {})",
        attestation.attestation_id,
        output.display(),
        attestation.payload.claims.join("`, `"),
        &keyid[..12]
    ));
    if !KeyStore::new(&workspace_root(cwd).join(".attest")).is_trusted(&keyid) {
        printer.warn(&format!(
            "key {} is not in this workspace's trust store: `verify --attestation` here fails \
             attestation.attestor_trusted until it is trusted (`attest keys trust FILE.pub`)",
            &keyid[..12]
        ));
    }
    Ok(ExitStatus::Success)
}

/// The checks of the attestation in `path` against `package`, named `attestation.<check>`.
/// The signature is checked with `meta.public_key_hex` (or, when it is absent, the trusted
/// key of the payload's `key_id`); `attestation.attestor_trusted` requires that key_id in the
/// trust store with that very key.
pub(crate) fn attestation_checks(cwd: &Path, package: &Value, path: &Path) -> anyhow::Result<Vec<PackageCheck>> {
    let hint = "pass the file `attest audit package attest` wrote";
    let bytes =
        fs_err::read(cwd.join(path)).map_err(|e| UserError::new(format!("cannot read the attestation: {e}")))?;
    let attestation: Attestation = serde_json::from_slice(&bytes).map_err(|e| {
        UserError::new(format!(
            "`{}` is not an attestation (v{}): {e}",
            path.display(),
            attest_govern::ATTESTATION_VERSION
        ))
        .hint(hint)
    })?;
    let keys = KeyStore::new(&workspace_root(cwd).join(".attest"));
    let key_id = &attestation.payload.attestor.key_id;
    // Only a keyid names a file in the trust store.
    let is_keyid = key_id.len() == 64 && key_id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let trusted_public = (is_keyid && keys.is_trusted(key_id)).then(|| keys.public_key(key_id)).flatten();
    let trusted = trusted_public.as_ref().map(|public| TrustedKey {
        public_key_hex: public.hex(),
        revoked_at: keys.revocation(key_id).map(|r| r.revoked_at),
    });
    let signer = match attestation.meta.public_key_hex.as_deref() {
        Some(text) => PublicKey::from_hex(text).ok(),
        None => trusted_public,
    };
    let report = attest_govern::verify_package_attestation(
        package,
        &attestation,
        |message, signature| signer.as_ref().is_some_and(|key| key.verify(message, signature)),
        trusted.as_ref(),
    );
    Ok(report.checks)
}

/// `release.audit.json` → `release.audit.attestation.json`; `p` → `p.attestation.json`.
fn default_output(file: &Path) -> PathBuf {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    file.with_file_name(format!("{stem}.attestation.json"))
}

/// The private key of `--key`; its text is never printed.
fn read_key(path: &Path, printer: Printer) -> Result<KeyPair, UserError> {
    let text =
        fs_err::read_to_string(path).map_err(|e| UserError::new(format!("failed to read the signing key: {e}")))?;
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        printer
            .warn(&format!("the signing key `{}` is readable by other users; run `chmod 600` on it", path.display()));
    }
    KeyPair::from_pem(&text).map_err(|_| {
        UserError::new(format!("`{}` is not an Ed25519 private key in PKCS#8 PEM format", path.display()))
            .hint("generate one with `attest keys generate` or `openssl genpkey -algorithm ed25519`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attestation_goes_beside_the_package() {
        assert_eq!(
            default_output(Path::new("out/release.audit.json")),
            Path::new("out/release.audit.attestation.json")
        );
        assert_eq!(default_output(Path::new("p.json")), Path::new("p.attestation.json"));
        assert_eq!(default_output(Path::new("package")), Path::new("package.attestation.json"));
    }
}
