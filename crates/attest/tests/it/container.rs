//! `isolation: container` (podman): a step in an image pinned by digest.
//!
//! No registry is reachable from the test machines, so the image is built offline once per
//! test binary from Debian's busybox-static (`/bin/busybox` and a symlink per applet,
//! `podman import`ed as `localhost/attest-it-busybox`). Where podman or busybox-static is
//! missing these tests are skipped with a message, except under CI (`CI` set), where
//! `.ci/run` installs them and a missing one fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use insta::assert_snapshot;

use crate::context::{TEST_PATH, TestContext};

fn find(program: &str) -> Option<PathBuf> {
    TEST_PATH.split(':').map(|dir| Path::new(dir).join(program)).find(|p| p.is_file())
}

/// The pinned reference (`localhost/attest-it-busybox@sha256:…`) of the test image,
/// built the first time it is asked for; `None` (skip) without podman or busybox.
fn test_image() -> Option<&'static str> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE.get_or_init(build_image).as_deref()
}

fn build_image() -> Option<String> {
    let (Some(podman), Some(busybox)) = (find("podman"), find("busybox")) else {
        crate::context::skip_without("podman or busybox-static");
        return None;
    };
    // The tag names the busybox it holds, so an image left by an earlier run is reused.
    let size = std::fs::metadata(&busybox).unwrap().len();
    let name = format!("localhost/attest-it-busybox:v1-{size}");
    let inspect = |name: &str| {
        let output = Command::new(&podman)
            .args(["image", "inspect", "--format", "{{.Digest}}", name])
            .env("PATH", TEST_PATH)
            .output()
            .unwrap();
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    if inspect(&name).is_none() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(&busybox, bin.join("busybox")).unwrap();
        let list = Command::new(&busybox).arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox") {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let tar = dir.path().join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(dir.path().join("rootfs"))
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .env("PATH", TEST_PATH)
            .status()
            .unwrap();
        assert!(status.success(), "tar failed");
        let output = Command::new(&podman)
            .arg("import")
            .arg("--quiet")
            .arg(&tar)
            .arg(&name)
            .env("PATH", TEST_PATH)
            .output()
            .unwrap();
        assert!(output.status.success(), "podman import: {}", String::from_utf8_lossy(&output.stderr));
    }
    let digest = inspect(&name).expect("the imported image exists");
    assert!(digest.starts_with("sha256:"), "{digest}");
    Some(format!("localhost/attest-it-busybox@{digest}"))
}

const UPPER: &str = r#"
version: "0.1"
steps:
  upper:
    run: mkdir -p out && tr a-z A-Z < src/in.txt > out/up.txt && ls src > out/seen.txt && cat /proc/net/dev > out/net.txt && echo $GREETING
    isolation: container
    image: IMAGE
    env: { GREETING: hello-from-the-container }
    inputs: [src/in.txt]
    outputs: [out/up.txt, out/seen.txt, out/net.txt]
"#;

#[test]
fn a_container_step_runs_in_the_pinned_image_and_is_cached() {
    let Some(image) = test_image() else { return };
    let ctx = TestContext::new().pipeline(&UPPER.replace("IMAGE", image));
    ctx.write("src/in.txt", "hello\n");
    ctx.write("src/other.txt", "not declared\n");
    let outcome = ctx.run(&["run", "--stream"]);
    outcome.success();
    assert!(outcome.stderr.contains("[upper] hello-from-the-container"), "{}", outcome.snapshot());
    assert_eq!(ctx.read("out/up.txt"), "HELLO\n");
    assert_eq!(ctx.read("out/seen.txt"), "in.txt\n", "only declared inputs are visible");
    let net = ctx.read("out/net.txt");
    assert!(net.contains("lo:") && net.lines().count() == 3, "only loopback: {net}");
    let isolation = crate::sandbox::recorded_isolation(&ctx, &outcome);
    let digest = image.split_once('@').unwrap().1;
    assert_eq!(isolation["level"], "container");
    assert_eq!(isolation["container"]["image"], image);
    assert_eq!(isolation["container"]["digest"], digest);
    assert_eq!(isolation["container"]["network"], "none");
    assert_eq!(isolation["container"]["writable"], serde_json::json!(["out/up.txt", "out/seen.txt", "out/net.txt"]));

    std::fs::remove_file(ctx.root().join("out/up.txt")).unwrap();
    let outcome = ctx.run(&["run"]);
    assert_eq!(outcome.success().step_lines(), ["[OK] upper ([DURATION]) - cache hit, restored 1 output"]);
    assert_eq!(ctx.read("out/up.txt"), "HELLO\n");
    assert_eq!(crate::sandbox::recorded_isolation(&ctx, &outcome)["container"]["digest"], digest);
    // The level (with the digest) is part of the key.
    let outcome = ctx.run(&["run", "--isolation", "process"]);
    assert_eq!(
        outcome.success().step_lines(),
        ["[OK] upper ([DURATION]) - cache miss (isolation changed: container:sha256:[HEX] -> process)"]
    );
}

