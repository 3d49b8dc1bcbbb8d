//! `attest run`: scheduling, caching, restore, failures, output formats.

use insta::assert_snapshot;

use crate::context::TestContext;

const DIAMOND: &str = r#"
version: "0.1"
steps:
  gen:
    run: echo gen >> ran.log && mkdir -p out && cat src/a.txt > out/gen.txt
    inputs: [src/a.txt]
    outputs: [out/gen.txt]
  left:
    run: echo left >> ran.log && tr a-z A-Z < out/gen.txt > out/left.txt
    needs: [gen]
    inputs: [out/gen.txt]
    outputs: [out/left.txt]
  right:
    run: echo right >> ran.log && rev < out/gen.txt > out/right.txt && cat src/b.txt >> out/right.txt
    needs: [gen]
    inputs: [out/gen.txt, src/b.txt]
    outputs: [out/right.txt]
  join:
    run: echo join >> ran.log && cat out/left.txt out/right.txt > out/join.txt
    needs: [left, right]
    inputs: [out/left.txt, out/right.txt]
    outputs: [out/join.txt]
"#;

fn diamond() -> TestContext {
    let ctx = TestContext::new().pipeline(DIAMOND);
    ctx.write("src/a.txt", "hello\n");
    ctx.write("src/b.txt", "bee\n");
    ctx
}

#[test]
fn the_bundled_example_caches_restores_and_reruns_only_what_changed() {
    let ctx = TestContext::new();
    ctx.copy_example("hello-c");
    assert_snapshot!("example_first_run", ctx.run(&["run", "-j", "1"]).snapshot());
    assert_snapshot!("example_second_run", ctx.run(&["run", "-j", "1"]).snapshot());
    // A comment does not change main.o, so link and everything after it stay cached.
    let main = ctx.read("src/main.c");
    ctx.write("src/main.c", &format!("{main}/* an edit */\n"));
    assert_snapshot!("example_after_edit", ctx.run(&["run", "-j", "1"]).snapshot());
    std::fs::remove_dir_all(ctx.root().join("dist")).unwrap();
    assert_snapshot!("example_after_rm_dist", ctx.run(&["run", "-j", "1"]).snapshot());
    let hello = std::process::Command::new(ctx.root().join("dist/hello")).arg("attest").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&hello.stdout), "Hello, attest!\n");
}

#[test]
fn a_second_run_executes_nothing() {
    let ctx = diamond();
    ctx.run(&["run"]).success();
    assert_eq!(ctx.read("ran.log").lines().count(), 4);
    let outcome = ctx.run(&["run"]);
    outcome.success();
    assert_eq!(ctx.read("ran.log").lines().count(), 4, "a cached run executes no command");
    assert_eq!(
        outcome.step_lines(),
        [
            "[OK] gen ([DURATION]) - cache hit",
            "[OK] join ([DURATION]) - cache hit",
            "[OK] left ([DURATION]) - cache hit",
            "[OK] right ([DURATION]) - cache hit",
        ]
    );
    assert_eq!(ctx.read("out/join.txt"), "HELLO\nolleh\nbee\n");
}

#[test]
fn an_edit_reruns_exactly_its_cone() {
    let ctx = diamond();
    ctx.run(&["run"]).success();
    ctx.write("src/b.txt", "wasp\n");
    let outcome = ctx.run(&["run"]);
    assert_eq!(
        outcome.success().step_lines(),
        [
            "[OK] gen ([DURATION]) - cache hit",
            "[OK] join ([DURATION]) - cache miss (upstream changed: right)",
            "[OK] left ([DURATION]) - cache hit",
            "[OK] right ([DURATION]) - cache miss (input changed: src/b.txt)",
        ]
    );
    assert_eq!(ctx.read("out/join.txt"), "HELLO\nolleh\nwasp\n");
}

#[test]
fn touching_a_file_without_changing_it_runs_nothing() {
    let ctx = diamond();
    ctx.run(&["run"]).success();
    let path = ctx.root().join("src/a.txt");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
    let outcome = ctx.run(&["run"]);
    assert!(outcome.success().step_lines().iter().all(|l| l.ends_with("cache hit")), "{:?}", outcome.step_lines());
}

