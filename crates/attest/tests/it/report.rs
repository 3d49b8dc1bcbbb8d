//! `attest audit report` end to end: JSON numbers, Markdown tables, and the HTML file as a
//! browser sees it (headless Chromium: no console errors, one timeline bar per step).

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::context::{TEST_PATH, TestContext};

/// `gen` and `pack` are cacheable, `lint` fails when src/lint.txt says so, `stamp` has
/// `cache: false` and executes every time.
const PIPELINE: &str = r#"version: "0.1"
name: report
steps:
  gen:
    run: "mkdir -p out && cat src/in.txt > out/gen.txt"
    inputs: [src/in.txt]
    outputs: [out/gen.txt]
  pack:
    run: "tar cf out/pack.tar out/gen.txt"
    inputs: [out/gen.txt]
    outputs: [out/pack.tar]
    needs: [gen]
  lint:
    run: "grep -q ok src/lint.txt"
    inputs: [src/lint.txt]
  stamp:
    run: "true"
    inputs: []
    cache: false
"#;

/// Three runs: all executed; all cached but `stamp`; `lint` fails (the last run).
fn three_runs() -> TestContext {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src/in.txt", "ok\n");
    ctx.write("src/lint.txt", "ok\n");
    ctx.run(&["run", "-j", "2"]).success();
    ctx.run(&["run", "-j", "2"]).success();
    ctx.write("src/lint.txt", "bad\n");
    assert_eq!(ctx.run(&["run", "-j", "2"]).code, 1);
    ctx
}

