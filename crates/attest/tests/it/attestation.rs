//! `attest audit package attest` and `attest audit package verify --attestation`: the
//! attestation overlay v0.7 over a package exported from a real, executed decision, checked
//! by attest and by an independent verifier (`tests/interop/attestation_v07.py`, Ed25519
//! from Python's `cryptography`), which also signs one that attest must accept.

use std::path::Path;
use std::process::Command;

use insta::assert_snapshot;
use serde_json::Value;

use crate::context::{Outcome, TestContext};
use crate::interop::python;

const PIPELINE: &str = r#"version: "0.1"
name: release
steps:
  build: { run: "mkdir -p out && echo built > out/app", inputs: [], outputs: [out/app] }
"#;

fn json(out: &Outcome) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.snapshot()))
}

/// A workspace with an executed decision exported to `p.json`, and a trusted key; returns
/// the private key's path.
fn exported() -> (TestContext, String) {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.run(&["template", "create", "rel", "--min-approvals", "1", "--allowed-modes", "dry_run,apply"]).success();
    let created =
        ctx.run(&["decision", "create", "--goal", "g", "--mode", "apply", "--template", "rel", "--format", "json"]);
    let id = json(created.success())["decision_id"].as_str().unwrap().to_owned();
    ctx.run(&["approve", &id, "--as", "alice"]).success();
    ctx.run(&["decision", "execute", &id]).success();
    ctx.run(&["audit", "package", "export", &id, "-o", "p.json"]).success();
    let key =
        json(ctx.run(&["keys", "generate", "--format", "json"]).success())["private_key"].as_str().unwrap().to_owned();
    (ctx, key)
}

fn failed(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

fn verify(ctx: &TestContext, attestation: &str) -> (i32, Value) {
    let out = ctx.run(&["audit", "package", "verify", "p.json", "--attestation", attestation, "--format", "json"]);
    (out.code, json(&out))
}

/// Runs `attestation_v07.py` and returns its exit code and stdout.
fn script(python: &Path, args: &[&str], cwd: &Path) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/attestation_v07.py");
    let output = Command::new(python).arg(script).args(args).current_dir(cwd).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.code().is_some_and(|c| c <= 1), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap(), stdout)
}