#[test]
fn writes_beside_the_outputs_fail_the_step() {
    let Some(image) = test_image() else { return };
    let ctx = TestContext::new().pipeline(&format!(
        "version: \"0.1\"\nsteps:\n  w:\n    run: echo x > out.txt && echo y > stray.txt && touch /etc/x || true\n    isolation: container\n    image: {image}\n    inputs: []\n    outputs: [out.txt]\n"
    ));
    let outcome = ctx.run(&["run"]);
    assert_eq!(outcome.code, 1, "{}", outcome.snapshot());
    assert!(outcome.stderr.contains("stray.txt"), "{}", outcome.snapshot());
    assert!(!ctx.exists("stray.txt"));
}

#[test]
fn the_root_is_read_only_and_a_timed_out_container_is_stopped() {
    let Some(image) = test_image() else { return };
    let ctx = TestContext::new().pipeline(&format!(
        "version: \"0.1\"\nsteps:\n  w:\n    run: touch /etc/x; sleep 30\n    isolation: container\n    image: {image}\n    timeout: 1s\n"
    ));
    let started = std::time::Instant::now();
    let outcome = ctx.run(&["run"]);
    // `--init` forwards podman's SIGTERM to the shell, which as PID 1 would ignore it.
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(outcome.code, 1, "{}", outcome.snapshot());
    assert!(outcome.stderr.contains("timed out after 1s"), "{}", outcome.snapshot());
    assert!(outcome.stderr.contains("touch: /etc/x: Read-only file system"), "{}", outcome.snapshot());
}

