//! Run history end to end: every run (succeeded, failed, interrupted, killed) in a real
//! `.attest/attest.db`, `audit history`, a damaged database, and `run --trace`.

use std::time::Duration;

use serde_json::Value;

use crate::context::TestContext;

const PIPELINE: &str = r#"version: "0.1"
name: history
steps:
  gen:
    run: "mkdir -p out && cat src/in.txt > out/gen.txt"
    inputs: [src/in.txt]
    outputs: [out/gen.txt]
  check:
    run: "grep -q ok out/gen.txt"
    inputs: [out/gen.txt]
    needs: [gen]
  pack:
    run: "tar cf out/pack.tar out/gen.txt"
    inputs: [out/gen.txt]
    outputs: [out/pack.tar]
    needs: [check]
"#;

fn history(ctx: &TestContext, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "history", "--format", "json"];
    args.extend_from_slice(extra);
    let out = ctx.run(&args);
    out.success();
    let value: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    value["runs"].as_array().expect("runs").clone()
}

fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["steps"].as_array().unwrap().iter().find(|s| s["step"] == name).unwrap_or_else(|| panic!("{name} in {run}"))
}

#[test]
fn every_run_is_recorded_with_its_steps_cache_status_and_miss_reasons() {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src/in.txt", "ok\n");
    ctx.run(&["run"]).success();
    ctx.run(&["run"]).success();
    ctx.write("src/in.txt", "bad\n");
    assert_eq!(ctx.run(&["run"]).code, 1);

    let runs = history(&ctx, &[]);
    assert_eq!(runs.len(), 3);
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["failed", "succeeded", "succeeded"], "newest first");

    let first = &runs[2];
    assert_eq!((first["ran"].as_u64(), first["cached"].as_u64()), (Some(3), Some(0)));
    assert_eq!(step(first, "gen")["miss_reason"], "no entry");
    assert!(first["receipt"].as_str().unwrap().starts_with(".attest/receipts/"));

    let second = &runs[1];
    assert_eq!(second["cached"], 3);
    assert_eq!(step(second, "pack")["cache"], "hit");

    let failed = &runs[0];
    assert_eq!(step(failed, "gen")["miss_reason"], "input changed: src/in.txt");
    assert_eq!(step(failed, "check")["status"], "failed");
    assert_eq!(step(failed, "check")["exit_code"], 1);
    assert_eq!(step(failed, "check")["detail"], "exit code 1");
    assert_eq!(step(failed, "pack")["status"], "skipped");
    for run in &runs {
        assert!(run["finished_ms"].as_i64().unwrap() >= run["started_ms"].as_i64().unwrap());
        assert!(run["run_id"].as_str().unwrap().len() == 16);
    }

    // The receipt of each run is the one the history names.
    let receipt = ctx.read(runs[0]["receipt"].as_str().unwrap());
    assert!(!receipt.is_empty());

    // Filters: --limit and --step.
    assert_eq!(history(&ctx, &["--limit", "1"]).len(), 1);
    let human = ctx.run(&["audit", "history", "--step", "gen"]);
    human.success();
    let lines: Vec<&str> = human.stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{}", human.stderr);
    assert!(lines[0].starts_with("RUN"), "{}", human.stderr);
    assert!(lines[1].contains("input changed: src/in.txt"), "{}", human.stderr);
    assert!(lines[3].contains("no entry"), "{}", human.stderr);
}

#[test]
fn a_run_killed_mid_way_reads_back_as_interrupted() {
    let ctx = TestContext::new().pipeline(
        r#"version: "0.1"
steps:
  slow: { run: "echo $$ > started.pid && sleep 30", inputs: [] }
"#,
    );
    let mut child = ctx.command(&["run"]).spawn().unwrap();
    let marker = ctx.root().join("started.pid");
    for _ in 0..200 {
        if std::fs::read_to_string(&marker).is_ok_and(|t| t.ends_with('\n')) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let step_pid: i32 = ctx.read("started.pid").trim().parse().unwrap();
    let _ =
        rustix::process::kill_process(rustix::process::Pid::from_raw(step_pid).unwrap(), rustix::process::Signal::KILL);

    let runs = history(&ctx, &[]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "interrupted");
    assert!(runs[0]["finished_ms"].is_null());

    // The next run records itself and marks the dead one in the database too.
    ctx.write("attest.yaml", "version: \"0.1\"\nsteps:\n  quick: { run: \"true\", inputs: [] }\n");
    ctx.run(&["run"]).success();
    let runs = history(&ctx, &[]);
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "interrupted"]);
}

