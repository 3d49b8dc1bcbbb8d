//! `attest pipeline validate|schema|show`.

use std::process::{Command, Stdio};

use insta::assert_snapshot;

use crate::context::TestContext;

#[test]
fn validate_reports_every_problem_with_locations() {
    let ctx = TestContext::new().pipeline(
        "version: \"0.1\"\nsteps:\n  build:\n    run: make\n    ouputs: [dist]\n  test:\n    run: \"\"\n    needs: [biuld]\n    inputs: [../x]\n  cyc1: { run: x, needs: [cyc2] }\n  cyc2: { run: x, needs: [cyc1] }\n",
    );
    assert_snapshot!("validate_errors", ctx.run(&["pipeline", "validate"]).snapshot());
    let json = ctx.run(&["pipeline", "validate", "--format", "json"]);
    assert_eq!(json.code, 1);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["valid"], false);
    assert_eq!(value["errors"][0]["line"], 5);
    assert_eq!(value["errors"][0]["column"], 5);
    assert_eq!(value["errors"][0]["hint"], "did you mean `outputs`?");
}

#[test]
fn validate_accepts_the_bundled_example() {
    let ctx = TestContext::new();
    ctx.copy_example("hello-c");
    assert_snapshot!("validate_ok", ctx.run(&["pipeline", "validate"]).snapshot());
}

#[test]
fn the_checked_in_schema_matches_the_types() {
    let ctx = TestContext::new();
    let outcome = ctx.run(&["pipeline", "schema"]);
    outcome.success();
    let checked_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/attest.schema.json");
    let expected = std::fs::read_to_string(&checked_in).unwrap_or_default();
    if expected != outcome.stdout && std::env::var_os("ATTEST_UPDATE_SCHEMA").is_some() {
        std::fs::write(&checked_in, &outcome.stdout).unwrap();
        return;
    }
    assert_eq!(
        expected, outcome.stdout,
        "schemas/attest.schema.json is out of date; regenerate it with `ATTEST_UPDATE_SCHEMA=1 cargo test -p attest --test it schema`"
    );
}

#[test]
fn show_draws_the_bundled_example_by_levels() {
    let ctx = TestContext::new();
    ctx.copy_example("hello-c");
    let outcome = ctx.run(&["pipeline", "show"]);
    assert_snapshot!("show_example", outcome.snapshot());
    assert!(outcome.stdout.lines().all(|line| line.chars().count() <= 80), "{}", outcome.stdout);
}

#[test]
fn show_json_is_one_object_with_the_analysis() {
    let ctx = TestContext::new();
    ctx.copy_example("hello-c");
    let outcome = ctx.run(&["pipeline", "show", "--format", "json"]);
    outcome.success();
    let value: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(
        value["critical_path"]["steps"],
        serde_json::json!(["configure", "compile-main", "link", "test", "package"])
    );
    assert_eq!(value["critical_path"]["length"], 5);
    assert_eq!(value["critical_path"]["unit"], "steps");
    assert_eq!(value["depth"], 5);
    assert_eq!(value["max_parallelism"], 2);
    assert_eq!(value["levels"][1], serde_json::json!(["compile-main", "compile-greet"]));
    assert_eq!(value["bottlenecks"][0], serde_json::json!({"step": "configure", "dependents": 5}));
    let package = &value["steps"][5];
    assert_eq!(package["name"], "package");
    assert_eq!(package["needs"], serde_json::json!(["link", "test"]));
    assert_eq!(package["on_critical_path"], true);
    assert_eq!(package["weight_seconds"], serde_json::Value::Null);
}

#[test]
fn show_mermaid_of_names_mermaid_cannot_take_as_ids() {
    let ctx = TestContext::new().pipeline(
        "version: \"0.1\"\nsteps:\n  build.linux-x86_64: { run: \"true\", inputs: [] }\n  end: { run: \"true\", inputs: [], needs: [build.linux-x86_64] }\n",
    );
    let outcome = ctx.run(&["pipeline", "show", "--format", "mermaid", "-f", "attest.yaml"]);
    assert_snapshot!(outcome.snapshot(), @r#"
    exit: 0
    ----- stdout -----
    flowchart LR
      s0["build.linux-x86_64"]
      s1["end"]
      s0 --> s1
      classDef critical stroke:#cc3333,stroke-width:3px
      class s0,s1 critical
      linkStyle 0 stroke:#cc3333,stroke-width:3px
    ----- stderr -----
    "#);
}

/// Graphviz's `dot` renders our DOT. In CI (`CI` set) a missing `dot` is a failure:
/// `.ci/run` installs graphviz.
#[test]
fn show_dot_renders_with_graphviz() {
    if let Err(error) = Command::new("dot").arg("-V").stderr(Stdio::null()).status() {
        crate::context::skip_without(&format!("graphviz `dot` ({error})"));
        return;
    }
    let ctx = TestContext::new().pipeline(
        "version: \"0.1\"\nname: \"quotes \\\" and spaces\"\nsteps:\n  gen: { run: \"true\", inputs: [] }\n  build.lib-a: { run: \"true\", inputs: [], needs: [gen] }\n  build.lib-b: { run: \"true\", inputs: [], needs: [gen] }\n  pack_all: { run: \"true\", inputs: [], needs: [build.lib-a, build.lib-b] }\n",
    );
    let outcome = ctx.run(&["pipeline", "show", "--format", "dot"]);
    outcome.success();
    assert!(outcome.stdout.starts_with("digraph \"quotes \\\" and spaces\" {"), "{}", outcome.stdout);
    let svg = ctx.root().join("pipeline.svg");
    let mut dot = Command::new("dot")
        .args(["-Tsvg", "-o"])
        .arg(&svg)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut dot.stdin.take().unwrap(), outcome.stdout.as_bytes()).unwrap();
    let output = dot.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "dot -Tsvg failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        outcome.stdout
    );
    let svg = std::fs::read_to_string(svg).unwrap();
    assert_eq!(svg.matches("class=\"node\"").count(), 4, "{svg}");
    assert_eq!(svg.matches("class=\"edge\"").count(), 4, "{svg}");
    // Graphviz writes `-` as `&#45;` in SVG text.
    assert!(svg.contains(">build.lib&#45;a</text>"), "{svg}");
}

#[test]
fn show_reports_pipeline_errors_like_validate() {
    let ctx = TestContext::new().pipeline("version: \"0.1\"\nsteps:\n  a: { run: x, needs: [b] }\n");
    let outcome = ctx.run(&["pipeline", "show"]);
    assert_eq!(outcome.code, 2, "{}", outcome.snapshot());
    assert!(outcome.stdout.is_empty());
    assert!(outcome.stderr.contains("error: step `a` needs `b`, which is not a step"), "{}", outcome.stderr);
}