#[test]
fn a_tag_without_digest_is_refused_with_how_to_pin_it() {
    let ctx = TestContext::new().pipeline(
        "version: \"0.1\"\nsteps:\n  a:\n    run: \"true\"\n    isolation: container\n    image: busybox:stable\n",
    );
    assert_snapshot!(ctx.run(&["run"]).snapshot(), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    error: image `busybox:stable` of step `a` is not pinned by digest
     --> attest.yaml:6:12
      |
    6 |     image: busybox:stable
      |            ^^^^^^^
      = hint: pin it as `busybox:stable@sha256:<digest>`; `podman image inspect --format '{{.Digest}}' busybox:stable` prints the digest of a local image

    error: attest.yaml has 1 problem
    ");
}

#[test]
fn a_missing_podman_is_named() {
    let ctx = TestContext::new().pipeline(&format!(
        "version: \"0.1\"\nsteps:\n  a:\n    run: \"true\"\n    isolation: container\n    image: localhost/x@sha256:{}\n",
        "0".repeat(64)
    ));
    let mut command = ctx.command(&["run"]);
    command.env("PATH", "/nonexistent");
    let outcome = ctx.run_command(command);
    assert_eq!(outcome.code, 1, "{}", outcome.snapshot());
    assert!(
        outcome
            .stderr
            .contains("isolation `container` needs podman, or runc and umoci (for local OCI images); none found"),
        "{}",
        outcome.snapshot()
    );
}

/// Saves the test image as an OCI archive at `images/busybox.tar` in `ctx`'s workspace
/// (what `podman save --format oci-archive` writes) and returns its manifest digest.
fn save_test_archive(ctx: &TestContext, image: &str) -> String {
    let podman = find("podman").unwrap();
    std::fs::create_dir_all(ctx.root().join("images")).unwrap();
    let name = image.split_once('@').unwrap().0;
    let tag = Command::new(&podman)
        .args(["image", "list", "--format", "{{.Repository}}:{{.Tag}}", "--filter", &format!("reference={name}")])
        .env("PATH", TEST_PATH)
        .output()
        .unwrap();
    let tagged = String::from_utf8_lossy(&tag.stdout).lines().next().unwrap().to_owned();
    let status = Command::new(&podman)
        .args(["save", "--quiet", "--format", "oci-archive", "-o"])
        .arg(ctx.root().join("images/busybox.tar"))
        .arg(&tagged)
        .env("PATH", TEST_PATH)
        .status()
        .unwrap();
    assert!(status.success(), "podman save");
    attest_exec::local_image_digest(&ctx.root().join("images/busybox.tar")).unwrap()
}

/// A local OCI archive in the workspace (`image: oci-archive:PATH`): podman loads it, and
/// its manifest digest, read from the archive's index.json, is in the key and the receipt.
#[test]
fn a_local_oci_archive_runs_and_its_manifest_digest_is_recorded() {
    let Some(image) = test_image() else { return };
    let ctx = TestContext::new().pipeline(
        "version: \"0.1\"\nsteps:\n  up:\n    run: mkdir -p out && tr a-z A-Z < in.txt > out/up.txt\n    isolation: container\n    image: oci-archive:images/busybox.tar\n    inputs: [in.txt]\n    outputs: [out/up.txt]\n",
    );
    ctx.write("in.txt", "local\n");
    let expected = save_test_archive(&ctx, image);
    let outcome = ctx.run(&["run"]);
    outcome.success();
    assert_eq!(ctx.read("out/up.txt"), "LOCAL\n");
    let isolation = crate::sandbox::recorded_isolation(&ctx, &outcome);
    assert_eq!(isolation["container"]["image"], "oci-archive:images/busybox.tar");
    assert_eq!(isolation["container"]["digest"], expected.as_str());
    assert_eq!(isolation["container"]["engine"], "podman");
    assert!(expected.starts_with("sha256:") && expected.len() == 71, "{expected}");
}

fn runc_available() -> bool {
    let found = find("runc").is_some() && find("umoci").is_some();
    if !found {
        crate::context::skip_without("runc and umoci");
    }
    found
}

const RUNC_STEP: &str = r#"
version: "0.1"
steps:
  up:
    run: |
      mkdir -p out
      tr a-z A-Z < src/in.txt > out/up.txt
      echo "host=$(hostname) net=$(ls /sys/class/net) uid=$(id -u)" >> out/up.txt
      ls /work >> out/up.txt
      echo x > src/in.txt || echo "inputs are read-only"
      echo x > /x || echo "the root is read-only"
      echo scratch > /tmp/t && cat /tmp/t
    isolation: container
    image: oci-archive:images/busybox.tar
    inputs: [src/in.txt]
    outputs: [out/up.txt]
"#;

/// Without podman (`ATTEST_CONTAINER_ENGINE=runc` stands in for a host without it), runc
/// runs the step over the image umoci unpacked once into `.attest/containers/<digest>/`,
/// with the same isolation as podman's containers, and the receipt names the engine.
#[test]
fn the_runc_engine_runs_a_local_image_as_podman_would() {
    let Some(image) = test_image() else { return };
    if !runc_available() {
        return;
    }
    let ctx = TestContext::new().pipeline(RUNC_STEP);
    ctx.write("src/in.txt", "hello\n");
    ctx.write("undeclared.txt", "not shown\n");
    let digest = save_test_archive(&ctx, image);
    let run = |args: &[&str]| {
        let mut command = ctx.command(args);
        command.env("ATTEST_CONTAINER_ENGINE", "runc");
        ctx.run_command(command)
    };
    let outcome = run(&["run", "-v"]);
    outcome.success();
    assert_eq!(ctx.read("out/up.txt"), "HELLO\nhost=attest net=lo uid=0\nout\nsrc\n");
    let text = outcome.snapshot();
    for said in ["inputs are read-only", "the root is read-only", "scratch"] {
        assert!(text.contains(said), "{said}: {text}");
    }
    assert_eq!(ctx.read("src/in.txt"), "hello\n");
    let isolation = crate::sandbox::recorded_isolation(&ctx, &outcome);
    assert_eq!(isolation["container"]["engine"], "runc");
    assert_eq!(isolation["container"]["digest"], digest.as_str());

    // Unpacked once: the next execution reuses the root file system.
    let rootfs = ctx.root().join(".attest/containers").join(digest.trim_start_matches("sha256:")).join("rootfs");
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(&rootfs).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        (names, std::fs::metadata(&rootfs).unwrap().modified().unwrap())
    };
    let before = listing();
    run(&["run", "--no-cache"]).success();
    assert_eq!(listing(), before, "the shared root file system is not written to");
    assert!(!ctx.root().join(".attest/sandbox/0").exists(), "the scratch directory is removed");
}

/// runc runs local images only: a registry reference pinned by digest needs podman.
#[test]
fn the_runc_engine_refuses_registry_references() {
    let ctx = TestContext::new().pipeline(&format!(
        "version: \"0.1\"\nsteps:\n  a:\n    run: \"true\"\n    isolation: container\n    image: localhost/x@sha256:{}\n",
        "0".repeat(64)
    ));
    let mut command = ctx.command(&["run"]);
    command.env("ATTEST_CONTAINER_ENGINE", "runc");
    let outcome = ctx.run_command(command);
    assert_eq!(outcome.code, 1, "{}", outcome.snapshot());
    let said = if find("runc").is_some() && find("umoci").is_some() {
        "the runc engine runs local OCI images only"
    } else {
        "not found on PATH"
    };
    assert!(outcome.stderr.contains(said), "{}", outcome.snapshot());
}