#[test]
fn deleted_or_edited_outputs_are_restored_from_the_cache() {
    let ctx = diamond();
    ctx.run(&["run"]).success();
    std::fs::remove_dir_all(ctx.root().join("out")).unwrap();
    let outcome = ctx.run(&["run"]);
    assert_eq!(
        outcome.success().step_lines(),
        [
            "[OK] gen ([DURATION]) - cache hit, restored 1 output",
            "[OK] join ([DURATION]) - cache hit, restored 1 output",
            "[OK] left ([DURATION]) - cache hit, restored 1 output",
            "[OK] right ([DURATION]) - cache hit, restored 1 output",
        ]
    );
    ctx.write("out/join.txt", "tampered\n");
    let outcome = ctx.run(&["run"]);
    assert!(
        outcome.success().step_lines().contains(&"[OK] join ([DURATION]) - cache hit, restored 1 output".to_owned())
    );
    assert_eq!(ctx.read("out/join.txt"), "HELLO\nolleh\nbee\n");
}

/// A restore killed between writing its temp file and renaming it leaves the temp file
/// beside the output: later runs take it neither for an input of the steps that read the
/// directory nor for part of the output.
#[test]
fn a_temp_file_left_by_a_killed_restore_is_no_input_and_no_output() {
    let ctx = TestContext::new().pipeline(
        r#"
version: "0.1"
steps:
  gen: { run: "mkdir -p dist && echo one > dist/a.txt", inputs: [], outputs: [dist] }
  use: { run: "cat dist/* > used.txt", needs: [gen], inputs: [dist], outputs: [used.txt] }
"#,
    );
    ctx.run(&["run"]).success();
    std::fs::remove_dir_all(ctx.root().join("dist")).unwrap();
    let restored = ctx.run(&["run"]);
    assert_eq!(
        restored.success().step_lines(),
        ["[OK] gen ([DURATION]) - cache hit, restored 1 output", "[OK] use ([DURATION]) - cache hit"]
    );
    ctx.write("dist/.attest-tmp-a1B2c3", "half a file");
    let again = ctx.run(&["run"]);
    assert_eq!(
        again.success().step_lines(),
        ["[OK] gen ([DURATION]) - cache hit", "[OK] use ([DURATION]) - cache hit"]
    );
    ctx.run(&["run", "--no-cache"]).success();
    assert_eq!(ctx.read("dist/a.txt"), "one\n");
    let rebuilt = ctx.run(&["run"]);
    assert_eq!(
        rebuilt.success().step_lines(),
        ["[OK] gen ([DURATION]) - cache hit", "[OK] use ([DURATION]) - cache hit"]
    );
}

#[test]
fn a_failure_skips_only_its_dependents_and_exits_1() {
    let ctx = TestContext::new().pipeline(
        r#"
version: "0.1"
steps:
  bad: { run: "echo compiling; echo 'error: no' >&2; exit 2", inputs: [] }
  after-bad: { run: "true", needs: [bad], inputs: [] }
  fine: { run: "mkdir -p o && echo ok > o/fine", inputs: [], outputs: [o/fine] }
"#,
    );
    let outcome = ctx.run(&["run", "-j", "1"]);
    assert_snapshot!("failure_skips_dependents", outcome.snapshot());
    assert!(ctx.exists("o/fine"));
}

#[test]
fn fail_fast_starts_nothing_after_a_failure() {
    let ctx = TestContext::new().pipeline(
        r#"
version: "0.1"
steps:
  bad: { run: "exit 1", inputs: [] }
  later: { run: "touch ran", inputs: [] }
"#,
    );
    let outcome = ctx.run(&["run", "-j", "1", "--fail-fast"]);
    assert_eq!(outcome.code, 1);
    assert!(!ctx.exists("ran"), "{}", outcome.snapshot());
    assert!(outcome.stderr.contains("[SKIP] later - --fail-fast after `bad` failed"), "{}", outcome.stderr);
}

