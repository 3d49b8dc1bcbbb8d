//! Ctrl-C, SIGTERM and SIGKILL: no half-written outputs, a consistent cache.

use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::context::TestContext;

fn wait_for(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn process_alive(pid: i32) -> bool {
    kill_process(Pid::from_raw(pid).unwrap(), Signal::from_named_raw(0).unwrap_or(Signal::CONT)).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[test]
fn sigint_stops_every_step_group_removes_partial_outputs_and_exits_130() {
    for signal in [Signal::INT, Signal::TERM] {
        let ctx = TestContext::new().pipeline(
            r#"
version: "0.1"
steps:
  long:
    run: "mkdir -p out && echo partial > out/long.txt && sh -c 'echo $$ > grandchild.pid; exec sleep 60' & wait"
    inputs: []
    outputs: [out/long.txt]
  after: { run: "touch after-ran", needs: [long], inputs: [] }
"#,
        );
        let child = ctx.command(&["run"]).stderr(std::process::Stdio::piped()).spawn().unwrap();
        wait_for(&ctx.root().join("grandchild.pid"));
        std::thread::sleep(Duration::from_millis(100));
        let grandchild: i32 = ctx.read("grandchild.pid").trim().parse().unwrap();
        kill_process(Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap(), signal).unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("[STOP] long - interrupted"), "{stderr}");
        assert!(stderr.contains("Interrupted:"), "{stderr}");
        assert!(!ctx.exists("out/long.txt"), "the interrupted step's output was removed");
        assert!(!ctx.exists("after-ran"));
        std::thread::sleep(Duration::from_millis(200));
        assert!(!process_alive(grandchild), "grandchild {grandchild} survived");
        ctx.run(&["cache", "verify"]).success();
        let history = ctx.run(&["audit", "history", "--format", "json"]);
        history.success();
        let runs: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
        assert_eq!(runs["runs"][0]["status"], "interrupted", "{}", history.stdout);
        assert_eq!(runs["runs"][0]["steps"][0]["status"], "cancelled", "{}", history.stdout);
    }
}

#[test]
fn sigkill_at_any_moment_leaves_a_consistent_cache() {
    let mut yaml = String::from("version: \"0.1\"\nsteps:\n");
    for i in 0..12 {
        let needs = if i == 0 { String::new() } else { format!(", needs: [s{}]", i - 1) };
        yaml.push_str(&format!(
            "  s{i}: {{ run: \"mkdir -p out && head -c 200000 /dev/urandom > out/{i}.bin\", inputs: [], outputs: [out/{i}.bin]{needs} }}\n"
        ));
    }
    let ctx = TestContext::new().pipeline(&yaml);
    for delay_ms in [5u64, 20, 40, 70, 110, 160] {
        std::fs::remove_dir_all(ctx.root().join("out")).ok();
        let mut child = ctx.command(&["run", "--no-cache"]).spawn().unwrap();
        let _ = child.wait();
        let mut child = ctx.command(&["run"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let verify = ctx.run(&["cache", "verify"]);
        assert_eq!(verify.code, 0, "after SIGKILL at {delay_ms} ms: {}", verify.snapshot());
        // The next run works and every output matches its cached digest.
        ctx.run(&["run"]).success();
        ctx.run(&["run"]).success();
    }
}
