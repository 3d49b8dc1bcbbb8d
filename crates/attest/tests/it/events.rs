//! Events end to end: `events.handlers` in attest.yaml delivering to a real file and to
//! real HTTP servers on 127.0.0.1 (one that fails first, one that never answers).

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::context::TestContext;

/// A scripted server on 127.0.0.1: its URL and what it receives.
fn server(script: Vec<Option<u16>>) -> (String, attest_events::test_server::Received) {
    let server = attest_events::test_server::TestServer::start(script);
    (server.url, server.received)
}

fn types(lines: &str) -> Vec<String> {
    lines.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].as_str().unwrap().to_owned()).collect()
}

const STEPS: &str = r#"steps:
  gen: { run: "mkdir -p out && cat in.txt > out/gen.txt", inputs: [in.txt], outputs: [out/gen.txt] }
  check: { run: "grep -q ok out/gen.txt", inputs: [out/gen.txt], needs: [gen] }
"#;

#[test]
fn a_file_handler_gets_every_event_of_a_run_as_json_lines() {
    let ctx = TestContext::new().pipeline(&format!(
        "version: \"0.1\"\nevents:\n  handlers:\n    - {{ type: file, path: logs/events.jsonl }}\n{STEPS}"
    ));
    ctx.write("in.txt", "ok\n");
    ctx.run(&["run", "-j", "1"]).success();
    let first = types(&ctx.read("logs/events.jsonl"));
    assert_eq!(first.first().map(String::as_str), Some("pipeline.started"));
    assert_eq!(first.last().map(String::as_str), Some("pipeline.completed"));
    for kind in ["step.started", "cache.miss", "step.completed"] {
        assert_eq!(first.iter().filter(|t| *t == kind).count(), 2, "{kind} once per step: {first:?}");
    }

    ctx.run(&["run"]).success();
    ctx.write("in.txt", "bad\n");
    assert_eq!(ctx.run(&["run"]).code, 1);
    let text = ctx.read("logs/events.jsonl");
    let all = types(&text);
    assert_eq!(all.iter().filter(|t| *t == "cache.hit").count(), 2, "the second run hit twice");
    assert_eq!(all.last().map(String::as_str), Some("pipeline.failed"));
    let failed: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["type"] == "step.failed")
        .expect("a step.failed event");
    assert_eq!(failed["step"], "check");
    assert_eq!(failed["data"]["exit_code"], 1);
    assert_eq!(failed["data"]["failure"], "exit code 1");
    assert_eq!(failed["run_id"].as_str().unwrap().len(), 16);
    let miss: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .rfind(|e| e["type"] == "cache.miss" && e["step"] == "gen")
        .unwrap();
    assert_eq!(miss["data"]["reason"], "input changed: in.txt");
}

#[test]
fn a_webhook_gets_the_events_it_asked_for_signed_and_retried_after_a_500() {
    let (url, received) = server(vec![Some(500)]);
    let ctx = TestContext::new().pipeline(&format!(
        "version: \"0.1\"\nevents:\n  handlers:\n    - {{ type: webhook, url: \"{url}\", events: [step.failed, \"pipeline.*\"], secret_env: HOOK_KEY }}\n{STEPS}"
    ));
    ctx.write("in.txt", "bad\n");
    let mut command = ctx.command(&["run"]);
    command.env("HOOK_KEY", "hook-secret");
    let out = ctx.run_command(command);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(!out.stderr.contains("event delivery"), "delivered after a retry: {}", out.stderr);

    let got = received.lock().unwrap();
    let kinds: Vec<&str> = got.iter().map(|(h, _)| h["x-attest-event"].as_str()).collect();
    // The first delivery (pipeline.started) got a 500 and was retried.
    assert_eq!(kinds, ["pipeline.started", "pipeline.started", "step.failed", "pipeline.failed"]);
    assert_eq!(got[0].0["x-attest-delivery"], got[1].0["x-attest-delivery"]);
    assert_ne!(got[1].0["x-attest-delivery"], got[2].0["x-attest-delivery"]);
    // Checked with an independent implementation: openssl's HMAC.
    for (headers, body) in got.iter() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body");
        std::fs::write(&file, body).unwrap();
        let openssl = Command::new("openssl")
            .args(["dgst", "-sha256", "-hmac", "hook-secret", "-r"])
            .arg(&file)
            .output()
            .expect("openssl is installed (.ci/run installs it)");
        let hex = String::from_utf8_lossy(&openssl.stdout).split_whitespace().next().unwrap().to_owned();
        assert_eq!(headers["x-attest-signature"], format!("sha256={hex}"));
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(event["type"].as_str(), Some(headers["x-attest-event"].as_str()));
    }
}

#[test]
fn a_required_webhook_that_never_answers_fails_the_run_within_its_timeouts() {
    let (url, _received) = server(vec![None; 20]);
    let ctx = TestContext::new().pipeline(&format!(
        "version: \"0.1\"\nevents:\n  handlers:\n    - {{ type: webhook, url: \"{url}\", events: [\"pipeline.*\"], timeout: 300ms, retries: 1, required: true }}\n{STEPS}"
    ));
    ctx.write("in.txt", "ok\n");
    let started = Instant::now();
    let out = ctx.run(&["run"]);
    assert!(started.elapsed() < Duration::from_secs(8), "bounded by timeouts and retries");
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stderr.contains("error: event delivery to webhook http://127.0.0.1:"), "{}", out.stderr);
    assert!(out.stderr.contains("no answer within 300ms"), "{}", out.stderr);
    // The steps themselves ran and succeeded; the history says the run did not.
    assert!(out.stderr.contains("Done: 2 ran"), "{}", out.stderr);
}

#[test]
fn an_optional_webhook_that_is_down_is_a_warning_and_a_signed_run_emits_signature_created() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let ctx = TestContext::new().pipeline(&format!(
        "version: \"0.1\"\nevents:\n  handlers:\n    - {{ type: webhook, url: \"{dead_url}\", retries: 0 }}\n    - {{ type: file, path: events.jsonl, events: [signature.created, verification.completed] }}\n{STEPS}"
    ));
    ctx.write("in.txt", "ok\n");
    let out = ctx.run(&["run", "--sign"]);
    out.success();
    assert!(out.stderr.contains("warning: event delivery to webhook"), "{}", out.stderr);

    let receipt = attest_receipt::list_receipts(&ctx.root().join(".attest/receipts")).unwrap().pop().unwrap();
    let verify = ctx.run(&["verify", receipt.to_str().unwrap()]);
    assert_eq!(verify.code, 0, "{}", verify.snapshot());
    let events: Vec<Value> = ctx.read("events.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["type"], "signature.created");
    let digest = attest_hash::sha256_file(&receipt).unwrap().to_string();
    assert_eq!(events[0]["data"]["receipt_sha256"], digest.as_str());
    assert_eq!(events[1]["type"], "verification.completed");
    assert_eq!(events[1]["data"]["ok"], true);
    assert_eq!(events[1]["run_id"], events[0]["run_id"]);
}
