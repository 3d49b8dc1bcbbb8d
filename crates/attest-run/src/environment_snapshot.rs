//! The environment snapshot of a run statement: machine, attest, git state, lock files
//! and the versions of the tools steps declare. Taking it spawns `git` and `TOOL
//! --version`, so callers start it beside the run (see [`environment_snapshot`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use attest_pipeline::Pipeline;
use attest_receipt::{EnvironmentSnapshot, GitInfo};

/// Lock files whose digests the snapshot records, when present at the workspace root.
pub const LOCK_FILES: [&str; 8] = [
    "Cargo.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "uv.lock",
    "poetry.lock",
    "go.sum",
    "Gemfile.lock",
];

/// Runs `program args` in `cwd` with no input, finding it on `path_env` when given.
fn probe(program: &str, args: &[&str], cwd: &Path, path_env: Option<&str>) -> std::io::Result<Output> {
    let mut command = Command::new(program);
    command.args(args).current_dir(cwd).stdin(Stdio::null());
    if let Some(path) = path_env {
        command.env("PATH", path);
    }
    command.output()
}

/// What a successful `program args` printed on stdout.
fn command_output(program: &str, args: &[&str], cwd: &Path, path_env: Option<&str>) -> Option<String> {
    let output = probe(program, args, cwd, path_env).ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Commit, branch and dirtiness from one `git status --porcelain=v2 --branch` (one
/// process instead of three; `--no-optional-locks` so that attest never writes the index).
fn git_info(root: &Path, path_env: Option<&str>) -> Option<GitInfo> {
    let args = ["--no-optional-locks", "status", "--porcelain=v2", "--branch", "--untracked-files=no"];
    parse_git_status(&command_output("git", &args, root, path_env)?)
}

fn parse_git_status(text: &str) -> Option<GitInfo> {
    let mut commit = None;
    let mut branch = None;
    let mut dirty = false;
    for line in text.lines() {
        if let Some(oid) = line.strip_prefix("# branch.oid ") {
            commit = Some(oid.trim().to_owned()).filter(|c| c != "(initial)");
        } else if let Some(head) = line.strip_prefix("# branch.head ") {
            branch = Some(head.trim().to_owned()).filter(|b| b != "(detached)");
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            dirty = true;
        }
    }
    Some(GitInfo { commit: commit?, branch, dirty })
}

/// The first non-empty line `TOOL --version` prints (stdout, else stderr).
fn tool_version(tool: &str, root: &Path, path_env: Option<&str>) -> String {
    match probe(tool, &["--version"], root, path_env) {
        Ok(output) => {
            let text = [&output.stdout, &output.stderr]
                .iter()
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .find_map(|text| text.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned));
            match (output.status.success(), text) {
                (true, Some(line)) => line,
                (_, line) => {
                    format!("unknown (`{tool} --version` failed{})", line.map(|l| format!(": {l}")).unwrap_or_default())
                }
            }
        }
        Err(err) => format!("unavailable ({err})"),
    }
}

/// The snapshot for a run of `steps` (indexes into the pipeline) in `root`. `host_path`
/// is the host's `PATH`, under which tools are looked up as the steps will find them.
pub fn environment_snapshot(
    root: &Path,
    pipeline: &Pipeline,
    steps: &[usize],
    host_path: Option<&str>,
) -> EnvironmentSnapshot {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned());
    let lock_files = LOCK_FILES
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), attest_hash::sha256_file(&root.join(name)).ok()?.hex())))
        .collect();
    let mut tools = BTreeMap::new();
    for &index in steps {
        for tool in &pipeline.steps[index].tools {
            if !tools.contains_key(tool) {
                tools.insert(tool.clone(), tool_version(tool, root, host_path));
            }
        }
    }
    EnvironmentSnapshot {
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        kernel,
        attest_version: env!("CARGO_PKG_VERSION").to_owned(),
        git: git_info(root, host_path),
        lock_files,
        tools,
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn git_status_v2_gives_commit_branch_and_dirtiness() {
        let clean = "# branch.oid 0123456789abcdef0123456789abcdef01234567\n# branch.head main\n";
        let info = parse_git_status(clean).unwrap();
        assert_eq!(info.commit, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(info.branch.as_deref(), Some("main"));
        assert!(!info.dirty);
        let dirty = "# branch.oid 0123456789abcdef0123456789abcdef01234567\n# branch.head (detached)\n1 .M N... 100644 100644 100644 a b src/x.c\n";
        let info = parse_git_status(dirty).unwrap();
        assert_eq!(info.branch, None);
        assert!(info.dirty);
        assert!(parse_git_status("# branch.oid (initial)\n# branch.head main\n").is_none());
    }
}