fn json_report(ctx: &TestContext) -> Value {
    let out = ctx.run(&["audit", "report", "--format", "json"]);
    out.success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// Durations and times, which vary from run to run, as `[D]` and `[TIME]`.
fn without_durations(text: &str) -> String {
    let text =
        regex::Regex::new(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z| UTC)").unwrap().replace_all(text, "[TIME]");
    regex::Regex::new(r"\+?\d+(\.\d+)?(ms|s)\b").unwrap().replace_all(&text, "[D]").into_owned()
}

#[test]
fn json_has_the_analysis_the_last_run_and_the_hit_rate_of_each_run() {
    let ctx = three_runs();
    let report = json_report(&ctx);
    assert_eq!(report["version"], 1);
    assert!(report["generated_at"].as_str().unwrap().ends_with('Z'), "{report}");
    assert_eq!(
        (report["runs"].as_u64(), report["succeeded"].as_u64(), report["failed"].as_u64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(report["success_rate"].as_f64().unwrap(), 2.0 / 3.0);
    // 12 lookups (stamp's `cache: false` is a miss): 0 + 3 + 2 hits.
    assert_eq!(report["cache_hit_rate"].as_f64().unwrap(), 5.0 / 12.0);

    let over_time = report["hit_rate_over_time"].as_array().unwrap();
    let counts: Vec<(u64, u64)> =
        over_time.iter().map(|r| (r["hits"].as_u64().unwrap(), r["lookups"].as_u64().unwrap())).collect();
    assert_eq!(counts, [(0, 4), (3, 4), (2, 4)], "oldest first");
    assert_eq!(over_time[2]["rate"], 0.5);
    assert_eq!(over_time[2]["status"], "failed");
    let started: Vec<i64> = over_time.iter().map(|r| r["started_ms"].as_i64().unwrap()).collect();
    assert!(started.windows(2).all(|w| w[0] <= w[1]), "{started:?}");

    let last = &report["last_run"];
    assert_eq!(last["run_id"], over_time[2]["run_id"]);
    assert_eq!(last["status"], "failed");
    let steps = last["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    let step = |name: &str| steps.iter().find(|s| s["step"] == name).unwrap();
    assert_eq!((&step("gen")["cache"], &step("pack")["cache"]), (&Value::from("hit"), &Value::from("hit")));
    assert_eq!(step("lint")["status"], "failed");
    assert_eq!(step("stamp")["miss_reason"], "cache disabled");
    for step in steps {
        assert!(step["worker"].as_u64().unwrap() < 2, "{step}");
        assert!(step["start_ms"].is_u64() && step["duration_ms"].is_u64(), "{step}");
    }
    let lint = report["steps"].as_array().unwrap().iter().find(|s| s["step"] == "lint").unwrap();
    assert_eq!(
        (lint["hits"].as_u64(), lint["misses"].as_u64(), lint["failures"].as_u64()),
        (Some(1), Some(2), Some(1))
    );
}

#[test]
fn markdown_goes_to_stdout_as_tables_and_the_format_follows_the_output_name() {
    let ctx = three_runs();
    let out = ctx.run(&["audit", "report"]);
    out.success();
    assert_eq!(out.stderr, "");
    let markdown = without_durations(&out.stdout);
    for part in [
        "# attest report\n\nRuns of the last 30 days, generated [TIME] by attest ",
        "## Summary\n\n| Measure | Value |\n|---|---|\n| Runs | 3: 2 succeeded, 1 failed, 0 interrupted |\n\
         | Success rate | 66.7% |\n| Duration | average [D], p50 [D], p95 [D] |\n| Cache hit rate | 41.7% |\n",
        "## Steps\n\n| Step | Runs | Hits | Misses | Hit rate | Failures | Average (executed) | p95 (executed) | On critical path |\n",
        "\n| gen | 3 | 2 | 1 | 66.7% | 0 | [D] | [D] |",
        "\n| lint | 3 | 1 | 2 | 33.3% | 1 | [D] | [D] |",
        "\n| stamp | 3 | 0 | 3 | 0.0% | 0 | [D] | [D] |",
        "## Slowest steps\n\n| # | Step | Average when executed |\n|--:|---|--:|\n| 1 | ",
        "## Optimization opportunities\n\n",
        "## Last run\n\nRun `",
        "| Step | Outcome | Worker | Start | Duration | Cache miss reason or failure |\n|---|---|--:|--:|--:|---|\n",
        " | failed | ",
        "| stamp | executed | ",
    ] {
        assert!(markdown.contains(part), "{part:?} in\n{markdown}");
    }
    assert!(
        markdown.contains("| lint | failed | ") && markdown.contains(" | input changed: src/lint.txt; exit code 1 |"),
        "{markdown}"
    );

    // `-o` with a known extension picks the format; `-o -` is stdout.
    let out = ctx.run(&["audit", "report", "-o", "reports/report.json"]);
    out.success();
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    ----- stdout -----
    ----- stderr -----
    Report written to [TEMP]/reports/report.json
    ");
    let written: Value = serde_json::from_str(&ctx.read("reports/report.json")).unwrap();
    assert_eq!(written["runs"], 3);
    let out = ctx.run(&["audit", "report", "--format", "html", "-o", "-"]);
    out.success();
    assert!(out.stdout.starts_with("<!DOCTYPE html>"), "{}", out.stdout);
    assert!(!ctx.exists("attest-report.html"));
}

#[test]
fn no_runs_yet_is_an_empty_report_not_an_error() {
    let ctx = TestContext::new().pipeline(PIPELINE);
    let out = ctx.run(&["audit", "report", "--format", "json", "--period", "7"]);
    out.success();
    assert!(out.stderr.contains("No runs in the last 7 days: the report is empty"), "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["runs"], 0);
    assert!(report["last_run"].is_null());
    assert_eq!(report["hit_rate_over_time"], serde_json::json!([]));

    let out = ctx.run(&["audit", "report", "--format", "html"]);
    out.success();
    let html = ctx.read("attest-report.html");
    assert!(html.contains("No runs in the last 30 days"), "{html}");
    assert!(html.ends_with("</html>\n"));
    assert!(!ctx.exists(".attest/attest.db"), "reading an empty history creates nothing");
}

/// Chromium from Debian's `chromium` package, on the tests' `PATH`.
fn chromium() -> Option<PathBuf> {
    TEST_PATH
        .split(':')
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| Path::new(dir).join(name)))
        .find(|path| path.is_file())
}

/// What headless Chromium made of `page`: the DOM after loading it, and every console
/// message it logged (with `--enable-logging=stderr`, Chromium writes each console message,
/// uncaught exception and refused load as a `:CONSOLE(` or `:CONSOLE:` log line).
fn render(chromium: &Path, page: &Path) -> (String, Vec<String>) {
    let scratch = tempfile::tempdir().unwrap();
    let dom_path = scratch.path().join("dom.html");
    let log_path = scratch.path().join("chromium.log");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", scratch.path().join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .env_clear()
        .env("PATH", TEST_PATH)
        .env("HOME", scratch.path())
        .stdin(Stdio::null())
        .stdout(File::create(&dom_path).unwrap())
        .stderr(File::create(&log_path).unwrap())
        // Its own process group: on a hang, the browser and its helpers are killed together.
        .process_group(0)
        .spawn()
        .unwrap();
    let group = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            let _ = child.wait();
            panic!("chromium did not finish within 60 s:\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Helpers that outlive the browser (none should) go too.
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "chromium failed ({status}):\n{log}");
    let console = log.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).map(str::to_owned).collect();
    (std::fs::read_to_string(&dom_path).unwrap(), console)
}

/// The HTML report in a real browser: it loads without a console message (no script error,
/// nothing refused by its Content-Security-Policy), and the timeline has exactly one bar
/// per step of the last run. In CI (`CI` set) a missing Chromium is a failure: `.ci/run`
/// installs it.
#[test]
fn html_report_renders_in_headless_chromium_with_one_bar_per_step() {
    let Some(chromium) = chromium() else {
        crate::context::skip_without("chromium");
        return;
    };
    let ctx = three_runs();
    let out = ctx.run(&["audit", "report", "--format", "html"]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    ----- stdout -----
    ----- stderr -----
    Report written to [TEMP]/attest-report.html
    ");
    let page = ctx.root().join("attest-report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let external =
        regex::Regex::new(r#"(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|url\(|@import|<script|<link"#).unwrap();
    assert!(!external.is_match(&html), "external reference: {:?}", external.find(&html));
    assert!(!html.contains("http://") && !html.contains("https://"), "{html}");

    let (dom, console) = render(&chromium, &page);
    assert!(console.is_empty(), "console messages:\n{}", console.join("\n"));

    let last_run = &json_report(&ctx)["last_run"];
    let mut expected: Vec<(String, &str)> = last_run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let outcome = match (s["status"].as_str().unwrap(), s["cache"].as_str()) {
                ("failed", _) => "failed",
                (_, Some("hit")) => "hit",
                _ => "executed",
            };
            (s["step"].as_str().unwrap().to_owned(), outcome)
        })
        .collect();
    expected.sort();
    let bar = regex::Regex::new(r#"<rect class="bar ([a-z]+)" data-step="([^"]*)""#).unwrap();
    let mut bars: Vec<(String, &str)> =
        bar.captures_iter(&dom).map(|c| (c[2].to_owned(), c.get(1).unwrap().as_str())).collect();
    bars.sort();
    assert_eq!(bars, expected, "one bar per step of the last run, in the rendered DOM");
    assert_eq!(
        expected.iter().map(|(_, o)| *o).collect::<Vec<_>>(),
        ["hit", "failed", "hit", "executed"],
        "gen, lint, pack, stamp"
    );
    for section in ["<svg class=\"chart timeline\"", "<svg class=\"chart hit-rate\"", "<svg class=\"chart slowest\""] {
        assert_eq!(dom.matches(section).count(), 1, "{section} in\n{dom}");
    }
    assert_eq!(dom.matches("<circle class=\"point").count(), 3, "a point per run");
}
