//! Governance end to end with the real binary: templates, decisions, N-of-M approvals
//! (signed and not), every execute refusal without side effects, execution linked to a
//! signed receipt, audit packages checked by an independent Python implementation of the
//! v0.6 digests, bundles, and the hash-chained log against edits with SQLite.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::context::{Outcome, TestContext};

const PIPELINE: &str = r#"version: "0.1"
name: release
steps:
  build: { run: "mkdir -p out && echo built > out/app", inputs: [src.txt], outputs: [out/app] }
  test: { run: "test -s out/app", inputs: [out/app], needs: [build] }
  publish: { run: "mkdir -p dist && cp out/app dist/app", inputs: [out/app], outputs: [dist/app], needs: [test] }
"#;

fn workspace() -> TestContext {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src.txt", "v1\n");
    ctx
}

fn json(out: &Outcome) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.snapshot()))
}

fn events(ctx: &TestContext) -> u64 {
    json(ctx.run(&["audit", "verify-log", "--format", "json"]).success())["events"].as_u64().unwrap()
}

fn create(ctx: &TestContext, args: &[&str]) -> String {
    let mut all = vec!["decision", "create", "--format", "json"];
    all.extend_from_slice(args);
    let out = ctx.run(&all);
    json(out.success())["decision_id"].as_str().unwrap().to_owned()
}

