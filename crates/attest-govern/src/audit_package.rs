//! Audit package v0.6: a control bundle and the run it authorised, bound by one digest
//! (`docs/governance-formats.md` §2, §4, §5). Interoperable with nexus-attest: the four
//! digests are its formulas, the checks its checks, in its order; attest adds two checks
//! nexus-attest does not make (the link digest recomputed from the bundle's router link,
//! and the router run id against the bundle's), reported under their own names.

use serde::Serialize;
use serde_json::{Value, json};

use crate::GovernError;
use crate::control_bundle::{control_digest, link_digest, stored_control_digest};
use crate::digests::{content_digest, prefixed, unprefixed};
use crate::iso_time::{Micros, iso};

/// The package format version.
pub const PACKAGE_VERSION: &str = "0.6";

/// Where the run is: by reference (id and digest) or embedded (the whole receipt).
#[derive(Debug, Clone, PartialEq)]
pub enum RouterSection {
    /// The run id and the receipt digest (`sha256:`-prefixed).
    Reference {
        /// The receipt's invocation id.
        run_id: String,
        /// `sha256:` + hex SHA-256 of the receipt file.
        digest: String,
    },
    /// The receipt file's text, carried whole.
    Embedded {
        /// The receipt's invocation id.
        run_id: String,
        /// The `.intoto.jsonl` text.
        receipt: String,
    },
}

/// `binding_digest` (raw hex) over the package version and the three binding digests.
pub fn binding_digest(package_version: &Value, control: &Value, router: &Value, link: &Value) -> Option<String> {
    content_digest(&json!({
        "package_version": package_version,
        "control_digest": control,
        "router_digest": router,
        "control_router_link_digest": link,
    }))
    .ok()
}

/// A package for `bundle` (from [`crate::export_bundle`]) and the run in `router`.
pub fn build_package(bundle: Value, router: RouterSection, now: Micros) -> Result<Value, GovernError> {
    let link = bundle.get("router_link").cloned().unwrap_or_else(|| json!({}));
    let Some(link_digest) = link.get("control_router_link_digest").and_then(Value::as_str).map(str::to_owned) else {
        return Err(GovernError::new(
            "NO_ROUTER_LINK",
            "the decision has not been executed: there is no run to bind (`attest decision execute` first)",
        ));
    };
    let control = bundle
        .get("integrity")
        .and_then(|i| i.get("canonical_digest"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| GovernError::new("BUNDLE_INVALID_SCHEMA", "the control bundle has no integrity digest"))?;
    let result_digest = link.get("router_result_digest").and_then(Value::as_str).map(str::to_owned);
    let (router_value, router_digest) = match router {
        RouterSection::Reference { run_id, digest } => {
            (json!({ "mode": "reference", "ref": { "run_id": run_id, "digest": digest } }), digest)
        }
        RouterSection::Embedded { run_id, receipt } => {
            let digest = prefixed(&attest_hash::sha256_bytes(receipt.as_bytes()).hex());
            if result_digest.as_deref() != Some(digest.as_str()) {
                return Err(GovernError::new(
                    "ROUTER_DIGEST_MISMATCH",
                    "the receipt's digest is not the one the decision's execution recorded: is it the right receipt?",
                ));
            }
            (
                json!({ "mode": "embedded", "bundle": {
                    "format": "attest-receipt+intoto-jsonl",
                    "run_id": run_id,
                    "receipt": receipt,
                    "integrity": { "alg": "sha256", "canonical_digest": digest },
                }}),
                digest,
            )
        }
    };
    let version = json!(PACKAGE_VERSION);
    let binding = binding_digest(&version, &json!(control), &json!(router_digest), &json!(link_digest))
        .ok_or_else(|| GovernError::new("BUNDLE_INVALID_SCHEMA", "digests are not strings"))?;
    let decision_id = bundle
        .get("decision")
        .and_then(|d| d.get("decision_id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(json!({
        "package_version": PACKAGE_VERSION,
        "control_bundle": bundle,
        "router": router_value,
        "binding": {
            "control_digest": control,
            "router_digest": router_digest,
            "control_router_link_digest": link_digest,
        },
        "integrity": { "alg": "sha256", "binding_digest": prefixed(&binding) },
        "provenance": { "records": [{
            "prov_id": format!("prov_{}", &attest_hash::sha256_bytes(format!("{decision_id}:{binding}").as_bytes()).hex()[..12]),
            "method_id": "attest.audit_export_v0_6",
            "inputs": [format!("decision:{decision_id}")],
            "outputs": [format!("audit_package:sha256:{binding}")],
        }]},
        "meta": { "exported_at": iso(now) },
    }))
}

/// One check of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageCheck {
    /// Its name (nexus-attest's, or attest's own).
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// The value it should have been, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The value found, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// What it checks.
    pub detail: String,
}

/// Every check of a package, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageReport {
    /// Whether every check passed.
    pub ok: bool,
    /// The checks.
    pub checks: Vec<PackageCheck>,
    /// How many passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
    /// How many ran.
    pub total: usize,
}

