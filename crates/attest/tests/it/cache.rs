//! `attest cache stats|gc|clean|verify` and cache limits.

use crate::context::TestContext;

fn pipeline(extra: &str) -> TestContext {
    let mut yaml = format!("version: \"0.1\"\n{extra}steps:\n");
    for i in 0..4 {
        yaml.push_str(&format!("  s{i}: {{ run: \"mkdir -p o && head -c 100000 /dev/zero | tr '\\\\0' '{i}' > o/{i}\", inputs: [], outputs: [o/{i}] }}\n"));
    }
    TestContext::new().pipeline(&yaml)
}

#[test]
fn stats_verify_gc_and_clean() {
    let ctx = pipeline("");
    ctx.run(&["run"]).success();
    let stats = ctx.run(&["cache", "stats", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&stats.success().stdout).unwrap();
    assert_eq!(value["stats"]["entries"], 4);
    assert!(value["stats"]["bytes"].as_u64().unwrap() >= 400_000);
    ctx.run(&["cache", "verify"]).success();
    let gc = ctx.run(&["cache", "gc", "--max-size", "250KB", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&gc.success().stdout).unwrap();
    assert!(value["gc"]["bytes_after"].as_u64().unwrap() <= 250_000, "{value}");
    assert!(value["gc"]["entries_removed"].as_u64().unwrap() >= 2);
    let bad = ctx.run(&["cache", "gc", "--max-size", "lots"]);
    assert_eq!(bad.code, 2);
    ctx.run(&["cache", "clean"]).success();
    let stats = ctx.run(&["cache", "stats", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&stats.stdout).unwrap();
    assert_eq!(value["stats"]["entries"], 0);
    assert!(ctx.run(&["run"]).step_lines().iter().all(|l| l.contains("cache miss (no entry)")));
}

#[test]
fn max_size_is_enforced_after_each_run_and_compression_works() {
    let ctx = pipeline("cache: { max_size: \"250KB\", compression: true }\n");
    ctx.run(&["run"]).success();
    let stats = ctx.run(&["cache", "stats", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&stats.stdout).unwrap();
    // Compressed, 4 x 100 kB of one repeated byte is tiny: nothing needs evicting.
    assert_eq!(value["stats"]["entries"], 4, "{value}");
    assert!(value["stats"]["bytes"].as_u64().unwrap() < 50_000, "{value}");
    std::fs::remove_dir_all(ctx.root().join("o")).unwrap();
    ctx.run(&["run"]).success();
    assert_eq!(ctx.read("o/3").len(), 100_000);
}

#[test]
fn no_cache_and_cache_false_always_run() {
    let ctx = TestContext::new().pipeline("version: \"0.1\"\nsteps:\n  a: { run: \"echo a >> log\", inputs: [], cache: false }\n  b: { run: \"echo b >> log\", inputs: [] }\n");
    ctx.run(&["run", "-j", "1"]).success();
    ctx.run(&["run", "-j", "1"]).success();
    ctx.run(&["run", "-j", "1", "--no-cache"]).success();
    let mut log: Vec<String> = ctx.read("log").lines().map(str::to_owned).collect();
    log.sort();
    assert_eq!(log, ["a", "a", "a", "b", "b"]);
}

#[test]
fn hash_prints_b3sum_compatible_digests() {
    let ctx = TestContext::new();
    ctx.write("src/a.txt", "alpha\n");
    ctx.write("src/sub/b.txt", "");
    let outcome = ctx.run(&["hash", "src", "src/a.txt"]);
    assert_eq!(
        outcome.success().stdout,
        // b3sum of "alpha\n" and of the empty input.
        format!(
            "{a}  src/a.txt\naf1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262  src/sub/b.txt\n{a}  src/a.txt\n",
            a = "ac678d92b3d739773d18cd952cfcea443fa4a5a98ffc9554b66795bb22d5532d"
        )
    );
    assert_eq!(ctx.run(&["hash", "nothing/**"]).code, 2);
}
