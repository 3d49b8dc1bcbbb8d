//! Receipts end to end: signed and unsigned runs, `verify` (human and JSON), tampering
//! with files, keys and trust, secrets, scanning, per-step statements and upstream checks.

use std::path::PathBuf;

use serde_json::Value;

use crate::context::{Outcome, TestContext};

const PIPELINE: &str = r#"version: "0.1"
name: receipts
steps:
  gen:
    run: "mkdir -p out && cat src/in.txt > out/gen.txt"
    inputs: [src/in.txt]
    outputs: [out/gen.txt]
  use:
    run: "cat out/gen.txt out/gen.txt > out/use.txt"
    inputs: [out/gen.txt]
    outputs: [out/use.txt]
    needs: [gen]
"#;

fn workspace(pipeline: &str) -> TestContext {
    let ctx = TestContext::new().pipeline(pipeline);
    ctx.write("src/in.txt", "input\n");
    ctx
}

/// The receipts written so far, oldest first.
fn receipts(ctx: &TestContext) -> Vec<PathBuf> {
    attest_receipt::list_receipts(&ctx.root().join(".attest/receipts")).unwrap()
}

fn latest(ctx: &TestContext) -> String {
    receipts(ctx).pop().expect("a receipt").display().to_string()
}

fn verify_json(ctx: &TestContext, extra: &[&str]) -> (i32, Value) {
    let receipt = latest(ctx);
    let mut args = vec!["verify", receipt.as_str(), "--format", "json"];
    args.extend_from_slice(extra);
    let outcome = ctx.run(&args);
    let report: Value = serde_json::from_str(&outcome.stdout).unwrap_or_else(|e| panic!("{e}\n{}", outcome.snapshot()));
    (outcome.code, report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}"))
}

fn failed_checks(report: &Value) -> Vec<String> {
    let mut names: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    names.dedup();
    names
}

pub(crate) fn decoded_statements(path: &str) -> Vec<Value> {
    use base64::Engine;
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let envelope: Value = serde_json::from_str(line).unwrap();
            let payload =
                base64::engine::general_purpose::STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
            serde_json::from_slice(&payload).unwrap()
        })
        .collect()
}