impl PackageReport {
    /// A report of `checks`.
    pub fn new(checks: Vec<PackageCheck>) -> Self {
        let passed = checks.iter().filter(|c| c.ok).count();
        Self { ok: passed == checks.len(), passed, failed: checks.len() - passed, total: checks.len(), checks }
    }
}

impl PackageCheck {
    /// A check with `expected`/`actual` kept only on failure (§5.2).
    pub(crate) fn new(
        name: &'static str,
        ok: bool,
        expected: Option<String>,
        actual: Option<String>,
        detail: &str,
    ) -> Self {
        Self {
            name,
            ok,
            expected: if ok { None } else { expected },
            actual: if ok { None } else { actual },
            detail: detail.to_owned(),
        }
    }
}

fn check(name: &'static str, expected: Option<String>, actual: Option<String>, detail: &str) -> PackageCheck {
    let ok = expected.is_some() && expected == actual;
    PackageCheck::new(name, ok, expected, actual, detail)
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

/// Every check of `package`, none skipped because another failed.
pub fn verify_package(package: &Value) -> PackageReport {
    let null = Value::Null;
    let binding = package.get("binding").unwrap_or(&null);
    let bundle = package.get("control_bundle").unwrap_or(&null);
    let router = package.get("router").unwrap_or(&null);
    let link = bundle.get("router_link").unwrap_or(&null);
    let embedded = router.get("mode").and_then(Value::as_str) == Some("embedded");
    let version = package.get("package_version").cloned().unwrap_or_else(|| json!(PACKAGE_VERSION));
    let mut checks = Vec::new();

    let recomputed = binding_digest(
        &version,
        binding.get("control_digest").unwrap_or(&null),
        binding.get("router_digest").unwrap_or(&null),
        binding.get("control_router_link_digest").unwrap_or(&null),
    );
    let stored = text(package.get("integrity").and_then(|i| i.get("binding_digest")));
    let mut c = check(
        "binding_digest",
        stored.as_deref().map(|s| prefixed(unprefixed(s))),
        recomputed.as_deref().map(prefixed),
        "the binding digest recomputed over package_version and the three binding digests",
    );
    if !c.ok {
        c.expected = stored;
    }
    checks.push(c);

    let stored_control = stored_control_digest(bundle).map(prefixed);
    checks.push(check(
        "control_bundle_digest",
        stored_control,
        control_digest(bundle).ok(),
        "the control bundle's digest recomputed over its decision, events, template snapshot and router link",
    ));
    checks.push(check(
        "binding_control_match",
        text(bundle.get("integrity").and_then(|i| i.get("canonical_digest"))),
        text(binding.get("control_digest")),
        "the binding names the control bundle's digest",
    ));
    let section_digest = if embedded {
        text(router.get("bundle").and_then(|b| b.get("integrity")).and_then(|i| i.get("canonical_digest")))
    } else {
        text(router.get("ref").and_then(|r| r.get("digest")))
    };
    checks.push(check(
        "binding_router_match",
        section_digest.clone(),
        text(binding.get("router_digest")),
        "the binding names the router section's digest",
    ));
    checks.push(check(
        "binding_link_match",
        text(link.get("control_router_link_digest")),
        text(binding.get("control_router_link_digest")),
        "the binding names the control bundle's link to the run",
    ));
    if embedded {
        // nexus-attest's meaning: the embedded bundle carries its digest.
        checks.push(PackageCheck {
            name: "router_digest",
            ok: section_digest.is_some(),
            expected: section_digest.is_none().then(|| "integrity.canonical_digest".to_owned()),
            actual: section_digest.is_none().then(|| "(missing)".to_owned()),
            detail: "the embedded router bundle carries its integrity digest".to_owned(),
        });
    }

    // attest's own: what nexus-attest does not check.
    let receipt = router.get("bundle").and_then(|b| b.get("receipt")).and_then(Value::as_str);
    if embedded && let Some(receipt) = receipt {
        checks.push(check(
            "receipt_digest",
            section_digest,
            Some(prefixed(&attest_hash::sha256_bytes(receipt.as_bytes()).hex())),
            "the embedded attest receipt's SHA-256 is the recorded digest",
        ));
    }
    let decision_id = bundle.get("decision").and_then(|d| d.get("decision_id")).and_then(Value::as_str).unwrap_or("");
    let run_id = text(link.get("run_id"));
    let recomputed_link = run_id.as_deref().map(|run| {
        prefixed(&link_digest(
            decision_id,
            run,
            text(link.get("router_request_digest")).as_deref().map(unprefixed),
            text(link.get("router_result_digest")).as_deref().map(unprefixed),
        ))
    });
    checks.push(check(
        "control_router_link_recomputed",
        text(link.get("control_router_link_digest")),
        recomputed_link,
        "the link digest recomputed from the decision id, run id and the run's request and result digests",
    ));
    let router_run = if embedded {
        text(router.get("bundle").and_then(|b| b.get("run_id")))
    } else {
        text(router.get("ref").and_then(|r| r.get("run_id")))
    };
    checks.push(check(
        "router_run_id_match",
        run_id,
        router_run,
        "the router section names the run the control bundle links to",
    ));
    PackageReport::new(checks)
}