/// Among ready steps the one with the longest chain of dependents starts first, also
/// when it becomes ready after shorter steps were handed to the workers: at most the one
/// step a worker took while the scheduler had not yet seen the chain's previous step end.
#[test]
fn the_longest_chain_starts_first_even_behind_steps_already_queued() {
    let mut yaml = String::from("version: \"0.1\"\nsteps:\n");
    for i in 0..10 {
        yaml.push_str(&format!("  s{i}: {{ run: \"echo s{i} >> order.log\", inputs: [] }}\n"));
    }
    yaml.push_str("  a: { run: \"echo a >> order.log\", inputs: [] }\n");
    yaml.push_str("  b: { run: \"echo b >> order.log\", inputs: [], needs: [a] }\n");
    yaml.push_str("  c: { run: \"echo c >> order.log\", inputs: [], needs: [b] }\n");
    let ctx = TestContext::new().pipeline(&yaml);
    ctx.run(&["run", "-j", "1"]).success();
    let order: Vec<String> = ctx.read("order.log").lines().map(str::to_owned).collect();
    let place = |step: &str| order.iter().position(|s| s == step).unwrap_or(usize::MAX);
    assert_eq!(place("a"), 0, "{order:?}");
    assert!(place("b") <= 2, "b waited behind the queued short steps: {order:?}");
    let short: Vec<&String> = order.iter().filter(|s| s.starts_with('s')).collect();
    assert_eq!(short, (0..10).map(|i| format!("s{i}")).collect::<Vec<_>>().iter().collect::<Vec<_>>());
    assert_eq!(order.len(), 13);
}

/// A dependent takes the stat of an upstream output found up to date only while the run
/// wrote nothing since: here a step executed in between rewrites that output (badly), and
/// the dependent's key holds what the file holds then.
#[test]
fn an_output_written_after_it_was_checked_is_looked_at_again() {
    let yaml = |suffix: &str| {
        format!(
            r#"
version: "0.1"
steps:
  a: {{ run: "printf a > a.txt", inputs: [], outputs: [a.txt] }}
  b: {{ run: "printf {suffix} >> a.txt && printf b > b.txt", inputs: [], outputs: [b.txt], needs: [a] }}
  c: {{ run: "cat a.txt > c.txt", inputs: [a.txt], outputs: [c.txt], needs: [b] }}
"#
        )
    };
    let ctx = TestContext::new().pipeline(&yaml("X"));
    ctx.run(&["run", "-j", "1"]).success();
    assert_eq!(ctx.read("c.txt"), "aX");
    // `a` finds its output up to date again; `b` then appends to it before `c` hashes it.
    ctx.write("a.txt", "a");
    ctx.write("attest.yaml", &yaml("Y"));
    // Older than the stat cache's racy margin, so that `a`'s check trusts its stat.
    std::thread::sleep(std::time::Duration::from_millis(120));
    ctx.run(&["run", "-j", "1"]).success();
    assert_eq!(ctx.read("c.txt"), "aY");
    let record: serde_json::Value = serde_json::from_str(&ctx.read(".attest/state/v1/keys/c.json")).unwrap();
    let inputs = record["inputs"].to_string();
    let expected = attest_hash::Digest::of_bytes(b"aY").hex();
    assert!(inputs.contains(&expected), "c's key holds a.txt as b left it: {inputs}");
}

#[test]
fn selected_steps_run_with_what_they_need_only() {
    let ctx = diamond();
    let outcome = ctx.run(&["run", "left"]);
    assert_eq!(
        outcome.success().step_lines(),
        ["[OK] gen ([DURATION]) - cache miss (no entry)", "[OK] left ([DURATION]) - cache miss (no entry)",]
    );
    let outcome = ctx.run(&["run", "lefft"]);
    assert_snapshot!("unknown_step", outcome.snapshot());
}

#[test]
fn env_is_strict_and_part_of_the_key() {
    let yaml = |value: &str| {
        format!(
            "version: \"0.1\"\nenv: {{ MODE: {value} }}\nsteps:\n  show:\n    run: mkdir -p o && echo \"$MODE ${{SECRET:-unset}} ${{PASS:-unset}}\" > o/env\n    inputs: []\n    outputs: [o/env]\n    env_passthrough: [PASS]\n"
        )
    };
    let ctx = TestContext::new().pipeline(&yaml("one"));
    let mut command = ctx.command(&["run"]);
    command.env("SECRET", "leak").env("PASS", "p1");
    ctx.run_command(command).success();
    assert_eq!(ctx.read("o/env"), "one unset p1\n", "undeclared host variables never reach the command");
    ctx.write("attest.yaml", &yaml("two"));
    let mut command = ctx.command(&["run"]);
    command.env("PASS", "p1");
    let outcome = ctx.run_command(command);
    assert_eq!(outcome.success().step_lines(), ["[OK] show ([DURATION]) - cache miss (env changed: MODE)"]);
    let mut command = ctx.command(&["run"]);
    command.env("PASS", "p2");
    let outcome = ctx.run_command(command);
    assert_eq!(outcome.success().step_lines(), ["[OK] show ([DURATION]) - cache miss (env changed: PASS)"]);
    // Unset differs from empty.
    let mut command = ctx.command(&["run"]);
    command.env("PASS", "");
    assert!(ctx.run_command(command).success().step_lines()[0].contains("env changed: PASS"));
}

