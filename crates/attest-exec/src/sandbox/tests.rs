//! The sandbox with the real bubblewrap (skipped, with a message, where it is missing;
//! a failure under CI, which installs it).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::{Executor, Exit, ProcessExecutor, ProcessGroups, Signal};

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn bwrap_available() -> bool {
    if host_tools::find_program(Some(PATH), "bwrap").is_some() {
        return true;
    }
    // Tests do not read settings; CI is the one variable they may look at.
    assert!(std::env::var_os("CI").is_none(), "bubblewrap (`bwrap`) is not installed: .ci/run installs it");
    eprintln!("skipping: bubblewrap (`bwrap`) is not installed");
    false
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
        Self { dir }
    }

    fn request(&self, script: &str, visible: &[&str], outputs: &[&str]) -> ExecRequest {
        let root = self.dir.path().to_owned();
        ExecRequest {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: root.clone(),
            env: BTreeMap::from([("PATH".to_owned(), PATH.to_owned())]),
            output_limit: 64 * 1024,
            sandbox: Some(SandboxSpec {
                workspace: root.clone(),
                scratch: root.join(".attest/sandbox/0"),
                visible: visible.iter().map(|p| (*p).to_owned()).collect(),
                outputs: outputs.iter().map(|p| (*p).to_owned()).collect(),
                system_paths: Vec::new(),
                working_dir: String::new(),
                search_path: Some(PATH.to_owned()),
                explain: false,
                container: None,
                vm: None,
                image_cache: root.join(".attest/containers"),
            }),
        }
    }

    fn run(&self, request: &ExecRequest) -> (ExecResult, String) {
        let result = ProcessExecutor.execute(request, 0, &ProcessGroups::new(), &mut |_| {}).unwrap();
        let output = String::from_utf8_lossy(&result.output).into_owned();
        (result, output)
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

use crate::ExecResult;

#[test]
fn a_step_sees_its_inputs_writes_its_outputs_and_nothing_else() {
    if !bwrap_available() {
        return;
    }
    let ws = Fixture::new(&[("src/a.txt", "hello\n"), ("secret.txt", "s\n"), ("build/old.txt", "old\n")]);
    let script = "set -e; id -u; id -g; hostname; pwd; ls /; cat src/a.txt > build/out.txt; \
                  test ! -e secret.txt; test ! -e build/old.txt; ls -a build";
    let (result, output) = ws.run(&ws.request(script, &["src/a.txt"], &["build/out.txt"]));
    assert_eq!(result.exit, Exit::Code(0), "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(&lines[..4], ["1000", "1000", "attest", "/work"], "{output}");
    assert!(output.contains("usr\nwork\n"), "{output}");
    assert_eq!(ws.read("build/out.txt"), "hello\n");
    assert_eq!(ws.read("build/old.txt"), "old\n", "an undeclared sibling of an output stays untouched");
    assert_eq!(result.sandbox, Some(SandboxReport::default()));
    assert!(!ws.dir.path().join(".attest/sandbox/0").exists(), "the scratch directory is removed");
}

#[test]
fn writes_outside_the_outputs_fail_or_are_reported_and_discarded() {
    if !bwrap_available() {
        return;
    }
    let ws = Fixture::new(&[("in.txt", "in\n"), ("README", "mine\n")]);
    let script = "echo x > in.txt && echo in.txt-written; echo x > README && echo README-written; \
                  echo y > out/stray.txt; echo z > out/result.txt; echo t > /tmp/ok && echo tmp-written";
    let (result, output) = ws.run(&ws.request(script, &["in.txt"], &["out/result.txt"]));
    assert_eq!(result.exit, Exit::Code(0), "{output}");
    assert!(output.contains("Read-only file system"), "{output}");
    assert!(!output.contains("in.txt-written") && !output.contains("README-written"), "{output}");
    assert!(output.contains("tmp-written"), "{output}");
    assert_eq!((ws.read("in.txt"), ws.read("README")), ("in\n".to_owned(), "mine\n".to_owned()));
    assert_eq!(ws.read("out/result.txt"), "z\n");
    assert!(!ws.dir.path().join("out/stray.txt").exists());
    assert_eq!(result.sandbox.unwrap().undeclared_writes, ["out/stray.txt"]);
}

#[test]
fn existing_outputs_are_there_to_update_and_replace() {
    if !bwrap_available() {
        return;
    }
    let ws = Fixture::new(&[("dist/state", "1\n"), ("app", "v1\n")]);
    let script = "set -e; cat dist/state; echo 2 >> dist/state; rm app; echo v2 > app.tmp; mv app.tmp app";
    let (result, output) = ws.run(&ws.request(script, &[], &["dist", "app"]));
    assert_eq!(result.exit, Exit::Code(0), "{output}");
    assert_eq!((ws.read("dist/state"), ws.read("app")), ("1\n2\n".to_owned(), "v2\n".to_owned()));
    assert!(result.sandbox.unwrap().undeclared_writes.is_empty());
}

#[test]
fn explain_names_the_undeclared_files_the_step_looked_for() {
    if !bwrap_available() || host_tools::find_program(Some(PATH), "strace").is_none() {
        return;
    }
    let ws = Fixture::new(&[("src/a.h", "a"), ("src/b.h", "b"), ("config.ini", "c")]);
    let mut request = ws.request("cat src/a.h; cd src && cat b.h ../config.ini ../absent.txt", &["src/a.h"], &[]);
    if let Some(spec) = &mut request.sandbox {
        spec.explain = true;
    }
    let (result, output) = ws.run(&request);
    assert_eq!(result.exit, Exit::Code(1), "{output}");
    assert_eq!(result.sandbox.unwrap().undeclared_reads, ["config.ini", "src/b.h"]);
}

#[test]
fn the_network_is_loopback_only() {
    if !bwrap_available() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ws = Fixture::new(&[]);
    // bash's /dev/tcp is not in dash; /usr/bin/bash is part of /usr.
    let script = format!(
        "bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}' && echo connected; cat /sys/class/net/lo/operstate 2>/dev/null; ls /sys/class/net 2>/dev/null || true"
    );
    let (result, output) = ws.run(&ws.request(&script, &[], &[]));
    assert!(!output.contains("connected"), "{output}");
    assert!(output.contains("Connection refused"), "the sandbox has its own loopback: {output}");
    drop(result);
}

#[test]
fn terminating_the_group_stops_the_sandbox() {
    if !bwrap_available() {
        return;
    }
    let ws = Fixture::new(&[]);
    let groups = ProcessGroups::new();
    let killer = groups.clone();
    let handle = std::thread::spawn(move || {
        while killer.running() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(200));
        killer.signal(3, Signal::Terminate);
    });
    let started = std::time::Instant::now();
    let request = ws.request("sleep 30 & sleep 30; wait", &[], &[]);
    let result = ProcessExecutor.execute(&request, 3, &groups, &mut |_| {}).unwrap();
    handle.join().unwrap();
    assert_eq!(result.exit, Exit::Signal(15));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn a_missing_bubblewrap_is_named() {
    let ws = Fixture::new(&[]);
    let mut request = ws.request("true", &[], &[]);
    if let Some(spec) = &mut request.sandbox {
        spec.search_path = Some("/nonexistent".to_owned());
    }
    let err = ProcessExecutor.execute(&request, 0, &ProcessGroups::new(), &mut |_| {}).unwrap_err();
    assert_eq!(err.to_string(), "isolation `sandbox` needs bubblewrap (`bwrap`); not found on PATH");
}

#[test]
fn the_sandbox_user_matches_its_passwd_entry() {
    let passwd = ETC_FILES.iter().find(|(name, _)| *name == "passwd").unwrap().1;
    assert!(passwd.contains(&format!("attest:x:{SANDBOX_UID}:{SANDBOX_GID}:")));
    let hosts = ETC_FILES.iter().find(|(name, _)| *name == "hosts").unwrap().1;
    assert!(hosts.contains(&format!(" {SANDBOX_HOSTNAME}\n")));
}
