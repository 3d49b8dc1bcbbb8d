//! `isolation: sandbox` (bubblewrap): hermetic steps, `--isolation`, `--explain-sandbox`.
//!
//! These run the real bubblewrap. Where it is missing they are skipped with a message,
//! except under CI (`CI` set), where `.ci/run` installs it and a missing one fails.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;

use insta::assert_snapshot;

use crate::context::{Outcome, TEST_PATH, TestContext};

fn bwrap_installed() -> bool {
    let found = TEST_PATH.split(':').any(|dir| Path::new(dir).join("bwrap").is_file());
    if !found {
        crate::context::skip_without("bubblewrap (`bwrap`)");
    }
    found
}

fn strace_installed() -> bool {
    let found = TEST_PATH.split(':').any(|dir| Path::new(dir).join("strace").is_file());
    if !found {
        crate::context::skip_without("strace");
    }
    found
}

/// The `isolation` the receipt of a run (by its `Receipt:` line) records for its first step.
pub(crate) fn recorded_isolation(ctx: &TestContext, outcome: &Outcome) -> serde_json::Value {
    let line = outcome.stderr.lines().find_map(|l| l.strip_prefix("Receipt: ")).unwrap();
    let path = ctx.root().join(line.split(' ').next().unwrap());
    let statement = crate::receipts::decoded_statements(path.to_str().unwrap()).remove(0);
    statement["predicate"]["buildDefinition"]["internalParameters"]["steps"][0]["isolation"].clone()
}

const UPPER: &str = r#"
version: "0.1"
steps:
  upper:
    run: mkdir -p out && tr a-z A-Z < src/in.txt > out/up.txt && id -u > out/uid.txt && hostname >> out/uid.txt
    isolation: sandbox
    inputs: [src/in.txt]
    outputs: [out/up.txt, out/uid.txt]
"#;

#[test]
fn a_sandboxed_step_reads_its_inputs_writes_its_outputs_and_is_cached() {
    if !bwrap_installed() {
        return;
    }
    let ctx = TestContext::new().pipeline(UPPER);
    ctx.write("src/in.txt", "hello\n");
    ctx.write("src/other.txt", "not declared\n");
    let outcome = ctx.run(&["run"]);
    outcome.success();
    assert_eq!(ctx.read("out/up.txt"), "HELLO\n");
    assert_eq!(ctx.read("out/uid.txt"), "1000\nattest\n", "fixed uid and hostname");
    let isolation = recorded_isolation(&ctx, &outcome);
    assert_eq!(isolation["level"], "sandbox");
    assert_eq!(isolation["sandbox"]["root"], "/work");
    assert_eq!(isolation["sandbox"]["system_paths"][0], "/usr");
    assert_eq!(isolation["sandbox"]["writable"], serde_json::json!(["out/up.txt", "out/uid.txt"]));
    assert_eq!(isolation["sandbox"]["network"], "loopback");

    std::fs::remove_file(ctx.root().join("out/up.txt")).unwrap();
    assert_eq!(ctx.run(&["run"]).success().step_lines(), ["[OK] upper ([DURATION]) - cache hit, restored 1 output"]);
    assert_eq!(ctx.read("out/up.txt"), "HELLO\n");
    // The level is part of the key: forcing another one is a miss that says so.
    let outcome = ctx.run(&["run", "--isolation", "process"]);
    // The sandbox's key names the Landlock ABI the receipt recorded, where the kernel has one.
    let landlock =
        isolation["sandbox"]["landlock_abi"].as_u64().map_or_else(String::new, |abi| format!("+landlock{abi}"));
    assert_eq!(
        outcome.success().step_lines(),
        [format!("[OK] upper ([DURATION]) - cache miss (isolation changed: sandbox{landlock} -> process)")]
    );
    assert_eq!(recorded_isolation(&ctx, &outcome), serde_json::json!({ "level": "process" }));
}

const READS_SECRET: &str = r#"
version: "0.1"
steps:
  leaky:
    run: cat src/main.c src/secret.h > out.txt
    isolation: sandbox
    inputs: [src/main.c]
    outputs: [out.txt]
"#;