#[test]
fn a_changed_command_invalidates() {
    let ctx = TestContext::new()
        .pipeline("version: \"0.1\"\nsteps:\n  a: { run: \"echo one > f\", inputs: [], outputs: [f] }\n");
    ctx.run(&["run"]).success();
    ctx.write("attest.yaml", "version: \"0.1\"\nsteps:\n  a: { run: \"echo two > f\", inputs: [], outputs: [f] }\n");
    assert_eq!(ctx.run(&["run"]).success().step_lines(), ["[OK] a ([DURATION]) - cache miss (command changed)"]);
    assert_eq!(ctx.read("f"), "two\n");
}

#[test]
fn default_inputs_are_the_workspace_minus_ignores_and_outputs() {
    let ctx = TestContext::new()
        .pipeline("version: \"0.1\"\nsteps:\n  all: { run: \"ls -R src > listing.txt\", outputs: [listing.txt] }\n");
    ctx.write("src/a.c", "a");
    ctx.write("src/scratch.tmp", "x");
    ctx.write(".attestignore", "*.tmp\n");
    ctx.run(&["run"]).success();
    ctx.write("src/scratch.tmp", "changed");
    assert_eq!(ctx.run(&["run"]).step_lines(), ["[OK] all ([DURATION]) - cache hit"]);
    ctx.write("src/a.c", "changed");
    assert_eq!(ctx.run(&["run"]).step_lines(), ["[OK] all ([DURATION]) - cache miss (input changed: src/a.c)"]);
}

#[test]
fn a_missing_declared_output_fails_the_step() {
    let ctx = TestContext::new()
        .pipeline("version: \"0.1\"\nsteps:\n  a: { run: \"true\", inputs: [], outputs: [dist/app] }\n");
    let outcome = ctx.run(&["run"]);
    assert_eq!(outcome.code, 1);
    assert_eq!(outcome.step_lines(), ["[FAIL] a ([DURATION]) - declared output missing: dist/app"]);
}