#[test]
fn attest_signs_a_separate_statement_that_verify_and_python_accept() {
    let (ctx, key) = exported();
    let package = ctx.read("p.json");
    let out = ctx.run(&[
        "audit",
        "package",
        "attest",
        "p.json",
        "--claim",
        "released",
        "--claim",
        "controls-reviewed",
        "--key",
        &key,
        "--as",
        "release-bot",
        "--role",
        "release-manager",
    ]);
    out.success();
    assert_eq!(ctx.read("p.json"), package, "the package is unchanged");
    let attestation: Value = serde_json::from_str(&ctx.read("p.attestation.json")).unwrap();
    let binding: Value = serde_json::from_str(&package).unwrap();
    assert_eq!(attestation["payload"]["binding_digest"], binding["integrity"]["binding_digest"]);
    assert_eq!(attestation["payload"]["claims"], serde_json::json!(["controls-reviewed", "released"]));
    assert_eq!(attestation["payload"]["attestor"]["id"], "release-bot");
    assert_eq!(attestation["meta"]["role"], "release-manager");
    assert!(out.stderr.contains(attestation["attestation_id"].as_str().unwrap()), "{}", out.snapshot());

    let (code, report) = verify(&ctx, "p.attestation.json");
    assert_eq!(code, 0, "{report}");
    let names: Vec<&str> = report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names[names.len() - 6..],
        [
            "attestation.signature_valid",
            "attestation.attestation_version",
            "attestation.claims_non_empty",
            "attestation.binding_digest_format",
            "attestation.binding_digest_match",
            "attestation.attestor_trusted",
        ]
    );
    // Without --attestation, the report is the package's alone.
    let plain = json(ctx.run(&["audit", "package", "verify", "p.json", "--format", "json"]).success());
    assert_eq!(plain["total"].as_u64().unwrap() + 6, report["total"].as_u64().unwrap());

    let Some(python) = python() else { return };
    let (code, out) = script(&python, &["verify", "p.attestation.json"], ctx.root());
    assert_eq!(code, 0, "{out}");
    let checked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(checked["attestation_id"], attestation["attestation_id"]);

    // The other way round: Python signs, attest verifies (same key, so it is trusted here).
    let (code, out) = script(&python, &["sign", "p.json", &key, "py.json", "python", "released"], ctx.root());
    assert_eq!(code, 0, "{out}");
    let (code, report) = verify(&ctx, "py.json");
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_tampered_attestation_fails_its_named_check() {
    let (ctx, key) = exported();
    ctx.run(&["audit", "package", "attest", "p.json", "--claim", "released", "--key", &key, "-o", "a.json"]).success();
    let mut attestation: Value = serde_json::from_str(&ctx.read("a.json")).unwrap();
    attestation["payload"]["claims"][0] = "security-reviewed".into();
    ctx.write("tampered.json", &serde_json::to_string_pretty(&attestation).unwrap());

    let (code, report) = verify(&ctx, "tampered.json");
    assert_eq!(code, 1);
    assert_eq!(failed(&report), ["attestation.signature_valid"]);
    let out = ctx.run(&["audit", "package", "verify", "p.json", "--attestation", "tampered.json"]);
    assert_snapshot!(out.snapshot(), @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    Verifying audit package p.json and its attestation tampered.json
    [OK]   binding_digest                     the binding digest recomputed over package_version and the three binding digests
    [OK]   control_bundle_digest              the control bundle's digest recomputed over its decision, events, template snapshot and router link
    [OK]   binding_control_match              the binding names the control bundle's digest
    [OK]   binding_router_match               the binding names the router section's digest
    [OK]   binding_link_match                 the binding names the control bundle's link to the run
    [OK]   control_router_link_recomputed     the link digest recomputed from the decision id, run id and the run's request and result digests
    [OK]   router_run_id_match                the router section names the run the control bundle links to
    [FAIL] attestation.signature_valid        the Ed25519 signature over the canonical payload
                                              expected (missing), found (missing)
    [OK]   attestation.attestation_version    the attestation version is one this attest reads
    [OK]   attestation.claims_non_empty       at least one claim
    [OK]   attestation.binding_digest_format  the binding digest starts with `sha256:`
    [OK]   attestation.binding_digest_match   the attestation names this package's binding digest
    [OK]   attestation.attestor_trusted       the attestor's key is trusted and not revoked
    NOT verified: 12 of 13 checks passed
    ");

    // The version is checked, not signed; an empty claim list and an unprefixed digest also
    // change the signed bytes.
    for (field, value, expected) in [
        ("attestation_version", Value::from("0.8"), vec!["attestation.attestation_version"]),
        (
            "claims",
            Value::from(Vec::<String>::new()),
            vec!["attestation.signature_valid", "attestation.claims_non_empty"],
        ),
    ] {
        let mut changed: Value = serde_json::from_str(&ctx.read("a.json")).unwrap();
        changed["payload"][field] = value;
        ctx.write("changed.json", &changed.to_string());
        let (code, report) = verify(&ctx, "changed.json");
        assert_eq!((code, failed(&report)), (1, expected), "{field}");
    }

    if let Some(python) = python() {
        let (code, out) = script(&python, &["verify", "tampered.json"], ctx.root());
        assert_eq!(code, 1, "the independent verifier rejects it too: {out}");
    }
}

#[test]
fn another_package_or_an_untrusted_key_fails_attests_checks() {
    let (ctx, key) = exported();
    ctx.run(&["audit", "package", "attest", "p.json", "--claim", "released", "--key", &key, "-o", "a.json"]).success();

    // The same attestation against another workspace's package, where the key is not trusted.
    let (other, _) = exported();
    std::fs::copy(ctx.root().join("a.json"), other.root().join("a.json")).unwrap();
    let (code, report) = verify(&other, "a.json");
    assert_eq!(code, 1);
    assert_eq!(failed(&report), ["attestation.binding_digest_match", "attestation.attestor_trusted"]);

    // Revoked after it signed: still valid (as for receipts).
    let keyid = json(&ctx.run(&["keys", "list", "--format", "json"]))
        .as_array()
        .unwrap()
        .iter()
        .find(|k| key.contains(k["keyid"].as_str().unwrap()))
        .unwrap()["keyid"]
        .as_str()
        .unwrap()
        .to_owned();
    ctx.run(&["keys", "revoke", &keyid]).success();
    let (code, report) = verify(&ctx, "a.json");
    assert_eq!(code, 0, "{report}");
    // Signed after it was revoked: fails.
    ctx.run(&["audit", "package", "attest", "p.json", "--claim", "released", "--key", &key, "-o", "late.json"])
        .success();
    let (code, report) = verify(&ctx, "late.json");
    assert_eq!((code, failed(&report)), (1, vec!["attestation.attestor_trusted"]));
}

#[test]
fn attest_refuses_a_package_that_does_not_verify() {
    let (ctx, key) = exported();
    let mut package: Value = serde_json::from_str(&ctx.read("p.json")).unwrap();
    package["binding"]["router_digest"] = format!("sha256:{}", "0".repeat(64)).into();
    ctx.write("p.json", &package.to_string());
    let out = ctx.run(&["audit", "package", "attest", "p.json", "--claim", "released", "--key", &key]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(!ctx.exists("p.attestation.json"));
    assert_snapshot!(out.snapshot(), @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: `p.json` does not verify (binding_digest, binding_router_match failed): attest will not attest it

    hint: see every check with `attest audit package verify p.json`
    ");
}
