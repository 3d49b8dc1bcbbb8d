//! Interoperability with the standard Python tooling: securesystemslib verifies our DSSE
//! envelopes with our keyids and rejects a tampered payload; our verifier accepts
//! envelopes securesystemslib signs (standard and URL-safe base64); jsonschema validates
//! receipts against our published schemas. `.ci/run` creates the virtualenv and sets
//! `ATTEST_INTEROP_PYTHON`; in CI a missing interpreter is a failure, not a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::context::TestContext;

pub(crate) fn python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ATTEST_INTEROP_PYTHON") {
        return Some(PathBuf::from(path));
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop-venv/bin/python");
    if local.exists() {
        return Some(local);
    }
    crate::context::skip_without("a Python with securesystemslib (ATTEST_INTEROP_PYTHON, set by .ci/run)");
    None
}

fn script(python: &Path, args: &[&str], cwd: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/securesystemslib_check.py");
    let output = Command::new(python).arg(script).args(args).current_dir(cwd).output().unwrap();
    assert!(
        output.status.success(),
        "python {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn securesystemslib_and_attest_verify_each_others_envelopes() {
    let Some(python) = python() else { return };
    let ctx = TestContext::new().pipeline(
        "version: \"0.1\"\nattestation: { sign_all_steps: true }\nsteps:\n  a: { run: \"echo a > a.txt\", inputs: [], outputs: [a.txt] }\n  b: { run: \"cat a.txt > b.txt\", inputs: [a.txt], outputs: [b.txt], needs: [a] }\n",
    );
    let generated = ctx.run(&["keys", "generate", "--format", "json"]);
    let key: Value = serde_json::from_str(&generated.success().stdout).unwrap();
    ctx.run(&["run", "--sign"]).success();
    let receipt = std::fs::read_dir(ctx.root().join(".attest/receipts")).unwrap().next().unwrap().unwrap().path();
    let receipt = receipt.to_str().unwrap();

    let out = script(
        &python,
        &["verify", receipt, key["public_key"].as_str().unwrap(), key["keyid"].as_str().unwrap()],
        ctx.root(),
    );
    assert!(out.contains("verified 3 envelopes; tampered payload rejected"), "{out}");
    let out = script(
        &python,
        &["schema", &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas").display().to_string(), receipt],
        ctx.root(),
    );
    assert!(out.contains("3 envelopes and statements valid"), "{out}");

    for mode in ["standard", "urlsafe"] {
        let file = format!("{mode}.intoto.jsonl");
        script(&python, &["sign", receipt, key["private_key"].as_str().unwrap(), &file, mode], ctx.root());
        // Line 1 only, so the step chain is not in question here; the signature is.
        let outcome = ctx.run(&["verify", &file, "--format", "json"]);
        let report: Value = serde_json::from_str(&outcome.stdout).unwrap();
        let signature = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "signature").unwrap();
        assert_eq!(signature["status"], "pass", "{mode}: {report}");
    }
}