#[test]
fn a_damaged_database_never_stops_a_run_and_is_reported_clearly() {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src/in.txt", "ok\n");
    ctx.write(".attest/attest.db", &"garbage that is not sqlite\n".repeat(200));
    let out = ctx.run(&["run"]);
    out.success();
    assert!(out.stderr.contains("warning: run history is not recorded"), "{}", out.stderr);
    assert!(out.stderr.contains("attest.db is not a readable SQLite database"), "{}", out.stderr);

    let out = ctx.run(&["audit", "history"]);
    assert_eq!(out.code, 2, "{}", out.snapshot());
    assert!(out.stderr.contains("cannot read the run history"), "{}", out.stderr);
    assert!(out.stderr.contains("move it aside"), "{}", out.stderr);

    // Moved aside, the next run starts a new history.
    std::fs::rename(ctx.root().join(".attest/attest.db"), ctx.root().join("old.db")).unwrap();
    ctx.run(&["run"]).success();
    assert_eq!(history(&ctx, &[]).len(), 1);
}

#[test]
fn no_history_yet_is_an_empty_list_and_creates_nothing() {
    let ctx = TestContext::new().pipeline(PIPELINE);
    let out = ctx.run(&["audit", "history"]);
    out.success();
    assert!(out.stderr.contains("No runs recorded yet"), "{}", out.stderr);
    assert!(!ctx.exists(".attest/attest.db"));
}

#[test]
fn trace_has_one_complete_event_per_step_on_worker_tracks_with_cache_hits_marked() {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src/in.txt", "ok\n");
    ctx.run(&["run", "-j", "2", "--trace", "cold.trace.json"]).success();
    ctx.run(&["run", "-j", "2", "--trace", "warm.trace.json"]).success();

    for (file, category) in [("cold.trace.json", "executed"), ("warm.trace.json", "cache_hit")] {
        let trace: Value = serde_json::from_str(&ctx.read(file)).unwrap();
        let events = trace["traceEvents"].as_array().unwrap();
        let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(complete.len(), 3, "{file}");
        for event in &complete {
            // What the Trace Event Format requires of a complete event.
            for field in ["name", "ts", "dur", "pid", "tid"] {
                assert!(!event[field].is_null(), "{field} missing in {event}");
            }
            assert!(event["ts"].is_u64() && event["dur"].is_u64());
            assert_eq!(event["cat"], category, "{file}");
            let tid = event["tid"].as_u64().unwrap();
            assert!(
                events.iter().any(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["tid"] == tid),
                "worker track {tid} is named"
            );
        }
        // Dependencies are visible in time: check starts after gen ends.
        let at = |name: &str| complete.iter().find(|e| e["name"] == name).unwrap();
        let gen_end = at("gen")["ts"].as_u64().unwrap() + at("gen")["dur"].as_u64().unwrap();
        assert!(at("check")["ts"].as_u64().unwrap() >= gen_end, "{file}");
    }
}

#[test]
fn analyze_and_pipeline_show_read_the_recorded_runs() {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src/in.txt", "ok 1\n");
    ctx.run(&["run", "-j", "8"]).success();
    ctx.run(&["run", "-j", "8"]).success();
    ctx.write("src/in.txt", "ok 2\n");
    ctx.run(&["run", "-j", "8"]).success();

    let out = ctx.run(&["audit", "analyze", "--period", "7", "--format", "json"]);
    out.success();
    let analysis: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(analysis["runs"], 3);
    assert_eq!(analysis["success_rate"], 1.0);
    // 9 lookups: 3 misses, then 3 hits, then 3 misses.
    assert_eq!(analysis["cache_hit_rate"].as_f64().unwrap(), 3.0 / 9.0);
    let first = analysis["steps"].as_array().unwrap().iter().find(|s| s["step"] == "gen").unwrap();
    assert_eq!((first["hits"].as_u64(), first["misses"].as_u64()), (Some(1), Some(2)));
    assert_eq!(first["on_critical_path"], 3, "a chain: every step is on the critical path");
    let kinds: Vec<&str> =
        analysis["opportunities"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["unused_parallelism"], "-j 8 on a chain of 3");

    let human = ctx.run(&["audit", "analyze"]);
    human.success();
    assert!(human.stderr.contains("Runs in the last 30 days: 3"), "{}", human.stderr);
    assert!(human.stderr.contains("runs asked for -j 8 but at most 1 step can"), "{}", human.stderr);

    let show = ctx.run(&["pipeline", "show", "--format", "json"]);
    show.success();
    let view: Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(view["critical_path"]["unit"], "seconds", "{}", show.stdout);
    assert_eq!(view["critical_path"]["runs"], 3);
    assert!(view["steps"][0]["weight_seconds"].is_number());
}