#[test]
fn a_signed_run_verifies_and_every_check_is_reported() {
    let ctx = workspace(PIPELINE);
    let run = ctx.run(&["run", "--sign"]);
    run.success();
    assert!(run.stderr.contains("Generated a signing key: .attest/keys/"), "{}", run.stderr);
    assert!(run.stderr.contains("Receipt: .attest/receipts/"), "{}", run.stderr);
    let name = receipts(&ctx)[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(regex::Regex::new(r"^\d{8}T\d{6}Z-[0-9a-f]{16}\.intoto\.jsonl$").unwrap().is_match(&name), "{name}");

    let human = ctx.run(&["verify", &latest(&ctx)]);
    human.success();
    for name in ["format", "payload_type", "signature", "trust", "revocation", "pipeline_digest", "inputs", "outputs"] {
        assert!(human.stderr.contains(&format!("[OK]   {name}")), "{name}:\n{}", human.stderr);
    }
    assert!(human.stderr.contains("Verified: 9 passed, 0 failed, 0 skipped"), "{}", human.stderr);

    let (code, report) = verify_json(&ctx, &["--trusted-only"]);
    assert_eq!(code, 0);
    assert_eq!(report["ok"], true);
    assert_eq!(report["failed"], 0);
    for check in report["checks"].as_array().unwrap() {
        for field in ["name", "ok", "expected", "actual", "detail"] {
            assert!(check.get(field).is_some(), "{field} missing in {check}");
        }
    }
    // --no-signatures reports the signature checks as skipped.
    let (code, report) = verify_json(&ctx, &["--no-signatures"]);
    assert_eq!(code, 0);
    assert_eq!(check(&report, "signature")["status"], "skip");
}

#[test]
fn tampered_files_fail_the_named_check_and_exit_1() {
    let ctx = workspace(PIPELINE);
    ctx.run(&["run", "--sign"]).success();
    ctx.write("out/use.txt", "forged\n");
    let (code, report) = verify_json(&ctx, &[]);
    assert_eq!(code, 1);
    assert_eq!(failed_checks(&report), ["outputs"]);
    assert!(check(&report, "outputs")["detail"].as_str().unwrap().contains("out/use.txt: recorded sha256:"));

    ctx.write("src/in.txt", "edited\n");
    let (_, report) = verify_json(&ctx, &[]);
    assert_eq!(failed_checks(&report), ["inputs", "outputs"]);

    let human = ctx.run(&["verify", &latest(&ctx)]);
    assert_eq!(human.code, 1);
    assert!(human.stderr.contains("[FAIL] inputs"), "{}", human.stderr);
    assert!(human.stderr.contains("src/in.txt: recorded blake3:"), "{}", human.stderr);
    assert!(human.stderr.contains("NOT verified"), "{}", human.stderr);

    // Against a pristine checkout (`--workspace`) the same receipt verifies.
    let pristine = workspace(PIPELINE);
    pristine.run(&["run"]).success();
    std::fs::create_dir_all(pristine.root().join(".attest/trust")).unwrap();
    let receipt = latest(&ctx);
    let outcome = ctx.run(&["verify", &receipt, "--workspace", pristine.root().to_str().unwrap(), "--no-signatures"]);
    outcome.success();
}

#[test]
fn unreadable_receipts_exit_2() {
    let ctx = workspace(PIPELINE);
    ctx.write("empty.intoto.jsonl", "");
    assert_eq!(ctx.run(&["verify", "empty.intoto.jsonl"]).code, 2);
    assert_eq!(ctx.run(&["verify", "missing.intoto.jsonl"]).code, 2);
    ctx.write("garbage.intoto.jsonl", "not json\n");
    let outcome = ctx.run(&["verify", "garbage.intoto.jsonl", "--format", "json"]);
    assert_eq!(outcome.code, 1, "{}", outcome.snapshot());
}

#[test]
fn unsigned_runs_still_write_a_receipt_that_fails_signature_checks() {
    let ctx = workspace(PIPELINE);
    let run = ctx.run(&["run"]);
    assert!(run.success().stderr.contains("(unsigned; `attest run --sign` signs it)"));
    let (code, report) = verify_json(&ctx, &[]);
    assert_eq!(code, 1);
    assert_eq!(failed_checks(&report), ["signature"]);
    let (code, _) = verify_json(&ctx, &["--no-signatures"]);
    assert_eq!(code, 0);
    let line: Value =
        serde_json::from_str(std::fs::read_to_string(latest(&ctx)).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(line["signatures"], serde_json::json!([]));
    assert_eq!(line["payloadType"], "application/vnd.in-toto+json");
}

#[test]
fn the_ci_key_signs_never_leaks_and_trust_is_explicit() {
    let ctx = workspace(PIPELINE);
    let keygen = TestContext::new();
    let generated = keygen.run(&["keys", "generate", "--format", "json"]);
    let key: Value = serde_json::from_str(&generated.success().stdout).unwrap();
    let private_pem = std::fs::read_to_string(key["private_key"].as_str().unwrap()).unwrap();
    let secret_line = private_pem.lines().nth(1).unwrap().to_owned();

    let mut command = ctx.command(&["run", "-v", "--format", "json"]);
    command.env("ATTEST_SIGNING_KEY", &private_pem);
    let run = ctx.run_command(command);
    run.success();
    let event: Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(event["event"], "receipt");
    assert_eq!(event["keyid"], key["keyid"]);
    for text in [&run.stdout, &run.stderr, &std::fs::read_to_string(latest(&ctx)).unwrap()] {
        assert!(!text.contains(&secret_line), "the private key leaked");
    }
    assert!(!ctx.exists(".attest/keys"), "a CI key is not copied into the workspace");

    // Valid signature by a key this workspace does not trust: a warning, or a failure with --trusted-only.
    let (code, report) = verify_json(&ctx, &[]);
    assert_eq!(code, 0);
    assert_eq!(check(&report, "trust")["status"], "warn");
    let (code, report) = verify_json(&ctx, &["--trusted-only"]);
    assert_eq!(code, 1);
    assert_eq!(failed_checks(&report), ["trust"]);

    // Export from the key's workspace, trust here: now it passes.
    let exported = keygen.run(&["keys", "export", &key["keyid"].as_str().unwrap()[..8]]);
    ctx.write("ci.pub", &exported.success().stdout);
    ctx.run(&["keys", "trust", "ci.pub", "--name", "ci"]).success();
    let (code, _) = verify_json(&ctx, &["--trusted-only"]);
    assert_eq!(code, 0);
    let listed = ctx.run(&["keys", "list", "--trusted", "--format", "json"]);
    let listed: Value = serde_json::from_str(&listed.success().stdout).unwrap();
    assert_eq!(listed[0]["keyid"], key["keyid"]);
    assert_eq!(listed[0]["name"], "ci");

    // A bad key in the variable is a clear error that does not echo it.
    let mut command = ctx.command(&["run"]);
    command.env("ATTEST_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
    let bad = ctx.run_command(command);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("ATTEST_SIGNING_KEY does not hold an Ed25519 private key"), "{}", bad.stderr);
    assert!(!bad.stderr.contains("bm90IGEga2V5"));
}

#[test]
fn revoked_keys_warn_for_old_receipts_and_fail_new_ones() {
    let ctx = workspace(PIPELINE);
    ctx.run(&["run", "--sign"]).success();
    let old = latest(&ctx);
    let keys: Value = serde_json::from_str(&ctx.run(&["keys", "list", "--format", "json"]).stdout).unwrap();
    let keyid = keys[0]["keyid"].as_str().unwrap().to_owned();
    ctx.run(&["keys", "revoke", &keyid[..10], "--reason", "laptop lost"]).success();
    let outcome = ctx.run(&["verify", &old, "--format", "json"]);
    let report: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(outcome.code, 0);
    assert_eq!(check(&report, "revocation")["status"], "warn");
    std::thread::sleep(std::time::Duration::from_millis(20));
    ctx.run(&["run", "--sign"]).success();
    let (code, report) = verify_json(&ctx, &[]);
    assert_eq!(code, 1);
    assert_eq!(failed_checks(&report), ["revocation"]);
    assert!(check(&report, "revocation")["detail"].as_str().unwrap().contains("laptop lost"));
}

#[test]
fn sign_all_steps_writes_a_statement_per_step_and_tampering_breaks_the_chain() {
    let pipeline = PIPELINE.replace("name: receipts\n", "name: receipts\nattestation: { sign_all_steps: true }\n");
    let ctx = workspace(&pipeline);
    ctx.run(&["run", "--sign"]).success();
    let receipt = latest(&ctx);
    let statements = decoded_statements(&receipt);
    assert_eq!(statements.len(), 3);
    let scopes: Vec<&Value> =
        statements.iter().map(|s| &s["predicate"]["buildDefinition"]["internalParameters"]["run"]["scope"]).collect();
    assert_eq!(scopes, ["run", "step", "step"]);
    assert_eq!(verify_json(&ctx, &[]).0, 0);
    // Second run: cached steps get statements too.
    ctx.run(&["run", "--sign"]).success();
    assert_eq!(decoded_statements(&latest(&ctx)).len(), 3);

    let text = std::fs::read_to_string(&receipt).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    ctx.write("removed.intoto.jsonl", &format!("{}\n{}\n", lines[0], lines[2]));
    ctx.write("reordered.intoto.jsonl", &format!("{}\n{}\n{}\n", lines[0], lines[2], lines[1]));
    for file in ["removed.intoto.jsonl", "reordered.intoto.jsonl"] {
        let outcome = ctx.run(&["verify", file, "--format", "json"]);
        let report: Value = serde_json::from_str(&outcome.stdout).unwrap();
        assert_eq!(failed_checks(&report), ["step_chain"], "{file}");
    }
}

#[test]
fn the_classic_view_has_every_field_and_list_shows_runs() {
    let ctx = workspace(PIPELINE);
    ctx.run(&["run", "--sign"]).success();
    ctx.run(&["run", "--sign"]).success();
    let yaml = ctx.run(&["receipt", "show", "--format", "yaml"]);
    let view: Value = serde_saphyr::from_str(&yaml.success().stdout).unwrap();
    for field in [
        "pipeline_hash",
        "timestamp",
        "total_duration_secs",
        "attest_version",
        "steps",
        "environment",
        "signature",
        "signer_public_key",
    ] {
        assert!(!view[field].is_null(), "{field} missing:\n{}", yaml.stdout);
    }
    let step = &view["steps"][1];
    assert_eq!(step["name"], "use");
    assert_eq!(step["cache_hit"], true);
    assert_eq!(step["exit_code"], 0);
    assert_eq!(step["command"], "cat out/gen.txt out/gen.txt > out/use.txt");
    assert_eq!(step["inputs"][0]["path"], "out/gen.txt");
    assert!(step["inputs"][0]["hash"].as_str().unwrap().starts_with("blake3:"));
    assert!(step["outputs"][0]["hash"].as_str().unwrap().starts_with("sha256:"));
    assert!(view["signer_public_key"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));

    let list = ctx.run(&["receipt", "list", "--format", "json"]);
    let list: Value = serde_json::from_str(&list.success().stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["status"], "succeeded");
    let human = ctx.run(&["receipt", "list"]);
    assert_eq!(human.success().stderr.lines().count(), 2);

    let newest = latest(&ctx);
    let dry = ctx.run(&["receipt", "prune", "--keep", "1", "--dry-run"]);
    assert!(dry.success().stderr.contains("Would delete 1 receipts"), "{}", dry.stderr);
    assert_eq!(receipts(&ctx).len(), 2);
    ctx.run(&["receipt", "prune", "--keep", "1"]).success();
    assert_eq!(receipts(&ctx), [PathBuf::from(newest)]);
    assert_eq!(ctx.run(&["receipt", "prune"]).code, 2, "prune needs --keep or --older-than");
}

#[test]
fn the_environment_snapshot_records_git_lock_files_and_tools() {
    let pipeline =
        PIPELINE.replace("    outputs: [out/gen.txt]\n", "    outputs: [out/gen.txt]\n    tools: [sh, tar]\n");
    let ctx = workspace(&pipeline);
    ctx.write("Cargo.lock", "# lock\n");
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(ctx.root())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "attest.yaml", "src", "Cargo.lock"]);
    git(&["commit", "-q", "-m", "init"]);
    ctx.run(&["run"]).success();
    let environment =
        &decoded_statements(&latest(&ctx))[0]["predicate"]["buildDefinition"]["internalParameters"]["environment"];
    assert_eq!(environment["os"], "linux");
    assert_eq!(environment["git"]["branch"], "main");
    assert_eq!(environment["git"]["dirty"], false);
    assert_eq!(environment["git"]["commit"].as_str().unwrap().len(), 40);
    assert_eq!(environment["lock_files"]["Cargo.lock"].as_str().unwrap().len(), 64);
    assert!(environment["tools"]["tar"].as_str().unwrap().contains("tar"), "{environment}");
    ctx.write("src/in.txt", "dirty\n");
    ctx.run(&["run"]).success();
    let environment =
        &decoded_statements(&latest(&ctx))[0]["predicate"]["buildDefinition"]["internalParameters"]["environment"];
    assert_eq!(environment["git"]["dirty"], true);
}

