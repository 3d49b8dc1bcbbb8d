//! `attest watch`: runs with a watcher find every change a run without one finds.

use crate::context::TestContext;

const PIPELINE: &str = r#"version: "0.1"
steps:
  one:
    run: "mkdir -p out && cat src/one/* > out/one.txt"
    inputs: [src/one/**]
    outputs: [out/one.txt]
  two:
    run: "mkdir -p out && cat src/two/* > out/two.txt"
    inputs: [src/two/**]
    outputs: [out/two.txt]
"#;

/// Stops the workspace's watcher however the test ends.
struct Watching<'a>(&'a TestContext);

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["watch", "--stop"]);
    }
}

fn run_json(ctx: &TestContext) -> Vec<serde_json::Value> {
    let outcome = ctx.run(&["run", "--format", "json"]);
    outcome.success();
    outcome.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn ran(events: &[serde_json::Value]) -> Vec<String> {
    let mut ran: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["cache"]["status"] == "miss")
        .map(|e| e["step"].as_str().unwrap().to_owned())
        .collect();
    ran.sort();
    ran
}

#[test]
fn runs_with_a_watcher_see_every_change_and_skip_nothing() {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src/one/a.txt", "a");
    ctx.write("src/two/b.txt", "b");
    assert_eq!(ctx.run(&["watch", "--status"]).code, 1, "none yet");
    let started = ctx.run(&["watch", "--background"]);
    started.success();
    let _watching = Watching(&ctx);
    assert!(started.stderr.contains("watching"), "{}", started.stderr);
    let status: serde_json::Value =
        serde_json::from_str(&ctx.run(&["watch", "--status", "--format", "json"]).success().stdout).unwrap();
    assert!(status["pid"].as_u64().unwrap() > 0 && status["directories"].as_u64().unwrap() >= 3, "{status}");
    assert!(ctx.run(&["watch"]).stderr.contains("already running"), "a second watcher is refused");

    let first = run_json(&ctx);
    assert_eq!(first[0]["watcher"], serde_json::json!({ "changed_directories": null }), "no token yet");
    assert_eq!(ran(&first), ["one", "two"]);
    let null = run_json(&ctx);
    assert!(null[0]["watcher"]["changed_directories"].is_u64(), "{}", null[0]);
    assert_eq!(ran(&null), Vec::<String>::new());

    // An edit, an attribute change, a directory replaced: each found, and only its step
    // runs.
    ctx.write("src/one/a.txt", "edited");
    assert_eq!(ran(&run_json(&ctx)), ["one"]);
    assert_eq!(ran(&run_json(&ctx)), Vec::<String>::new());
    let b = ctx.root().join("src/two/b.txt");
    std::fs::set_permissions(&b, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(ran(&run_json(&ctx)), ["two"], "executable bit");
    std::fs::remove_dir_all(ctx.root().join("src/one")).unwrap();
    ctx.write("src/one/c.txt", "c");
    assert_eq!(ran(&run_json(&ctx)), ["one"]);
    std::fs::rename(ctx.root().join("src/two"), ctx.root().join("src/old")).unwrap();
    ctx.write("src/two/b.txt", "new b");
    let moved = run_json(&ctx);
    assert_eq!(moved[0]["watcher"]["changed_directories"], serde_json::Value::Null, "a move: every file checked");
    assert_eq!(ran(&moved), ["two"]);
    assert_eq!(ran(&run_json(&ctx)), Vec::<String>::new());
    assert_eq!(ctx.read("out/one.txt"), "c");
    assert_eq!(ctx.read("out/two.txt"), "new b");

    ctx.run(&["watch", "--stop"]).success();
    assert_eq!(ctx.run(&["watch", "--status"]).code, 1);
    // Without the watcher, runs stat every file again.
    ctx.write("src/two/b.txt", "newer b");
    let alone = run_json(&ctx);
    assert_eq!(alone[0]["watcher"], serde_json::Value::Null);
    assert_eq!(ran(&alone), ["two"]);
}

#[test]
fn a_watcher_leaves_when_its_workspace_state_is_deleted() {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src/one/a.txt", "a");
    ctx.write("src/two/b.txt", "b");
    ctx.run(&["watch", "--background"]).success();
    let _watching = Watching(&ctx);
    let status: serde_json::Value =
        serde_json::from_str(&ctx.run(&["watch", "--status", "--format", "json"]).success().stdout).unwrap();
    let pid = status["pid"].as_u64().unwrap();
    std::fs::remove_dir_all(ctx.root().join(".attest")).unwrap();
    // Gone, or a zombie its new parent has not reaped yet.
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!running(), "the watcher (pid {pid}) is still running");
    // Runs carry on without it.
    ctx.run(&["run"]).success();
}

/// Runs the pipeline: the git state its receipt records, (commit, dirty).
fn run_git_state(ctx: &TestContext) -> (String, bool) {
    let receipt = run_json(ctx).into_iter().find(|e| e["event"] == "receipt").expect("a receipt event");
    let path = ctx.root().join(receipt["path"].as_str().unwrap()).display().to_string();
    let statement = &crate::receipts::decoded_statements(&path)[0];
    let git = &statement["predicate"]["buildDefinition"]["internalParameters"]["environment"]["git"];
    (git["commit"].as_str().unwrap().to_owned(), git["dirty"].as_bool().unwrap())
}

#[test]
fn a_clean_git_tree_kept_from_the_last_run_ends_with_any_change() {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src/one/a.txt", "a");
    ctx.write("src/two/b.txt", "b");
    ctx.write("notes.txt", "tracked, no step's input");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(ctx.root())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "attest.yaml", "src", "notes.txt"]);
    git(&["commit", "-q", "-m", "one"]);
    ctx.run(&["watch", "--background"]).success();
    let _watching = Watching(&ctx);
    let kept = || ctx.exists(".attest/state/v1/git-clean");

    // A run proves the tree clean from git's index and keeps the verdict (git's index may
    // need one `git status` first, for files written in the instant it was).
    let mut commit = String::new();
    for _ in 0..5 {
        let (head, dirty) = run_git_state(&ctx);
        assert!(!dirty, "clean");
        commit = head;
        if kept() {
            break;
        }
    }
    assert!(kept(), "a proof with a watcher running is kept");
    assert_eq!(run_git_state(&ctx), (commit.clone(), false), "the kept verdict holds while nothing changes");
    assert!(kept());

    // A tracked file no step reads: only the watcher can tell the kept verdict it changed.
    ctx.write("notes.txt", "edited");
    assert_eq!(run_git_state(&ctx), (commit.clone(), true));
    assert!(!kept(), "a dirty tree forgets the verdict");
    ctx.write("notes.txt", "tracked, no step's input");
    run_git_state(&ctx);
    ctx.write("src/one/a.txt", "edited");
    assert_eq!(run_git_state(&ctx), (commit.clone(), true), "a step's input edited");

    // A new commit: a new HEAD, proved clean again.
    git(&["commit", "-q", "-am", "two"]);
    let mut state = (String::new(), true);
    for _ in 0..5 {
        state = run_git_state(&ctx);
        if kept() {
            break;
        }
    }
    assert!(state.0 != commit && !state.1, "committed: {state:?}");
    assert!(kept(), "proved clean with a watcher running");
    assert_eq!(run_git_state(&ctx), state);
}
