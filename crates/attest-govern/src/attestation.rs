//! Attestation overlay v0.7: a signed statement that vouches for an audit package by its
//! binding digest and never changes the package (`docs/governance-formats.md` §7).
//! Interoperable with nexus-attest: the signed bytes, the artifact and the four checks of
//! [`verify_attestation`] are its own, in its order. [`verify_package_attestation`] adds
//! attest's two checks, under their own names: `binding_digest_match` (the attestation is
//! about *this* package) and `attestor_trusted` (the key is in the trust store), which
//! nexus-attest leaves to its caller.
//!
//! Pure: the caller signs (a closure over the signed bytes), checks a signature (a closure)
//! and looks the key up in its trust store ([`TrustedKey`]); no keys, files or clock here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit_package::{PackageCheck, PackageReport};
use crate::digests::{prefixed, unprefixed};
use crate::iso_time::{Micros, iso, parse_iso};

/// The attestation format version.
pub const ATTESTATION_VERSION: &str = "0.7";

/// Who signs, as the signed payload names them (their role goes to [`AttestationMeta`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestor {
    /// The attestor's name, e.g. `alice` or `release-bot`.
    pub id: String,
    /// The signing key's securesystemslib keyid (a free string for nexus-attest).
    pub key_id: String,
}

/// The five signed fields, in nexus-attest's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationPayload {
    /// `"0.7"`.
    pub attestation_version: String,
    /// The package's `integrity.binding_digest`, `sha256:`-prefixed.
    pub binding_digest: String,
    /// What the attestor vouches for, sorted, duplicates kept.
    pub claims: Vec<String>,
    /// Who signs.
    pub attestor: Attestor,
    /// When, as Python's UTC `isoformat()`.
    pub signed_at: String,
}

/// Facts outside the signature.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttestationMeta {
    /// The raw 32-byte Ed25519 public key as 64 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_hex: Option<String>,
    /// The attestor's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Anything else another writer put here, kept as it was.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// A signed attestation: the artifact of §7.2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// `att_` + the first 16 hex digits of the SHA-256 of the signature bytes.
    pub attestation_id: String,
    /// What was signed.
    pub payload: AttestationPayload,
    /// The Ed25519 signature of [`AttestationPayload::signing_bytes`], lowercase hex.
    pub signature: String,
    /// The public key and the role; written only when not empty.
    #[serde(default, skip_serializing_if = "AttestationMeta::is_empty")]
    pub meta: AttestationMeta,
}

/// The trust store's answer for an attestation's `key_id`, looked up by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The trusted public key of that keyid, as 64 hex digits.
    pub public_key_hex: String,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
}

impl AttestationPayload {
    /// A version 0.7 payload; the claims are sorted.
    pub fn new(
        binding_digest: impl Into<String>,
        mut claims: Vec<String>,
        attestor: Attestor,
        signed_at: Micros,
    ) -> Self {
        claims.sort();
        Self {
            attestation_version: ATTESTATION_VERSION.to_owned(),
            binding_digest: binding_digest.into(),
            claims,
            attestor,
            signed_at: iso(signed_at),
        }
    }

    /// The signed bytes (§7.1): sorted compact JSON of the five fields, rebuilt as
    /// nexus-attest's verifier rebuilds them, with the constant version and the claims
    /// sorted, so the payload's own `attestation_version` is checked, not signed.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut claims = self.claims.clone();
        claims.sort();
        let value = json!({
            "attestation_version": ATTESTATION_VERSION,
            "binding_digest": self.binding_digest,
            "claims": claims,
            "attestor": { "id": self.attestor.id, "key_id": self.attestor.key_id },
            "signed_at": self.signed_at,
        });
        attest_hash::sorted_json(&value).expect("an attestation payload should hold only strings").into_bytes()
    }
}

impl AttestationMeta {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.public_key_hex.is_none() && self.role.is_none() && self.other.is_empty()
    }
}

