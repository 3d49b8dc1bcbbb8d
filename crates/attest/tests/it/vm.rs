//! `isolation: vm`: a step in a QEMU virtual machine booting Debian's kernel and the
//! initramfs attest builds from busybox-static. Under TCG (no KVM on the test machines)
//! each boot takes a few seconds, so one test runs two VM steps side by side and checks
//! everything on them. Skipped where QEMU, busybox-static or a kernel with 9p modules is
//! missing, except under CI, where `.ci/run` installs them and a missing one fails.

use std::path::Path;

use crate::context::{TEST_PATH, TestContext};

fn vm_available() -> bool {
    let qemu = TEST_PATH.split(':').any(|dir| Path::new(dir).join("qemu-system-x86_64").is_file());
    let kernel = std::fs::read_dir("/boot")
        .map(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("vmlinuz-").is_some_and(|release| {
                    std::fs::read_to_string(format!("/lib/modules/{release}/modules.dep"))
                        .is_ok_and(|deps| deps.contains("/9pnet_virtio.ko"))
                })
            })
        })
        .unwrap_or(false);
    let busybox = Path::new("/bin/busybox").is_file();
    if !(qemu && kernel && busybox) {
        crate::context::skip_without("qemu-system-x86, linux-image-amd64 or busybox-static");
        return false;
    }
    true
}

const PIPELINE: &str = r#"
version: "0.1"
steps:
  upper:
    isolation: vm
    inputs: [src/]
    outputs: [out/upper.txt, out/seen.txt]
    env: { GREETING: "it's the guest" }
    run: |
      mkdir -p out
      tr a-z A-Z < src/hello.txt > out/upper.txt
      ls -a . src > out/seen.txt
      echo "greeting=$GREETING host=$(hostname) net=$(ls /sys/class/net)"
      echo x > src/new.txt || echo "inputs are read-only"
  fails:
    isolation: vm
    inputs: []
    run: echo failing on purpose && exit 3
"#;

#[test]
fn vm_steps_run_in_the_guest_and_return_outputs_and_exit_codes() {
    if !vm_available() {
        return;
    }
    let ctx = TestContext::new().pipeline(PIPELINE);
    ctx.write("src/hello.txt", "hello vm\n");
    ctx.write("undeclared.txt", "not shared\n");
    // The KVM probe keeps its verdict per host in the user's cache directory.
    let cache = tempfile::tempdir().unwrap();
    let mut command = ctx.command(&["run", "-j", "2", "-v"]);
    command.env("XDG_CACHE_HOME", cache.path());
    let outcome = ctx.run_command(command);
    assert_eq!(outcome.code, 1, "{}", outcome.snapshot());
    let text = outcome.snapshot();
    // The command's output comes back, and nothing of the kernel's.
    assert!(text.contains("greeting=it's the guest host=attest net=lo"), "{text}");
    assert!(text.contains("Read-only file system") && text.contains("inputs are read-only"), "{text}");
    assert!(!text.contains("Linux version") && !text.contains("reboot:"), "{text}");
    // The guest's exit code is the step's.
    assert!(outcome.step_lines().contains(&"[FAIL] fails ([DURATION]) - exit code 3".to_owned()), "{text}");
    assert_eq!(ctx.read("out/upper.txt"), "HELLO VM\n");
    let seen = ctx.read("out/seen.txt");
    assert!(seen.contains("hello.txt") && !seen.contains("undeclared.txt") && !seen.contains("new.txt"), "{seen}");

    let line = outcome.stderr.lines().find_map(|l| l.strip_prefix("Receipt: ")).unwrap();
    let path = ctx.root().join(line.split(' ').next().unwrap());
    let statement = crate::receipts::decoded_statements(path.to_str().unwrap()).remove(0);
    let steps = statement["predicate"]["buildDefinition"]["internalParameters"]["steps"].as_array().unwrap().clone();
    let isolation = &steps.iter().find(|s| s["name"] == "upper").unwrap()["isolation"];
    assert_eq!(isolation["level"], "vm");
    let vm = &isolation["vm"];
    assert_eq!(vm["engine"], "qemu microvm");
    assert!(vm["kernel"].as_str().unwrap().starts_with("/boot/vmlinuz-"), "{vm}");
    let kernel = vm["kernel"].as_str().unwrap();
    let expected = format!("sha256:{}", attest_hash::sha256_file(Path::new(kernel)).unwrap().hex());
    assert_eq!(vm["kernel_digest"], expected.as_str());
    assert_eq!(vm["initramfs"], "attest");
    assert_eq!(vm["network"], "none");

    // Where /dev/kvm opens, the first VM step proved (or disproved) KVM by booting `true`
    // under it, once for both steps; the next boot uses the verdict without probing.
    let verdicts: Vec<_> = match std::fs::read_dir(cache.path().join("attest/kvm-probe")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    let kvm_opens = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok();
    assert_eq!(verdicts.len(), usize::from(kvm_opens), "{verdicts:?}");
    if let Some(verdict) = verdicts.first() {
        let text = std::fs::read_to_string(verdict).unwrap();
        assert!(text.starts_with("kvm booted in ") || text.starts_with("tcg "), "{text}");
        let probed_at = std::fs::metadata(verdict).unwrap().modified().unwrap();
        let mut again = ctx.command(&["run", "fails"]);
        again.env("XDG_CACHE_HOME", cache.path());
        assert_eq!(ctx.run_command(again).code, 1);
        assert_eq!(std::fs::metadata(verdict).unwrap().modified().unwrap(), probed_at, "probed once per host");
    }

    // A cache hit restores without booting; the kernel's digest is part of the key.
    std::fs::remove_file(ctx.root().join("out/upper.txt")).unwrap();
    let outcome = ctx.run(&["run", "upper"]);
    assert_eq!(outcome.success().step_lines(), ["[OK] upper ([DURATION]) - cache hit, restored 1 output"]);
    assert_eq!(ctx.read("out/upper.txt"), "HELLO VM\n");
}

#[test]
fn vm_steps_need_outputs_inside_a_directory() {
    if !vm_available() {
        return;
    }
    let ctx = TestContext::new()
        .pipeline("version: \"0.1\"\nsteps:\n  top:\n    isolation: vm\n    inputs: []\n    outputs: [result.txt]\n    run: echo x > result.txt\n");
    let outcome = ctx.run(&["run"]);
    assert_eq!(outcome.code, 1, "{}", outcome.snapshot());
    assert!(outcome.stderr.contains("needs every output inside a directory"), "{}", outcome.snapshot());
}