fn refusal(ctx: &TestContext, id: &str) -> String {
    let before = events(ctx);
    let out = ctx.run(&["decision", "execute", id, "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert_eq!(events(ctx), before, "a refusal writes nothing");
    json(&out)["refusal"]["code"].as_str().unwrap().to_owned()
}

fn python_check(package: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/audit_package_v06.py");
    let output = Command::new("python3").arg(script).arg(package).output().expect("python3 is installed");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn two_approvals_then_execute_then_an_audit_package_both_implementations_verify() {
    let ctx = workspace();
    ctx.run(&[
        "template",
        "create",
        "prod-release",
        "--min-approvals",
        "2",
        "--allowed-modes",
        "dry_run,apply",
        "--max-steps",
        "50",
        "--label",
        "prod",
    ])
    .success();
    let id = create(&ctx, &["--goal", "release 1.4.0", "--mode", "apply", "--template", "prod-release"]);
    assert_eq!(refusal(&ctx, &id), "MISSING_APPROVALS");
    ctx.run(&["approve", &id[..8], "--as", "release-manager", "--comment", "lgtm", "--expires", "24h"]).success();
    let again = ctx.run(&["approve", &id, "--as", "release-manager"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("ALREADY_APPROVED"), "{}", again.stderr);
    assert_eq!(refusal(&ctx, &id), "MISSING_APPROVALS");
    ctx.run(&["approve", &id, "--as", "security-lead"]).success();
    ctx.run(&["approve", "--revoke", &id, "--as", "security-lead", "--reason", "found a bug"]).success();
    assert_eq!(refusal(&ctx, &id), "MISSING_APPROVALS");
    ctx.run(&["approve", &id, "--as", "security-lead"]).success();
    assert!(!ctx.exists("dist/app") && !ctx.exists(".attest/receipts"), "refusals ran nothing");

    let out = ctx.run(&["decision", "execute", &id, "--format", "json"]);
    let executed = json(out.success());
    assert_eq!(executed["executed"], true);
    assert_eq!(ctx.read("dist/app"), "built\n");
    let receipt = ctx.root().join(executed["receipt"].as_str().unwrap());
    let digest = attest_hash::sha256_file(&receipt).unwrap().hex();
    assert_eq!(executed["receipt_sha256"], digest.as_str());
    ctx.run(&["verify", receipt.to_str().unwrap()]).success();
    assert_eq!(refusal(&ctx, &id), "ALREADY_EXECUTED");
    assert_eq!(
        ctx.run(&["approve", "--revoke", &id, "--as", "security-lead"]).code,
        1,
        "no revocation after execution"
    );

    for (file, extra) in [("ref.audit.json", None), ("embedded.audit.json", Some("--embed"))] {
        let mut args = vec!["audit", "package", "export", &id, "-o", file];
        args.extend(extra);
        ctx.run(&args).success();
        let package: Value = serde_json::from_str(&ctx.read(file)).unwrap();
        let verified = json(ctx.run(&["audit", "package", "verify", file, "--format", "json"]).success());
        assert_eq!(verified["ok"], true, "{verified}");
        // The router side is the receipt: its invocation id and the SHA-256 of its bytes.
        assert_eq!(package["control_bundle"]["router_link"]["run_id"], executed["run_id"]);
        assert_eq!(package["binding"]["router_digest"], format!("sha256:{digest}").as_str());
        // A second implementation, from the spec, agrees on every digest.
        let independent = python_check(&ctx.root().join(file));
        assert_eq!(independent["binding_digest"], package["integrity"]["binding_digest"], "{file}");
        assert!(independent["matches"].as_object().unwrap().values().all(|v| v == true), "{independent}");
    }
    let embedded = json(&ctx.run(&["audit", "package", "verify", "embedded.audit.json", "--format", "json"]));
    let names: Vec<&str> = embedded["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"router_digest") && names.contains(&"receipt_digest") && names.contains(&"receipt_signatures"),
        "{names:?}"
    );

    // The embedded receipt changed: its digest check fails, and so does its signature.
    let mut package: Value = serde_json::from_str(&ctx.read("embedded.audit.json")).unwrap();
    let text =
        package["router"]["bundle"]["receipt"].as_str().unwrap().replacen("\"payload\":\"", "\"payload\":\"AAAA", 1);
    package["router"]["bundle"]["receipt"] = Value::from(text);
    ctx.write("tampered.audit.json", &package.to_string());
    let out = ctx.run(&["audit", "package", "verify", "tampered.audit.json", "--format", "json"]);
    assert_eq!(out.code, 1);
    let failed: Vec<String> = json(&out)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(failed, ["receipt_digest", "receipt_signatures"]);
}

#[test]
fn a_package_built_by_hand_from_the_spec_verifies_in_attest() {
    let ctx = workspace();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/audit_package_v06.py");
    for flag in ["--example", "--example-embedded"] {
        let file = ctx.root().join(format!("hand{flag}.json"));
        let status = Command::new("python3").arg(&script).arg(flag).arg(&file).output().unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        let out = ctx.run(&["audit", "package", "verify", file.to_str().unwrap(), "--format", "json"]);
        let report = json(&out);
        let failed: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["ok"] == false)
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        // Also the embedded one, whose router bundle is not an attest receipt: attest's
        // receipt checks apply only to attest receipts.
        assert!(failed.is_empty(), "{flag}: {report}");
    }
    // Another package version, or something that is not a package: a clear error.
    let mut package: Value = serde_json::from_str(&ctx.read("hand--example.json")).unwrap();
    package["package_version"] = Value::from("0.7");
    ctx.write("future.json", &package.to_string());
    let out = ctx.run(&["audit", "package", "verify", "future.json"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("package_version `0.7` is not supported"), "{}", out.stderr);
    ctx.write("truncated.json", &ctx.read("hand--example.json")[..100]);
    let out = ctx.run(&["audit", "package", "verify", "truncated.json"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is not JSON"), "{}", out.stderr);
}

#[test]
fn every_refusal_is_named_and_leaves_nothing_behind() {
    let ctx = workspace();
    ctx.run(&["template", "create", "small", "--min-approvals", "1", "--allowed-modes", "apply", "--max-steps", "2"])
        .success();
    let too_many = create(&ctx, &["--goal", "all steps", "--mode", "apply", "--template", "small"]);
    ctx.run(&["approve", &too_many, "--as", "alice"]).success();
    assert_eq!(refusal(&ctx, &too_many), "TOO_MANY_STEPS");
    assert!(!ctx.exists("dist/app"), "a refusal runs nothing");

    let expiring = create(&ctx, &["--goal", "expires", "--mode", "dry_run"]);
    ctx.run(&["approve", &expiring, "--as", "alice", "--expires", "1s"]).success();
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    assert_eq!(refusal(&ctx, &expiring), "APPROVAL_EXPIRED");

    let changed = create(&ctx, &["--goal", "pipeline changes", "--mode", "apply", "--steps", "build"]);
    ctx.run(&["approve", &changed, "--as", "alice"]).success();
    ctx.write("attest.yaml", &PIPELINE.replace("echo built", "echo rebuilt"));
    assert_eq!(refusal(&ctx, &changed), "PIPELINE_CHANGED");

    // Mode not allowed by the template: refused when the decision is made.
    let out =
        ctx.run(&["decision", "create", "--goal", "x", "--mode", "dry_run", "--template", "small", "--format", "json"]);
    assert_eq!(out.code, 1);
    assert_eq!(json(&out)["error_code"], "MODE_NOT_ALLOWED");
    // Unknown ids, templates, bad spans, past expiry: clear errors, nothing written.
    let before = events(&ctx);
    for (args, expect) in [
        (vec!["decision", "execute", "nope"], "DECISION_NOT_FOUND"),
        (vec!["approve", "nope", "--as", "a"], "DECISION_NOT_FOUND"),
        (vec!["decision", "create", "--goal", "x", "--template", "nope"], "TEMPLATE_NOT_FOUND"),
        (vec!["template", "create", "small"], "TEMPLATE_ALREADY_EXISTS"),
        (vec!["approve", &changed, "--as", "bob", "--expires", "soon"], "is not a duration"),
    ] {
        let out = ctx.run(&args);
        assert_ne!(out.code, 0, "{args:?}");
        assert!(out.stderr.contains(expect), "{args:?}: {}", out.stderr);
    }
    assert_eq!(events(&ctx), before);

    // A dry run executes the plan only and records it.
    let dry = create(&ctx, &["--goal", "plan", "--mode", "dry_run"]);
    ctx.run(&["approve", &dry, "--as", "alice"]).success();
    ctx.write("attest.yaml", PIPELINE);
    let dry2 = create(&ctx, &["--goal", "plan again", "--mode", "dry_run"]);
    ctx.run(&["approve", &dry2, "--as", "alice"]).success();
    let out = ctx.run(&["decision", "execute", &dry2, "--format", "json"]);
    assert_eq!(json(out.success())["mode"], "dry_run");
    assert!(!ctx.exists("dist/app"), "a dry run runs nothing");
    let shown = json(ctx.run(&["decision", "show", &dry2, "--format", "json"]).success());
    assert_eq!(shown["decision"]["status"], "completed");
}

#[test]
fn signed_approvals_count_only_with_a_trusted_key() {
    let ctx = workspace();
    let trusted = json(ctx.run(&["keys", "generate", "--format", "json"]).success());
    let trusted_key = PathBuf::from(trusted["private_key"].as_str().unwrap());
    let other = TestContext::new();
    let untrusted = json(other.run(&["keys", "generate", "--format", "json"]).success());
    let untrusted_key = PathBuf::from(untrusted["private_key"].as_str().unwrap());

    let id =
        create(&ctx, &["--goal", "signed", "--mode", "apply", "--min-approvals", "2", "--require-signed-approvals"]);
    ctx.run(&["approve", &id, "--as", "unsigned"]).success();
    ctx.run(&["approve", &id, "--as", "outsider", "--key", untrusted_key.to_str().unwrap()]).success();
    ctx.run(&["approve", &id, "--as", "lead", "--key", trusted_key.to_str().unwrap()]).success();
    let out = ctx.run(&["decision", "execute", &id, "--format", "json"]);
    let refused = json(&out);
    assert_eq!(refused["refusal"]["code"], "MISSING_APPROVALS", "{refused}");
    assert_eq!(refused["refusal"]["details"]["current"], 1, "only the trusted signature counts");
    let shown = ctx.run(&["decision", "show", &id]);
    assert!(shown.stderr.contains("signed by UNTRUSTED or invalid key"), "{}", shown.stderr);
    assert!(shown.stderr.contains("signed by trusted key"), "{}", shown.stderr);

    ctx.run(&["keys", "trust", untrusted["public_key"].as_str().unwrap()]).success();
    json(ctx.run(&["decision", "execute", &id, "--format", "json"]).success());
}

#[test]
fn an_edit_of_the_governance_log_with_sqlite_is_named_by_verify_log() {
    let ctx = workspace();
    let id = create(&ctx, &["--goal", "audit me", "--mode", "dry_run"]);
    ctx.run(&["approve", &id, "--as", "alice"]).success();
    ctx.run(&["approve", &id, "--as", "bob"]).success();
    ctx.run(&["audit", "verify-log"]).success();

    let db = rusqlite::Connection::open(ctx.root().join(".attest/attest.db")).unwrap();
    assert!(db.execute("UPDATE governance_events SET actor = 'mallory' WHERE seq = 2", []).is_err(), "append-only");
    db.execute_batch(
        "DROP TRIGGER governance_events_no_update; UPDATE governance_events SET actor = 'mallory' WHERE seq = 3;",
    )
    .unwrap();
    drop(db);
    let out = ctx.run(&["audit", "verify-log", "--format", "json"]);
    assert_eq!(out.code, 1);
    let report = json(&out);
    assert_eq!(report["first_break"]["seq"], 3, "{report}");
    let human = ctx.run(&["audit", "verify-log"]);
    assert!(human.stderr.contains("governance log broken at event 3"), "{}", human.stderr);
}

#[test]
fn bundles_round_trip_between_workspaces_and_corruption_changes_nothing() {
    let ctx = workspace();
    let id = create(&ctx, &["--goal", "move me", "--mode", "dry_run"]);
    ctx.run(&["approve", &id, "--as", "alice"]).success();
    ctx.run(&["decision", "export", &id, "-o", "bundle.json"]).success();
    let bundle: Value = serde_json::from_str(&ctx.read("bundle.json")).unwrap();

    let other = workspace();
    other.write("bundle.json", &bundle.to_string());
    let mut broken = bundle.clone();
    broken["events"][0]["payload"]["goal"] = Value::from("moved");
    other.write("broken.json", &broken.to_string());
    let out = other.run(&["decision", "import", "broken.json", "--format", "json"]);
    assert_eq!(json(&out)["error_code"], "INTEGRITY_MISMATCH");
    other.write("truncated.json", &bundle.to_string()[..200]);
    assert_eq!(
        json(&other.run(&["decision", "import", "truncated.json", "--format", "json"]))["error_code"],
        "BUNDLE_INVALID_SCHEMA"
    );
    assert_eq!(events(&other), 0, "nothing imported");

    json(other.run(&["decision", "import", "bundle.json", "--format", "json"]).success());
    other.run(&["decision", "export", &id, "-o", "again.json"]).success();
    let again: Value = serde_json::from_str(&other.read("again.json")).unwrap();
    assert_eq!(again["integrity"], bundle["integrity"], "the same digest after the round trip");
    assert_eq!(
        json(&other.run(&["decision", "import", "bundle.json", "--format", "json"]))["error_code"],
        "DECISION_EXISTS"
    );
    let renamed = json(
        other.run(&["decision", "import", "bundle.json", "--on-conflict", "new-id", "--format", "json"]).success(),
    );
    assert_ne!(renamed["imported"]["decision_id"], id.as_str());
    other.run(&["audit", "verify-log"]).success();
}