const SECRETS: &str = r#"version: "0.1"
cache: { compression: false }
secrets: [DEPLOY_TOKEN]
steps:
  deploy:
    run: "echo deploying with $DEPLOY_TOKEN; echo AKIA$(echo IOSFODNN7EXAMPLE); echo done > out.txt"
    inputs: []
    outputs: [out.txt]
"#;

fn run_with_token(ctx: &TestContext, token: &str, args: &[&str]) -> Outcome {
    let mut command = ctx.command(args);
    command.env("DEPLOY_TOKEN", token);
    ctx.run_command(command)
}

/// Every file below `dir`, as bytes.
fn all_files(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else {
            files.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    files
}

#[test]
fn secrets_are_redacted_everywhere_and_hashed_into_the_key() {
    let ctx = TestContext::new().pipeline(SECRETS);
    let token = "tok-9f8e7d6c5b4a3210";
    let run = run_with_token(&ctx, token, &["run", "-v"]);
    run.success();
    assert!(run.stderr.contains("deploying with [REDACTED:DEPLOY_TOKEN]"), "{}", run.stderr);
    assert!(run.stderr.contains("[REDACTED:aws-access-key-id]"), "{}", run.stderr);
    for (path, bytes) in all_files(&ctx.root().join(".attest")) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(token), "the secret is in {}", path.display());
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "the credential is in {}", path.display());
    }
    let statement = &decoded_statements(&latest(&ctx))[0];
    let env = &statement["predicate"]["buildDefinition"]["internalParameters"]["steps"][0]["env"];
    assert_eq!(env["DEPLOY_TOKEN"], "[REDACTED:DEPLOY_TOKEN]");
    assert!(
        statement["predicate"]["runDetails"]["byproducts"][0]["name"] == "log/deploy",
        "the log is referenced by digest: {statement}"
    );

    // Same value: a hit. Another value: a miss that names the secret, not its value.
    assert!(run_with_token(&ctx, token, &["run"]).stderr.contains("cache hit"));
    let changed = run_with_token(&ctx, "tok-0000000000000000", &["run"]);
    assert!(changed.stderr.contains("cache miss (secret changed: DEPLOY_TOKEN)"), "{}", changed.stderr);
}

