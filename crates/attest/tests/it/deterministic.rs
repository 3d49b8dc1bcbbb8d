//! Deterministic mode end to end: the fixed environment, umask and output timestamps, and
//! a C build that gives the same bytes and the same cache keys in two checkout paths.

use std::process::Command;

use serde_json::Value;

use crate::context::TestContext;

const PIPELINE: &str = r#"version: "0.1"
deterministic: true
steps:
  compile:
    run: "mkdir -p out && cc -O2 -c main.c -o out/main.o && cc out/main.o -o out/app"
    inputs: [main.c]
    outputs: [out/main.o, out/app]
  probe:
    run: "mkdir -p probe && (env | sort | grep -v -e '^PATH=' -e '^PWD=' -e '^SHLVL=' -e '^_=' ; umask) > probe/env.txt"
    inputs: []
    outputs: [probe/env.txt]
"#;

const MAIN_C: &str = "#include <stdio.h>\nint main(void) { printf(\"%s\\n\", __DATE__); return 0; }\n";

fn checkout() -> TestContext {
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("main.c", MAIN_C);
    ctx
}

fn keys(ctx: &TestContext) -> Vec<(String, String)> {
    let out = ctx.run(&["audit", "history", "--format", "json"]);
    let history: Value = serde_json::from_str(&out.success().stdout).unwrap();
    let mut keys: Vec<(String, String)> = history["runs"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_owned(), s["cache_key"].as_str().unwrap().to_owned()))
        .collect();
    keys.sort();
    keys
}

#[test]
fn two_checkouts_build_identical_bytes_with_identical_keys() {
    let (a, b) = (checkout(), checkout());
    assert_ne!(a.root(), b.root());
    for ctx in [&a, &b] {
        ctx.run(&["run"]).success();
    }
    for file in ["out/main.o", "out/app"] {
        let (x, y) = (std::fs::read(a.root().join(file)).unwrap(), std::fs::read(b.root().join(file)).unwrap());
        assert!(x == y, "{file} differs between the two checkouts");
    }
    assert_eq!(keys(&a), keys(&b), "the same cache keys in both paths");
    // __DATE__ follows SOURCE_DATE_EPOCH (0 outside git): the build date is fixed.
    let app = Command::new(a.root().join("out/app")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&app.stdout), "Jan  1 1970\n");
}

#[test]
fn steps_get_the_fixed_environment_umask_and_output_mtimes() {
    let ctx = checkout();
    // Inside git, SOURCE_DATE_EPOCH is the last commit's time.
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(ctx.root())
            .env("GIT_AUTHOR_DATE", "@1700000000 +0000")
            .env("GIT_COMMITTER_DATE", "@1700000000 +0000")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&status.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "main.c", "attest.yaml"]);
    git(&["commit", "-q", "-m", "init"]);
    ctx.run(&["run", "probe"]).success();
    let env = ctx.read("probe/env.txt");
    for line in ["LANG=C.UTF-8", "LC_ALL=C.UTF-8", "PYTHONHASHSEED=0", "SOURCE_DATE_EPOCH=1700000000", "TZ=UTC", "0022"]
    {
        assert!(env.lines().any(|l| l == line), "{line} in\n{env}");
    }
    let home = env.lines().find_map(|l| l.strip_prefix("HOME=")).unwrap();
    assert!(home.contains("attest-home-"), "a fresh HOME: {home}");
    assert!(!std::path::Path::new(home).exists(), "removed after the step");
    let mtime = std::fs::metadata(ctx.root().join("probe/env.txt")).unwrap().modified().unwrap();
    assert_eq!(mtime.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), 1_700_000_000);

    // The receipt says the run was deterministic, with what.
    let receipt = attest_receipt::list_receipts(&ctx.root().join(".attest/receipts")).unwrap().pop().unwrap();
    let (_, statement) = attest_receipt::read_run_statement(&std::fs::read_to_string(receipt).unwrap()).unwrap();
    let run = statement.predicate.build_definition.internal_parameters.run;
    assert_eq!(run.deterministic.map(|d| (d.source_date_epoch, d.umask)), Some((1_700_000_000, 0o22)));
}

#[test]
fn config_and_flag_turn_it_on_for_a_pipeline_that_does_not_ask() {
    let ctx = TestContext::new().pipeline(&PIPELINE.replace("deterministic: true\n", ""));
    ctx.write("main.c", MAIN_C);
    ctx.run(&["run", "probe"]).success();
    assert!(!ctx.read("probe/env.txt").contains("SOURCE_DATE_EPOCH"), "off by default");
    ctx.run(&["config", "set", "deterministic", "true"]).success();
    let out = ctx.run(&["run", "probe"]);
    assert!(out.success().stderr.contains("cache miss (env changed"), "{}", out.stderr);
    assert!(ctx.read("probe/env.txt").contains("SOURCE_DATE_EPOCH=0"));
    let get = ctx.run(&["config", "get", "deterministic"]);
    assert_eq!(get.success().stdout.trim(), "true");
    let bad = ctx.run(&["config", "set", "colour", "red"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("known settings: deterministic"), "{}", bad.stderr);
    ctx.run(&["config", "set", "deterministic", "false"]).success();
    ctx.run(&["run", "probe", "--deterministic"]).success();
    assert!(ctx.read("probe/env.txt").contains("TZ=UTC"));
}
