//! `run --metrics-endpoint` against a real Prometheus Pushgateway (Debian's
//! `prometheus-pushgateway`, started on 127.0.0.1 by the test), read back from it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::context::TestContext;

fn pushgateway() -> Option<PathBuf> {
    let found = ["/usr/bin/prometheus-pushgateway", "/usr/local/bin/prometheus-pushgateway"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        crate::context::skip_without("prometheus-pushgateway");
    }
    found
}

struct Gateway {
    child: Child,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str) -> Option<attest_events::HttpResponse> {
    attest_events::request("GET", url, &[], b"", Duration::from_secs(2)).ok()
}

fn start(binary: &PathBuf) -> Gateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(binary)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let gateway = Gateway { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if get(&format!("{}/-/ready", gateway.url)).is_some_and(|r| r.is_success()) {
            return gateway;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the pushgateway did not become ready");
}

#[test]
fn run_metrics_are_accepted_by_a_real_pushgateway_and_read_back() {
    let Some(binary) = pushgateway() else { return };
    let gateway = start(&binary);
    let ctx = TestContext::new().pipeline(
        r#"version: "0.1"
name: metrics-test
steps:
  gen: { run: "mkdir -p out && echo x > out/a.txt", inputs: [], outputs: [out/a.txt] }
  "use": { run: "cat out/a.txt", inputs: [out/a.txt], needs: [gen] }
"#,
    );
    ctx.run(&["run", "--metrics-endpoint", &gateway.url]).success();
    let out = ctx.run(&["run", "--metrics-endpoint", &gateway.url]);
    out.success();
    assert!(!out.stderr.contains("failed to push metrics"), "{}", out.stderr);

    let metrics = String::from_utf8(get(&format!("{}/metrics", gateway.url)).unwrap().body).unwrap();
    let line = |prefix: &str, must: &[&str]| -> String {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix) && must.iter().all(|m| l.contains(m)))
            .unwrap_or_else(|| panic!("no `{prefix}` with {must:?} in:\n{metrics}"))
            .to_owned()
    };
    let group = ["job=\"attest\"", "pipeline=\"metrics-test\""];
    line("attest_run_duration_seconds{", &group);
    assert!(line("attest_run_success{", &group).ends_with(" 1"));
    assert!(line("attest_cache_hits{", &group).ends_with(" 2"), "the second run hit both steps");
    assert!(line("attest_run_steps{", &[group[0], group[1], "status=\"cached\""]).ends_with(" 2"));
    line("attest_step_duration_seconds{", &[group[0], "step=\"use\"", "cache=\"hit\""]);

    // A gateway that is not there is a warning, not a failed run.
    drop(gateway);
    let out = ctx.run(&["run", "--metrics-endpoint", "http://127.0.0.1:9/"]);
    out.success();
    assert!(out.stderr.contains("warning: failed to push metrics"), "{}", out.stderr);
}
