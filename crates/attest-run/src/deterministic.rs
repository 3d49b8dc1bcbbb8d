//! Deterministic mode: what every step's command gets besides its declared variables,
//! and the output timestamps it leaves.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The fixed part of a deterministic step's world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deterministic {
    /// `SOURCE_DATE_EPOCH`: the time of the last git commit, or 0 outside git.
    pub source_date_epoch: u64,
}

/// The umask deterministic steps run with.
pub const DETERMINISTIC_UMASK: &str = "022";

impl Deterministic {
    /// `SOURCE_DATE_EPOCH` from the last commit of the git work tree at `root` (0 outside
    /// git, or when git is missing).
    pub fn for_workspace(root: &Path, host_path: Option<&str>) -> Self {
        let mut git = Command::new("git");
        git.args(["log", "-1", "--format=%ct"]).current_dir(root).env_clear();
        if let Some(path) = host_path {
            git.env("PATH", path);
        }
        let epoch = git
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        Self { source_date_epoch: epoch }
    }

    /// The variables every deterministic step gets (and its key holds), before its own
    /// `env`: `TZ`, `LC_ALL`, `LANG`, `SOURCE_DATE_EPOCH`, `PYTHONHASHSEED`. `HOME` is a
    /// fresh empty directory per execution, so it is set at execution, not in the key.
    pub fn base_env(&self) -> BTreeMap<String, String> {
        [
            ("TZ", "UTC".to_owned()),
            ("LC_ALL", "C.UTF-8".to_owned()),
            ("LANG", "C.UTF-8".to_owned()),
            ("SOURCE_DATE_EPOCH", self.source_date_epoch.to_string()),
            ("PYTHONHASHSEED", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// `argv` run under `umask 022` (through `sh`, as no unsafe `pre_exec` is allowed).
    pub fn wrap_argv(argv: Vec<String>) -> Vec<String> {
        let mut wrapped = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("umask {DETERMINISTIC_UMASK} && exec \"$@\""),
            "attest".to_owned(),
        ];
        wrapped.extend(argv);
        wrapped
    }

    /// Sets the mtime of `path` and, for a directory, of everything below it, to
    /// `SOURCE_DATE_EPOCH` (symlinks themselves, not their targets).
    pub fn stamp(&self, path: &Path) -> std::io::Result<()> {
        let secs = i64::try_from(self.source_date_epoch).unwrap_or(i64::MAX);
        let time = rustix::fs::Timespec { tv_sec: secs, tv_nsec: 0 };
        let times = rustix::fs::Timestamps { last_access: time, last_modification: time };
        let meta = std::fs::symlink_metadata(path)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(path)? {
                self.stamp(&entry?.path())?;
            }
        }
        rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_files_and_directories_recursively() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("out/sub")).expect("dirs");
        std::fs::write(dir.path().join("out/sub/a.txt"), "a").expect("file");
        std::os::unix::fs::symlink("sub/a.txt", dir.path().join("out/link")).expect("symlink");
        Deterministic { source_date_epoch: 1_700_000_000 }.stamp(&dir.path().join("out")).expect("stamp");
        for path in ["out", "out/sub", "out/sub/a.txt", "out/link"] {
            let meta = std::fs::symlink_metadata(dir.path().join(path)).expect("meta");
            let mtime = meta.modified().expect("mtime").duration_since(std::time::UNIX_EPOCH).expect("after epoch");
            assert_eq!(mtime.as_secs(), 1_700_000_000, "{path}");
        }
    }

    #[test]
    fn the_base_environment_is_fixed() {
        let env = Deterministic { source_date_epoch: 42 }.base_env();
        assert_eq!(env["SOURCE_DATE_EPOCH"], "42");
        assert_eq!(
            (env["TZ"].as_str(), env["LC_ALL"].as_str(), env["PYTHONHASHSEED"].as_str()),
            ("UTC", "C.UTF-8", "0")
        );
    }
}
