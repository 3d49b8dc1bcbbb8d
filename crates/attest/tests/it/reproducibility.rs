//! Reproducibility checks end to end: a step that writes the time is caught, named and
//! explained; a reproducible one passes, also under --vary; the receipt records the claim
//! and `attest verify` reports it.

use serde_json::Value;

use crate::context::TestContext;

const PIPELINE: &str = r#"version: "0.1"
steps:
  stable: { run: "mkdir -p out && sort in.txt > out/sorted.txt", inputs: [in.txt], outputs: [out/sorted.txt] }
  stamped: { run: "mkdir -p out && (cat in.txt; date +%s%N) > out/stamped.txt", inputs: [in.txt], outputs: [out/stamped.txt] }
"#;

fn workspace(pipeline: &str) -> TestContext {
    let ctx = TestContext::new().pipeline(pipeline);
    ctx.write("in.txt", "b\na\n");
    ctx
}

fn receipt_steps(ctx: &TestContext) -> Vec<Value> {
    let receipt = attest_receipt::list_receipts(&ctx.root().join(".attest/receipts")).unwrap().pop().unwrap();
    let (_, statement) = attest_receipt::read_run_statement(&std::fs::read_to_string(receipt).unwrap()).unwrap();
    statement.steps().iter().map(|s| serde_json::to_value(s).unwrap()).collect()
}

#[test]
fn a_timestamped_output_is_caught_and_named_and_a_stable_one_passes() {
    let ctx = workspace(PIPELINE);
    let out = ctx.run(&["run", "--check-reproducibility"]);
    out.success();
    assert!(
        out.stderr.contains("warning: step `stamped` is not reproducible: out/stamped.txt: sha256 "),
        "{}",
        out.stderr
    );
    let offset: u64 = out
        .stderr
        .split(", first difference at byte ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(offset >= 4, "the input's bytes come first, then the time: {offset}");
    assert!(!out.stderr.contains("`stable` is not reproducible"), "{}", out.stderr);
    let steps = receipt_steps(&ctx);
    let claim = |name: &str| steps.iter().find(|s| s["name"] == name).unwrap()["reproducibility"].clone();
    assert_eq!(claim("stable")["verified"], true);
    assert_eq!(claim("stable")["runs"], 2);
    assert_eq!(claim("stamped")["verified"], false);

    let receipt = attest_receipt::list_receipts(&ctx.root().join(".attest/receipts")).unwrap().pop().unwrap();
    let verify = ctx.run(&["verify", receipt.to_str().unwrap(), "--format", "json"]);
    let report: Value = serde_json::from_str(&verify.stdout).unwrap();
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "reproducibility").unwrap().clone();
    assert_eq!(check["status"], "fail");
    assert!(check["actual"].as_str().unwrap().contains("stamped"), "{check}");
}

#[test]
fn a_step_that_requires_reproducibility_fails_and_is_not_cached() {
    // Two outputs differ, one does not: each differing one is named, with diffoscope's
    // account of it where diffoscope is installed (`.ci/run` installs it).
    let ctx = workspace(&PIPELINE.replace(
        r#"run: "mkdir -p out && (cat in.txt; date +%s%N) > out/stamped.txt", inputs: [in.txt], outputs: [out/stamped.txt] }"#,
        r#"run: "mkdir -p out && (cat in.txt; date +%s%N) > out/stamped.txt && date +%N > out/nanos.txt && cp in.txt out/same.txt", inputs: [in.txt], outputs: [out/stamped.txt, out/nanos.txt, out/same.txt], attestation: { reproducible: true } }"#,
    ));
    let out = ctx.run(&["run"]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stderr.contains("[FAIL] stamped"), "{}", out.stderr);
    assert!(out.stderr.contains("not reproducible (2 outputs): out/nanos.txt: sha256 "), "{}", out.stderr);
    assert!(out.stderr.contains("; out/stamped.txt: sha256 "), "{}", out.stderr);
    assert!(!out.stderr.contains("out/same.txt"), "{}", out.stderr);
    let diffoscope =
        crate::context::TEST_PATH.split(':').any(|dir| std::path::Path::new(dir).join("diffoscope").is_file());
    if diffoscope {
        assert!(
            out.stderr.contains("warning: diffoscope on `out/stamped.txt` of step `stamped`:\n  | "),
            "{}",
            out.stderr
        );
    } else {
        crate::context::skip_without("diffoscope (diffoscope-minimal), for its part of this test");
    }
    let again = ctx.run(&["run"]);
    assert!(!again.stderr.contains("[OK] stamped"), "a failed step is never a cache hit: {}", again.stderr);
}

#[test]
fn a_reproducible_step_passes_under_vary() {
    let ctx = workspace(
        r#"version: "0.1"
attestation: { require_reproducible: true }
steps:
  stable: { run: "mkdir -p out && sort in.txt > out/sorted.txt && tr a-z A-Z < in.txt > out/upper.txt", inputs: [in.txt], outputs: [out/sorted.txt, out/upper.txt] }
"#,
    );
    let out = ctx.run(&["run", "--vary", "--no-cache"]);
    out.success();
    let steps = receipt_steps(&ctx);
    let claim = steps[0]["reproducibility"].clone();
    assert_eq!(claim["verified"], true, "{claim}");
    let method = claim["method"].as_str().unwrap();
    assert!(method.contains("time zone") && method.contains("locale") && method.contains("umask"), "{method}");
    if std::path::Path::new("/usr/bin/faketime").exists() {
        assert!(method.contains("faketime"), "{method}");
    } else {
        crate::context::skip_without("faketime");
    }
}

/// With disorderfs, `--vary` lists directories in reverse order in the second build: a
/// step whose output follows `readdir` order is caught, one that sorts passes.
#[test]
fn vary_reverses_file_order_with_disorderfs() {
    if !std::path::Path::new("/usr/bin/disorderfs").exists() || !std::path::Path::new("/dev/fuse").exists() {
        crate::context::skip_without("disorderfs (and /dev/fuse)");
        return;
    }
    let ctx = workspace(
        r#"version: "0.1"
steps:
  unsorted: { run: "mkdir -p out && find src -type f > out/unsorted.txt", inputs: [src/], outputs: [out/unsorted.txt] }
  sorted: { run: "mkdir -p res && find src -type f | sort > res/sorted.txt", inputs: [src/], outputs: [res/sorted.txt] }
"#,
    );
    for name in ["a", "b", "c", "d", "e", "f"] {
        ctx.write(&format!("src/{name}.txt"), name);
    }
    let out = ctx.run(&["run", "--vary", "--no-cache"]);
    let text = out.snapshot();
    assert!(text.contains("out/unsorted.txt"), "the order-dependent output is named: {text}");
    let steps = receipt_steps(&ctx);
    let claim = |name: &str| steps.iter().find(|s| s["name"] == name).unwrap()["reproducibility"].clone();
    assert_eq!(claim("unsorted")["verified"], false, "{text}");
    assert_eq!(claim("sorted")["verified"], true, "{text}");
    assert!(claim("sorted")["method"].as_str().unwrap().contains("file order (disorderfs)"));
    // Nothing stays mounted.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains("attest-disorder-"), "{mounts}");
}