#[test]
fn scan_reports_credentials_and_scan_outputs_fails_the_step() {
    let ctx = TestContext::new();
    ctx.write("clean/readme.txt", "nothing to see\n");
    ctx.write("leaky/config.env", "AWS_KEY=AKIAIOSFODNN7EXAMPLE\npassword = \"correct-horse-battery\"\n");
    assert_eq!(ctx.run(&["scan", "clean"]).code, 0);
    let outcome = ctx.run(&["scan", "clean", "leaky", "--format", "json"]);
    assert_eq!(outcome.code, 1);
    let report: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(report["files"], 2);
    assert_eq!(report["high"], 1);
    let rules: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["aws-access-key-id", "generic-assignment"]);
    assert!(!outcome.stdout.contains("AKIAIOSFODNN7EXAMPLE"));
    let human = ctx.run(&["scan", "leaky"]);
    assert!(human.stderr.contains("leaky/config.env:1: high: aws-access-key-id"), "{}", human.stderr);

    let scanning = TestContext::new().pipeline(
        "version: \"0.1\"\nattestation: { scan_outputs: true }\nsteps:\n  leak:\n    run: \"printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\\\\nabc\\\\n-----END OPENSSH PRIVATE KEY-----\\\\n' > id\"\n    inputs: []\n    outputs: [id]\n",
    );
    let run = scanning.run(&["run"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("output id line 1 holds a credential (private-key)"), "{}", run.stderr);
}

