//! `TestContext`: a temp workspace and a way to run attest in it.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestContext {
    dir: tempfile::TempDir,
    root: PathBuf,
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    root: PathBuf,
}

pub fn attest_bin() -> &'static str {
    env!("CARGO_BIN_EXE_attest")
}

/// A `PATH` that finds `sh`, `cc`, `tar`, independent of the developer's shell.
pub const TEST_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

impl TestContext {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        Self { dir, root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn pipeline(self, yaml: &str) -> Self {
        self.write("attest.yaml", yaml);
        self
    }

    pub fn write(&self, path: &str, content: &str) {
        let full = self.root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.root.join(path).exists()
    }

    /// A command for the attest binary in the workspace with a clean environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(attest_bin());
        command
            .args(args)
            .current_dir(&self.root)
            .env_clear()
            .env("PATH", TEST_PATH)
            .env("CI", "true")
            .env("NO_COLOR", "1");
        command
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_command(self.command(args))
    }

    pub fn run_command(&self, mut command: Command) -> Outcome {
        let output = command.output().unwrap();
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            root: self.root.clone(),
        }
    }

    /// Copies a bundled example into the workspace.
    pub fn copy_example(&self, name: &str) {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name);
        copy_dir(&source, &self.root);
    }

    #[allow(dead_code)]
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if [".attest", "build", "dist"].iter().any(|skip| name == *skip) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl Outcome {
    /// Exit code, stdout and stderr with temp paths, digests and durations filtered.
    pub fn snapshot(&self) -> String {
        let text =
            format!("exit: {}\n----- stdout -----\n{}----- stderr -----\n{}", self.code, self.stdout, self.stderr);
        filter(&text, &self.root)
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success\n{}", self.snapshot());
        self
    }

    /// The step lines (`[OK] x ...`) of stderr, sorted, durations filtered.
    pub fn step_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> =
            filter(&self.stderr, &self.root).lines().filter(|l| l.starts_with('[')).map(str::to_owned).collect();
        lines.sort();
        lines
    }
}

/// A test needs `what`, which is not installed: fine locally (it says it skips), a failure
/// under CI, where `.ci/run` installs everything the tests need.
#[track_caller]
pub fn skip_without(what: &str) {
    assert!(std::env::var_os("CI").is_none(), "{what} is not installed: .ci/run installs it");
    eprintln!("skipping: {what} is not installed");
}

pub fn filter(text: &str, root: &Path) -> String {
    let mut out = text.replace(&root.display().to_string(), "[TEMP]");
    for (pattern, replacement) in [
        (r"blake3:[0-9a-f]{64}", "[DIGEST]"),
        (r"\b[0-9a-f]{64}\b", "[HEX]"),
        (r"\(\d+(\.\d+)?s\)", "([DURATION])"),
        (r"\d+m\d\ds\)", "[DURATION])"),
        (r#""(duration|wall)":[0-9.]+"#, r#""$1":"[DURATION]""#),
        (r"\d{8}T\d{6}Z-[0-9a-f]{16}\.intoto\.jsonl", "[RECEIPT].intoto.jsonl"),
    ] {
        out = regex_replace(&out, pattern, replacement);
    }
    out
}

fn regex_replace(text: &str, pattern: &str, replacement: &str) -> String {
    regex::Regex::new(pattern).unwrap().replace_all(text, replacement).into_owned()
}