impl Attestation {
    /// Signs `payload` with `sign` (pure Ed25519 over [`AttestationPayload::signing_bytes`])
    /// and records the public key and the role in `meta`.
    pub fn sign(
        payload: AttestationPayload,
        public_key_hex: String,
        role: Option<String>,
        sign: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> Self {
        let signature = sign(&payload.signing_bytes());
        Self {
            attestation_id: attestation_id(&signature),
            payload,
            signature: hex(&signature),
            meta: AttestationMeta { public_key_hex: Some(public_key_hex), role, other: BTreeMap::new() },
        }
    }
}

/// `att_` + the first 16 hex digits of the SHA-256 of `signature`.
pub fn attestation_id(signature: &[u8]) -> String {
    format!("att_{}", &attest_hash::sha256_bytes(signature).hex()[..16])
}

/// nexus-attest's four checks (§7.3), all of them, in its order: `signature_valid`,
/// `attestation_version`, `claims_non_empty`, `binding_digest_format`.
/// `verify_signature(message, signature)` checks an Ed25519 signature with the key the
/// caller chose.
pub fn verify_attestation(
    attestation: &Attestation,
    verify_signature: impl FnOnce(&[u8], &[u8]) -> bool,
) -> PackageReport {
    let payload = &attestation.payload;
    let signature_ok =
        unhex(&attestation.signature).is_some_and(|signature| verify_signature(&payload.signing_bytes(), &signature));
    let digest = &payload.binding_digest;
    let digest_ok = digest.starts_with("sha256:");
    let digest_head = if digest.chars().count() > 12 {
        format!("{}...", digest.chars().take(12).collect::<String>())
    } else {
        digest.clone()
    };
    PackageReport::new(vec![
        PackageCheck::new(
            "signature_valid",
            signature_ok,
            None,
            None,
            "the Ed25519 signature over the canonical payload",
        ),
        PackageCheck::new(
            "attestation_version",
            payload.attestation_version == ATTESTATION_VERSION,
            Some(ATTESTATION_VERSION.to_owned()),
            Some(payload.attestation_version.clone()),
            "the attestation version is one this attest reads",
        ),
        PackageCheck::new("claims_non_empty", !payload.claims.is_empty(), None, None, "at least one claim"),
        PackageCheck::new(
            "binding_digest_format",
            digest_ok,
            None,
            Some(digest_head),
            "the binding digest starts with `sha256:`",
        ),
    ])
}

/// Every check of `attestation` against `package`, named `attestation.<check>`: the four
/// of [`verify_attestation`], then attest's `binding_digest_match` (it names the
/// package's `integrity.binding_digest`) and `attestor_trusted` (`trusted_key` is the trust
/// store's key for the payload's `key_id`, `None` when it is not trusted; it must be the key
/// in `meta`, and not have been revoked before `signed_at`).
pub fn verify_package_attestation(
    package: &Value,
    attestation: &Attestation,
    verify_signature: impl FnOnce(&[u8], &[u8]) -> bool,
    trusted_key: Option<&TrustedKey>,
) -> PackageReport {
    let mut checks: Vec<PackageCheck> = verify_attestation(attestation, verify_signature).checks;
    let stored = package.pointer("/integrity/binding_digest").and_then(Value::as_str);
    let expected = stored.map(|digest| prefixed(unprefixed(digest)));
    let actual = &attestation.payload.binding_digest;
    checks.push(PackageCheck::new(
        "binding_digest_match",
        expected.as_deref() == Some(actual.as_str()),
        Some(expected.unwrap_or_else(|| "(the package has no binding digest)".to_owned())),
        Some(actual.clone()),
        "the attestation names this package's binding digest",
    ));
    checks.push(trust_check(attestation, trusted_key));
    for check in &mut checks {
        check.name = prefixed_name(check.name);
    }
    PackageReport::new(checks)
}

fn trust_check(attestation: &Attestation, trusted_key: Option<&TrustedKey>) -> PackageCheck {
    const NAME: &str = "attestor_trusted";
    let key_id = &attestation.payload.attestor.key_id;
    let Some(trusted) = trusted_key else {
        return PackageCheck::new(
            NAME,
            false,
            Some("a key_id in the trust store".to_owned()),
            Some(format!("{key_id} is not trusted")),
            "the attestor's key is in the trust store; add it with `attest keys trust FILE.pub` if you trust it",
        );
    };
    let meta_key = attestation.meta.public_key_hex.as_deref().map(str::to_ascii_lowercase);
    if meta_key.as_deref().is_some_and(|key| key != trusted.public_key_hex) {
        return PackageCheck::new(
            NAME,
            false,
            Some(trusted.public_key_hex.clone()),
            meta_key,
            "meta.public_key_hex is the trusted key of the attestor's key_id",
        );
    }
    let Some(revoked_at) = &trusted.revoked_at else {
        return PackageCheck::new(NAME, true, None, None, "the attestor's key is trusted and not revoked");
    };
    match (parse_iso(&attestation.payload.signed_at), parse_iso(revoked_at)) {
        (Some(signed), Some(revoked)) if signed < revoked => PackageCheck::new(
            NAME,
            true,
            None,
            None,
            &format!("the attestor's key is trusted; it was revoked at {revoked_at}, after the attestation was signed"),
        ),
        _ => PackageCheck::new(
            NAME,
            false,
            Some("a key not revoked when it signed".to_owned()),
            Some(format!("revoked at {revoked_at}, signed at {}", attestation.payload.signed_at)),
            "the attestor's key was not revoked when the attestation was signed",
        ),
    }
}

/// The report name of an attestation check.
fn prefixed_name(name: &'static str) -> &'static str {
    match name {
        "signature_valid" => "attestation.signature_valid",
        "attestation_version" => "attestation.attestation_version",
        "claims_non_empty" => "attestation.claims_non_empty",
        "binding_digest_format" => "attestation.binding_digest_format",
        "binding_digest_match" => "attestation.binding_digest_match",
        "attestor_trusted" => "attestation.attestor_trusted",
        other => other,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex digits (either case) to bytes; `None` for anything else.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes().chunks_exact(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()).collect()
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

    use super::*;

    /// RFC 8032 §7.1, test 1: a published seed, so the vectors below can be recomputed by
    /// anyone (they were, with Python's `cryptography`).
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    /// securesystemslib's keyid of `PUBLIC`.
    const KEY_ID: &str = "74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916";
    const BINDING: &str = "sha256:ce3ade618813bcd56df0faed0e9f7e3780fb2d5b6c87a07ba87e966fa2e4b13b";
    /// 2025-03-11T12:00:00.000002+00:00
    const SIGNED_AT: Micros = 1_741_694_400_000_002;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&unhex(SEED).unwrap().try_into().unwrap())
    }

    fn verifier(public: VerifyingKey) -> impl FnOnce(&[u8], &[u8]) -> bool {
        move |message, signature| {
            Signature::from_slice(signature).is_ok_and(|signature| public.verify(message, &signature).is_ok())
        }
    }

    fn signed() -> Attestation {
        let payload = AttestationPayload::new(
            BINDING,
            vec!["released".into(), "controls-reviewed".into(), "révisé".into()],
            Attestor { id: "alice".into(), key_id: KEY_ID.into() },
            SIGNED_AT,
        );
        let key = key();
        Attestation::sign(payload, hex(key.verifying_key().as_bytes()), Some("release-manager".into()), |bytes| {
            key.sign(bytes).to_bytes().to_vec()
        })
    }

    fn package() -> Value {
        json!({ "integrity": { "alg": "sha256", "binding_digest": BINDING } })
    }

    fn trusted() -> TrustedKey {
        TrustedKey { public_key_hex: PUBLIC.to_owned(), revoked_at: None }
    }

    fn failed(report: &PackageReport) -> Vec<&str> {
        report.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
    }

    #[test]
    fn signs_the_bytes_and_artifact_nexus_attest_would() {
        let attestation = signed();
        assert_eq!(hex(key().verifying_key().as_bytes()), PUBLIC);
        assert_eq!(
            String::from_utf8(attestation.payload.signing_bytes()).unwrap(),
            format!(
                r#"{{"attestation_version":"0.7","attestor":{{"id":"alice","key_id":"{KEY_ID}"}},"binding_digest":"{BINDING}","claims":["controls-reviewed","released","révisé"],"signed_at":"2025-03-11T12:00:00.000002+00:00"}}"#
            )
        );
        // Computed independently with Python's cryptography (Ed25519 is deterministic).
        assert_eq!(
            attestation.signature,
            "3005fd147b4ea2436d1bdfc788883d7ef5017a8fac7099da78cfb34b2aa6b4c5cdd97871924f4a6cc588f2384a9a8db08865435fc7eeac6c2ab60094b5976d0f"
        );
        assert_eq!(attestation.attestation_id, "att_6f9e071e70c5ecca");
        let text = serde_json::to_string(&attestation).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"attestation_id":"att_6f9e071e70c5ecca","payload":{{"attestation_version":"0.7","binding_digest":"{BINDING}","claims":["controls-reviewed","released","révisé"],"attestor":{{"id":"alice","key_id":"{KEY_ID}"}},"signed_at":"2025-03-11T12:00:00.000002+00:00"}},"signature":"{}","meta":{{"public_key_hex":"{PUBLIC}","role":"release-manager"}}}}"#,
                attestation.signature
            )
        );
        assert_eq!(serde_json::from_str::<Attestation>(&text).unwrap(), attestation);
    }

    #[test]
    fn round_trip_passes_every_check() {
        let attestation = signed();
        let report = verify_attestation(&attestation, verifier(key().verifying_key()));
        let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
        assert_eq!(names, ["signature_valid", "attestation_version", "claims_non_empty", "binding_digest_format"]);
        assert!(report.ok, "{report:?}");
        let report =
            verify_package_attestation(&package(), &attestation, verifier(key().verifying_key()), Some(&trusted()));
        assert!(report.ok, "{report:?}");
        assert_eq!((report.passed, report.total), (6, 6));
        assert_eq!(report.checks[4].name, "attestation.binding_digest_match");
        assert_eq!(report.checks[5].name, "attestation.attestor_trusted");
        // A stored binding digest without its prefix still names the same package (§1).
        let raw = json!({ "integrity": { "binding_digest": unprefixed(BINDING) } });
        assert!(verify_package_attestation(&raw, &attestation, verifier(key().verifying_key()), Some(&trusted())).ok);
    }

    #[test]
    fn each_tamper_fails_its_named_check_and_every_check_still_runs() {
        type Tamper = fn(&mut Attestation);
        let cases: Vec<(&str, Tamper, Vec<&str>)> = vec![
            (
                "flipped signature",
                |a| {
                    let flipped = if a.signature.starts_with('0') { "1" } else { "0" };
                    a.signature.replace_range(..1, flipped);
                },
                vec!["signature_valid"],
            ),
            ("signature not hex", |a| a.signature = "zz".repeat(64), vec!["signature_valid"]),
            ("changed claim", |a| a.payload.claims[1] = "approved".into(), vec!["signature_valid"]),
            ("added claim", |a| a.payload.claims.push("audited".into()), vec!["signature_valid"]),
            (
                "changed binding digest",
                |a| a.payload.binding_digest = format!("sha256:{}", "0".repeat(64)),
                vec!["signature_valid"],
            ),
            ("changed attestor", |a| a.payload.attestor.id = "mallory".into(), vec!["signature_valid"]),
            ("changed time", |a| a.payload.signed_at = iso(SIGNED_AT + 1), vec!["signature_valid"]),
            // The signed bytes carry the constant "0.7": the signature still holds, the version does not.
            ("version 0.8", |a| a.payload.attestation_version = "0.8".into(), vec!["attestation_version"]),
            ("empty claims", |a| a.payload.claims.clear(), vec!["signature_valid", "claims_non_empty"]),
            (
                "unprefixed digest",
                |a| a.payload.binding_digest = unprefixed(BINDING).to_owned(),
                vec!["signature_valid", "binding_digest_format"],
            ),
        ];
        for (what, tamper, expected) in cases {
            let mut attestation = signed();
            tamper(&mut attestation);
            let report = verify_attestation(&attestation, verifier(key().verifying_key()));
            assert_eq!(report.total, 4, "{what}");
            assert_eq!(failed(&report), expected, "{what}");
        }
        // Reordered claims are the same claims: the verifier sorts before checking.
        let mut attestation = signed();
        attestation.payload.claims.reverse();
        assert!(verify_attestation(&attestation, verifier(key().verifying_key())).ok);
    }

    #[test]
    fn failures_carry_expected_and_actual_as_nexus_attest_reports_them() {
        let mut attestation = signed();
        attestation.payload.attestation_version = "0.8".into();
        attestation.payload.binding_digest = unprefixed(BINDING).to_owned();
        let report = verify_attestation(&attestation, |_, _| true);
        let version = &report.checks[1];
        assert_eq!((version.expected.as_deref(), version.actual.as_deref()), (Some("0.7"), Some("0.8")));
        let format = &report.checks[3];
        assert_eq!((format.expected.as_deref(), format.actual.as_deref()), (None, Some("ce3ade618813...")));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["checks"][0],
            json!({ "name": "signature_valid", "ok": true, "detail": report.checks[0].detail })
        );
    }

    #[test]
    fn a_wrong_key_fails_the_signature() {
        let other = SigningKey::from_bytes(&[7; 32]);
        let report = verify_attestation(&signed(), verifier(other.verifying_key()));
        assert_eq!(failed(&report), ["signature_valid"]);
    }

    #[test]
    fn attest_checks_the_package_and_the_trust_store() {
        let attestation = signed();
        let verify = || verifier(key().verifying_key());
        let other_package = json!({ "integrity": { "binding_digest": format!("sha256:{}", "1".repeat(64)) } });
        let report = verify_package_attestation(&other_package, &attestation, verify(), Some(&trusted()));
        assert_eq!(failed(&report), ["attestation.binding_digest_match"]);
        assert_eq!(report.checks[4].expected.as_deref(), other_package["integrity"]["binding_digest"].as_str());

        let report = verify_package_attestation(&package(), &attestation, verify(), None);
        assert_eq!(failed(&report), ["attestation.attestor_trusted"]);
        assert_eq!(report.checks[5].actual, Some(format!("{KEY_ID} is not trusted")));

        let someone_else = TrustedKey { public_key_hex: "ab".repeat(32), revoked_at: None };
        let report = verify_package_attestation(&package(), &attestation, verify(), Some(&someone_else));
        assert_eq!(failed(&report), ["attestation.attestor_trusted"]);

        let revoked_before = TrustedKey { revoked_at: Some("2025-03-11T12:00:00Z".into()), ..trusted() };
        let report = verify_package_attestation(&package(), &attestation, verify(), Some(&revoked_before));
        assert_eq!(failed(&report), ["attestation.attestor_trusted"]);

        // Revoked after it signed: still valid, as for receipts.
        let revoked_after = TrustedKey { revoked_at: Some("2025-03-12T00:00:00Z".into()), ..trusted() };
        let report = verify_package_attestation(&package(), &attestation, verify(), Some(&revoked_after));
        assert!(report.ok, "{report:?}");
        assert!(report.checks[5].detail.contains("revoked at 2025-03-12T00:00:00Z"));
    }

    #[test]
    fn the_artifact_is_parsed_strictly_but_meta_is_kept_whole() {
        let mut value = serde_json::to_value(signed()).unwrap();
        value["meta"]["note"] = json!("from another tool");
        let attestation: Attestation = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(attestation.meta.other["note"], "from another tool");
        assert_eq!(serde_json::to_value(&attestation).unwrap(), value);

        let mut unsigned_field = value.clone();
        unsigned_field["payload"]["role"] = json!("admin");
        assert!(serde_json::from_value::<Attestation>(unsigned_field).is_err());
        let mut no_claims = value;
        no_claims["payload"].as_object_mut().unwrap().remove("claims");
        assert!(serde_json::from_value::<Attestation>(no_claims).is_err());

        let bare = Attestation { meta: AttestationMeta::default(), ..signed() };
        assert!(serde_json::to_value(bare).unwrap().get("meta").is_none());
    }
}
