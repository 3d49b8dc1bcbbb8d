//! The cache-key contract: keys of reference pipelines are pinned. A change here means
//! every user's cache is invalidated; it must come with a `KEY_VERSION` bump and review.

use insta::assert_snapshot;

use crate::context::TestContext;

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn reference_pipeline_keys_are_stable() {
    let ctx = TestContext::new().pipeline(
        r#"
version: "0.1"
env: { MODE: release }
steps:
  gen:
    run: mkdir -p out && cat src/*.txt > out/gen.txt
    inputs: ["src/*.txt", "!src/skip.txt"]
    outputs: [out/gen.txt]
  use:
    run: wc -c out/gen.txt > out/use.txt
    needs: [gen]
    inputs: [out/gen.txt]
    outputs: [out/use.txt]
    env: { EXTRA: "1" }
    shell: bash
"#,
    );
    ctx.write("src/a.txt", "alpha\n");
    ctx.write("src/b.txt", "beta\n");
    ctx.write("src/skip.txt", "ignored\n");
    ctx.run(&["run"]).success();
    let mut keys = String::new();
    for step in ["gen", "use"] {
        let outcome = ctx.run(&["explain", step, "--format", "json"]);
        let value: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
        keys.push_str(&format!(
            "{step}: {}\n  inputs: {}\n",
            value["key"].as_str().unwrap(),
            value["parts"]["inputs"].as_str().unwrap()
        ));
    }
    assert_snapshot!("reference_keys", keys);
}