#[test]
fn timeouts_stop_the_whole_process_group() {
    let ctx = TestContext::new()
        .pipeline("version: \"0.1\"\nsteps:\n  slow: { run: \"sleep 60 & sleep 60\", inputs: [], timeout: 1s }\n");
    let started = std::time::Instant::now();
    let outcome = ctx.run(&["run"]);
    assert_eq!(outcome.code, 1);
    assert_eq!(outcome.step_lines(), ["[FAIL] slow ([DURATION]) - timed out after 1s"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// A step waiting for a free worker is not running: its timeout starts with it.
#[test]
fn a_queued_steps_timeout_counts_from_its_start() {
    let ctx = TestContext::new().pipeline(
        "version: \"0.1\"\nsteps:\n  first: { run: \"sleep 1.5\", inputs: [], cache: false }\n  second: { run: \"true\", inputs: [], cache: false, timeout: 1s }\n",
    );
    let outcome = ctx.run(&["run", "-j", "1"]);
    assert_eq!(
        outcome.success().step_lines(),
        ["[OK] first ([DURATION]) - cache disabled", "[OK] second ([DURATION]) - cache disabled"]
    );
}

#[test]
fn json_lines_events_on_stdout() {
    let ctx = diamond();
    let outcome = ctx.run(&["run", "-j", "1", "--format", "json", "gen"]);
    outcome.success();
    assert_snapshot!("json_events", crate::context::filter(&outcome.stdout, ctx.root()));
    for line in outcome.stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn verbose_and_stream_show_step_output() {
    let ctx = TestContext::new()
        .pipeline("version: \"0.1\"\nsteps:\n  talk: { run: \"echo first; echo second\", inputs: [], cache: false }\n");
    let verbose = ctx.run(&["run", "-v"]);
    assert!(verbose.success().stderr.contains("  | first\n  | second\n"), "{}", verbose.stderr);
    let streamed = ctx.run(&["run", "--stream"]);
    assert!(streamed.success().stderr.contains("[talk] first\n[talk] second\n"), "{}", streamed.stderr);
    let quiet = ctx.run(&["run", "--quiet"]);
    assert_eq!(quiet.success().stderr, "");
}

#[test]
fn dry_run_predicts_and_changes_nothing() {
    let ctx = diamond();
    let outcome = ctx.run(&["run", "--dry-run", "-j", "1"]);
    assert_snapshot!("dry_run_cold", outcome.snapshot());
    assert!(!ctx.exists("out"));
    assert!(!ctx.exists(".attest/cache"));
    ctx.run(&["run"]).success();
    ctx.write("src/b.txt", "changed\n");
    assert_snapshot!("dry_run_warm", ctx.run(&["run", "--dry-run"]).snapshot());
}

#[test]
fn explain_shows_the_key_parts_and_what_changed() {
    let ctx = diamond();
    ctx.run(&["run"]).success();
    ctx.write("src/a.txt", "changed\n");
    assert_snapshot!("explain_gen", ctx.run(&["explain", "gen"]).snapshot());
    let json = ctx.run(&["explain", "gen", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["changes"][0]["reason"], "input_changed");
    assert_eq!(value["changes"][0]["path"], "src/a.txt");
}

#[test]
fn the_pipeline_is_found_in_parent_directories_and_with_f() {
    let ctx = diamond();
    std::fs::create_dir_all(ctx.root().join("deep/er")).unwrap();
    let mut command = ctx.command(&["run"]);
    command.current_dir(ctx.root().join("deep/er"));
    ctx.run_command(command).success();
    assert!(ctx.exists("out/join.txt"));
    std::fs::rename(ctx.root().join("attest.yaml"), ctx.root().join("ci.yaml")).unwrap();
    ctx.run(&["run", "-f", "ci.yaml"]).success();
    let missing = ctx.run(&["run"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("hint: run `attest init`"), "{}", missing.stderr);
}

#[test]
fn bad_yaml_exits_2_with_every_error() {
    let ctx = TestContext::new().pipeline("version: \"0.1\"\nsteps:\n  a:\n    run: x\n    ouputs: [o]\n  b:\n    run: y\n    needs: [c]\n    timeout: soon\n");
    assert_snapshot!("bad_yaml", ctx.run(&["run"]).snapshot());
}

#[test]
fn a_corrupt_stat_cache_is_rebuilt_with_a_warning() {
    let ctx = diamond();
    ctx.run(&["run"]).success();
    ctx.write(".attest/state/v1/stat-cache.bin", "garbage");
    let outcome = ctx.run(&["run"]);
    assert!(outcome.success().stderr.contains("warning: stat cache"), "{}", outcome.stderr);
    assert!(outcome.step_lines().iter().all(|l| l.ends_with("cache hit")));
    assert!(!ctx.run(&["run"]).stderr.contains("warning"));
}

#[test]
fn a_corrupt_blob_is_never_restored() {
    let ctx = diamond();
    ctx.run(&["run"]).success();
    let blobs = ctx.root().join(".attest/cache/v2/cas");
    for blob in std::fs::read_dir(&blobs).unwrap() {
        std::fs::write(blob.unwrap().path(), "corrupted").unwrap();
    }
    std::fs::remove_dir_all(ctx.root().join("out")).unwrap();
    let outcome = ctx.run(&["run"]);
    outcome.success();
    assert!(outcome.stderr.contains("is unusable, running it again"), "{}", outcome.stderr);
    assert_eq!(ctx.read("out/join.txt"), "HELLO\nolleh\nbee\n");
    let verify = ctx.run(&["cache", "verify"]);
    assert_eq!(verify.code, 1, "{}", verify.snapshot());
}

#[test]
fn two_concurrent_runs_share_the_cache_safely() {
    let ctx = diamond();
    let first = ctx.command(&["run"]).spawn().unwrap();
    let second = ctx.command(&["run"]).output().unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success() && second.status.success());
    ctx.run(&["cache", "verify"]).success();
    assert!(ctx.run(&["run"]).step_lines().iter().all(|l| l.ends_with("cache hit")));
}
