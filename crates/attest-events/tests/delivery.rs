//! Event delivery against real HTTP servers on 127.0.0.1 and real files.
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use attest_events::{EventBus, signature_header};
use attest_hash::RelPath;
use attest_pipeline::{EventHandler, HandlerTarget};
use serde_json::json;

/// A scripted server on 127.0.0.1: its URL and what it receives.
fn server(script: Vec<Option<u16>>) -> (String, attest_events::test_server::Received) {
    let server = attest_events::test_server::TestServer::start(script);
    (server.url, server.received)
}

fn webhook(url: &str) -> EventHandler {
    EventHandler {
        target: HandlerTarget::Webhook { url: url.to_owned() },
        events: vec!["*".to_owned()],
        secret_env: None,
        timeout: Duration::from_secs(2),
        retries: 3,
        required: false,
    }
}

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[test]
fn a_webhook_that_fails_once_gets_the_event_on_retry_with_signature_and_delivery_id() {
    let (url, received) = server(vec![Some(500)]);
    let mut handler = webhook(&url);
    handler.secret_env = Some("HOOK_KEY".to_owned());
    let env = BTreeMap::from([("HOOK_KEY".to_owned(), "s3cret".to_owned())]);
    let bus = EventBus::start(&[handler], std::path::Path::new("."), &env, "run1");
    bus.emit("step.failed", Some("build"), json!({"exit_code": 2}));
    let problems = bus.finish(Duration::from_secs(10));
    assert!(problems.is_empty(), "{problems:?}");

    let got = received.lock().unwrap();
    assert_eq!(got.len(), 2, "one 500, then the retry");
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(first.1, second.1, "the same body is retried");
    assert_eq!(first.0["x-attest-delivery"], second.0["x-attest-delivery"], "one delivery id across retries");
    assert_eq!(first.0["x-attest-delivery"].len(), 32);
    assert_eq!(second.0["x-attest-event"], "step.failed");
    assert_eq!(second.0["content-type"], "application/json");
    assert_eq!(second.0["x-attest-signature"], signature_header(b"s3cret", &second.1));
    let event: serde_json::Value = serde_json::from_slice(&second.1).unwrap();
    assert_eq!(event["type"], "step.failed");
    assert_eq!(event["run_id"], "run1");
    assert_eq!(event["step"], "build");
    assert_eq!(event["data"]["exit_code"], 2);
    assert!(event["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn a_webhook_that_never_answers_is_abandoned_at_the_deadline_and_reported() {
    let (url, _received) = server(vec![None, None, None, None, None]);
    let mut handler = webhook(&url);
    handler.timeout = Duration::from_millis(300);
    handler.required = true;
    let bus = EventBus::start(&[handler], std::path::Path::new("."), &no_env(), "run2");
    let emitted = Instant::now();
    for _ in 0..3 {
        bus.emit("step.started", Some("x"), json!({}));
    }
    assert!(emitted.elapsed() < Duration::from_millis(50), "emit never waits for delivery");
    let flushed = Instant::now();
    let problems = bus.finish(Duration::from_secs(1));
    assert!(flushed.elapsed() < Duration::from_secs(3), "the flush keeps its deadline");
    assert!(!problems.is_empty());
    assert!(problems.iter().all(|p| p.required));
    assert!(problems.iter().any(|p| p.handler.starts_with("webhook http://127.0.0.1:")), "{problems:?}");
}

#[test]
fn a_webhook_whose_retries_run_out_reports_the_last_status() {
    let (url, received) = server(vec![Some(503), Some(503)]);
    let mut handler = webhook(&url);
    handler.retries = 1;
    let bus = EventBus::start(&[handler], std::path::Path::new("."), &no_env(), "run3");
    bus.emit("cache.miss", Some("x"), json!({}));
    let problems = bus.finish(Duration::from_secs(10));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].message, "cache.miss: HTTP 503 (after 2 attempts)");
    assert!(!problems[0].required);
    assert_eq!(received.lock().unwrap().len(), 2);
}

#[test]
fn a_missing_secret_sends_nothing_unsigned() {
    let (url, received) = server(vec![]);
    let mut handler = webhook(&url);
    handler.secret_env = Some("NOT_SET".to_owned());
    let bus = EventBus::start(&[handler], std::path::Path::new("."), &no_env(), "run4");
    bus.emit("pipeline.started", None, json!({}));
    let problems = bus.finish(Duration::from_secs(2));
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.contains("`secret_env: NOT_SET` is not set"), "{problems:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(received.lock().unwrap().is_empty());
}

#[test]
fn file_handlers_append_whole_lines_from_concurrent_runs_filtered_by_type() {
    let dir = tempfile::tempdir().unwrap();
    let handler = |events: &[&str]| EventHandler {
        target: HandlerTarget::File { path: RelPath::new("logs/events.jsonl").unwrap() },
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret_env: None,
        timeout: Duration::from_secs(1),
        retries: 0,
        required: false,
    };
    let runs: Vec<std::thread::JoinHandle<()>> = (0..4)
        .map(|run| {
            let root = dir.path().to_path_buf();
            let handlers = vec![handler(&["step.*"])];
            std::thread::spawn(move || {
                let bus = EventBus::start(&handlers, &root, &BTreeMap::new(), &format!("run{run}"));
                for i in 0..200 {
                    bus.emit("step.completed", Some("s"), json!({ "i": i, "pad": "x".repeat(3000) }));
                    bus.emit("cache.hit", Some("s"), json!({}));
                }
                assert!(bus.finish(Duration::from_secs(10)).is_empty());
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap();
    }
    let text = std::fs::read_to_string(dir.path().join("logs/events.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 800, "only step.* events, every one");
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["type"], "step.completed");
    }
    let mut file = std::fs::File::open(dir.path().join("logs/events.jsonl")).unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    assert!(bytes.ends_with(b"\n"));
}

/// https goes through rustls and verifies the server against the web PKI roots: a
/// self-signed server (openssl s_server on 127.0.0.1) is refused, never trusted silently.
#[test]
fn https_refuses_a_certificate_no_trusted_root_signed() {
    let Ok(version) = std::process::Command::new("openssl").arg("version").output() else {
        assert!(std::env::var_os("CI").is_none(), "openssl is missing; .ci/run installs it");
        eprintln!("skipping: openssl is not installed");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("-key")
        .arg(dir.path().join("key.pem"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let result =
        attest_events::request("POST", &format!("https://127.0.0.1:{port}/"), &[], b"{}", Duration::from_secs(5));
    let _ = server.kill();
    let _ = server.wait();
    let err = result.expect_err("a self-signed certificate is not trusted");
    assert!(err.to_string().contains("certificate"), "{err}");
}
