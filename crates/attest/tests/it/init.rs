//! `attest init`.

use crate::context::TestContext;

#[test]
fn init_writes_a_working_starter() {
    let ctx = TestContext::new();
    ctx.write(".gitignore", "target/");
    let outcome = ctx.run(&["init"]);
    outcome.success();
    assert!(ctx.exists("attest.yaml") && ctx.exists(".attest/.gitignore") && ctx.exists(".attestignore"));
    assert_eq!(ctx.read(".gitignore"), "target/\n# attest\n/.attest/cache/\n/.attest/state/\n/.attest/lock\n");
    ctx.run(&["pipeline", "validate"]).success();
    let first = ctx.run(&["run"]);
    assert_eq!(
        first.success().step_lines(),
        ["[OK] count ([DURATION]) - cache miss (no entry)", "[OK] greet ([DURATION]) - cache miss (no entry)"]
    );
    assert_eq!(ctx.read("dist/count.txt").trim(), "18");
    let again = ctx.run(&["init"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("hint: keep it, or run `attest init --force`"), "{}", again.stderr);
    ctx.run(&["init", "--force"]).success();
    assert_eq!(ctx.read(".gitignore").matches("/.attest/cache/").count(), 1);
}