#[test]
fn verify_dependencies_fails_a_step_whose_upstream_output_changed() {
    let ctx = workspace(
        r#"version: "0.1"
attestation: { verify_dependencies: true }
steps:
  gen: { run: "mkdir -p out && echo gen > out/gen.txt", inputs: [], outputs: [out/gen.txt] }
  meddle: { run: "echo meddled >> out/gen.txt && touch out/m", inputs: [], outputs: [out/m], needs: [gen] }
  use: { run: "cat out/gen.txt > out/use.txt", inputs: [], outputs: [out/use.txt], needs: [gen, meddle] }
"#,
    );
    let run = ctx.run(&["run", "-j", "1"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stderr.contains("[FAIL] use (")
            && run.stderr.contains("upstream output changed: out/gen.txt (recorded blake3:"),
        "{}",
        run.stderr
    );
}

#[test]
fn keys_are_0600_pem_that_openssl_reads_and_openssl_keys_sign() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = workspace(PIPELINE);
    let generated = ctx.run(&["keys", "generate", "--name", "release", "--format", "json"]);
    let key: Value = serde_json::from_str(&generated.success().stdout).unwrap();
    let private = key["private_key"].as_str().unwrap();
    assert_eq!(std::fs::metadata(private).unwrap().permissions().mode() & 0o777, 0o600);
    let openssl = |args: &[&str]| {
        let output = std::process::Command::new("openssl").args(args).current_dir(ctx.root()).output().unwrap();
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    // openssl derives the same public key from our private key, and reads our public key.
    let public = std::fs::read_to_string(key["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(openssl(&["pkey", "-in", private, "-pubout"]), public);
    assert!(
        openssl(&["pkey", "-pubin", "-in", key["public_key"].as_str().unwrap(), "-text", "-noout"]).contains("ED25519")
    );
    // A key made by openssl signs our receipts.
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", "openssl.pem"]);
    std::fs::set_permissions(ctx.root().join("openssl.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
    ctx.run(&["run", "--key", "openssl.pem"]).success();
    let (_, report) = verify_json(&ctx, &[]);
    assert_eq!(check(&report, "signature")["status"], "pass", "{report}");
    // Not a key: a clear error.
    ctx.write("not-a-key.pem", "hello\n");
    let bad = ctx.run(&["run", "--key", "not-a-key.pem"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("is not an Ed25519 private key in PKCS#8 PEM format"), "{}", bad.stderr);
}
