//! `attest pipeline validate|schema`.

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