#[test]
fn reading_an_undeclared_file_fails_and_explain_names_it() {
    if !bwrap_installed() || !strace_installed() {
        return;
    }
    let ctx = TestContext::new().pipeline(READS_SECRET);
    ctx.write("src/main.c", "int main;\n");
    ctx.write("src/secret.h", "#define KEY 1\n");
    assert_snapshot!(ctx.run(&["run"]).snapshot(), @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    warning: step `leaky` failed in its sandbox, where undeclared files do not exist; `attest run --explain-sandbox` names the ones it tried to open
    [FAIL] leaky ([DURATION]) - exit code 1
      | cat: src/secret.h: No such file or directory
    Failed: 0 ran, 0 cached, 1 failed, 0 skipped ([DURATION])
    Receipt: .attest/receipts/[RECEIPT].intoto.jsonl (unsigned; `attest run --sign` signs it)
    ");
    assert_snapshot!(ctx.run(&["run", "--explain-sandbox"]).snapshot(), @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    [FAIL] leaky ([DURATION]) - exit code 1; the step tried to open undeclared files: src/secret.h
      | cat: src/secret.h: No such file or directory
    Failed: 0 ran, 0 cached, 1 failed, 0 skipped ([DURATION])
    Receipt: .attest/receipts/[RECEIPT].intoto.jsonl (unsigned; `attest run --sign` signs it)
    ");
    // Declared, it is there.
    ctx.write("attest.yaml", &READS_SECRET.replace("inputs: [src/main.c]", "inputs: [src/main.c, src/secret.h]"));
    ctx.run(&["run"]).success();
    assert_eq!(ctx.read("out.txt"), "int main;\n#define KEY 1\n");
}

#[test]
fn the_network_is_unreachable_from_the_sandbox() {
    if !bwrap_installed() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let pipeline = format!(
        "version: \"0.1\"\nsteps:\n  fetch:\n    run: bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}'\n    inputs: []\n    cache: false\n"
    );
    let ctx = TestContext::new().pipeline(&pipeline);
    // As a plain process the listener is reachable: the test can tell the difference.
    ctx.run(&["run"]).success();
    assert!(listener.accept().is_ok(), "the process-level step connected");
    let outcome = ctx.run(&["run", "--isolation", "sandbox"]);
    assert_eq!(outcome.code, 1, "{}", outcome.snapshot());
    assert!(outcome.stderr.contains("Connection refused"), "{}", outcome.snapshot());
    assert!(matches!(listener.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock), "nothing connected");
}

const WRITES_AROUND: &str = r#"
version: "0.1"
steps:
  scribble:
    run: |
      echo changed > config.txt || echo "config.txt is read-only"
      echo changed > README || echo "README cannot be created"
      echo result > build/out.txt
      echo stray > build/stray.txt
    isolation: sandbox
    inputs: [config.txt]
    outputs: [build/out.txt]
"#;

#[test]
fn writing_outside_the_declared_outputs_fails_and_changes_nothing() {
    if !bwrap_installed() {
        return;
    }
    let ctx = TestContext::new().pipeline(WRITES_AROUND);
    ctx.write("config.txt", "original\n");
    ctx.write("README", "mine\n");
    assert_snapshot!(ctx.run(&["run"]).snapshot(), @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    [FAIL] scribble ([DURATION]) - wrote outside its declared outputs (discarded): build/stray.txt
      | sh: 1: cannot create config.txt: Read-only file system
      | config.txt is read-only
      | sh: 2: cannot create README: Read-only file system
      | README cannot be created
    Failed: 0 ran, 0 cached, 1 failed, 0 skipped ([DURATION])
    Receipt: .attest/receipts/[RECEIPT].intoto.jsonl (unsigned; `attest run --sign` signs it)
    ");
    assert_eq!(ctx.read("config.txt"), "original\n");
    assert_eq!(ctx.read("README"), "mine\n");
    assert!(!ctx.exists("build/stray.txt"));
    assert_eq!(ctx.read("build/out.txt"), "result\n", "the declared output is kept, as for any failed step");
}

#[test]
fn without_bubblewrap_a_sandboxed_step_fails_naming_it() {
    let ctx = TestContext::new().pipeline(UPPER);
    ctx.write("src/in.txt", "hello\n");
    let empty = tempfile::tempdir().unwrap();
    let mut command = ctx.command(&["run"]);
    command.env("PATH", empty.path());
    assert_snapshot!(ctx.run_command(command).snapshot(), @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    [FAIL] upper ([DURATION]) - isolation `sandbox` needs bubblewrap (`bwrap`); not found on PATH
    Failed: 0 ran, 0 cached, 1 failed, 0 skipped ([DURATION])
    Receipt: .attest/receipts/[RECEIPT].intoto.jsonl (unsigned; `attest run --sign` signs it)
    ");
}

const PROBES_LANDLOCK: &str = r#"
version: "0.1"
steps:
  confined:
    run: >-
      mkdir -p out && echo made > out/made.txt && echo scratch > /tmp/t && echo null > /dev/null &&
      { touch /dev/probe 2>/dev/null && echo dev-writable || echo dev-denied; } >> out/made.txt &&
      { kill -0 1 2>/dev/null && echo signal-sent || echo signal-denied; } >> out/made.txt
    isolation: sandbox
    inputs: [src/in.txt]
    outputs: [out/made.txt]
"#;

/// Landlock on top of the namespaces (this machine kind's kernel has it): the step still
/// writes its outputs, `/tmp` and `/dev/null`, but cannot create files in the sandbox's
/// `/dev` (a writable tmpfs to bubblewrap) nor signal bubblewrap, its PID 1, outside its
/// Landlock domain; the receipt names the ABI, which is also part of the key.
#[test]
fn landlock_confines_the_sandboxed_command_and_the_receipt_says_so() {
    if !bwrap_installed() {
        return;
    }
    let ctx = TestContext::new().pipeline(PROBES_LANDLOCK);
    ctx.write("src/in.txt", "x\n");
    let outcome = ctx.run(&["run"]);
    outcome.success();
    let isolation = recorded_isolation(&ctx, &outcome);
    let Some(abi) = isolation["sandbox"]["landlock_abi"].as_u64() else {
        crate::context::skip_without("a kernel with Landlock");
        return;
    };
    assert!((1..=6).contains(&abi), "{isolation}");
    let signal = if abi >= 6 { "signal-denied" } else { "signal-sent" };
    assert_eq!(ctx.read("out/made.txt"), format!("made\ndev-denied\n{signal}\n"));
    let explain = ctx.run(&["explain", "confined"]);
    let explained = format!("{}{}", explain.success().stdout, explain.stderr);
    assert!(explained.contains(&format!("sandbox+landlock{abi}")), "{explained}");
}
