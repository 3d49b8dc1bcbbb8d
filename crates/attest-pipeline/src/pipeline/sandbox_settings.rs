//! A step's `sandbox:` settings: what a sandboxed step sees of the host besides `/usr`.
//!
//! The sandbox itself (bubblewrap) is run by `attest-exec`; this module only checks the
//! paths written in attest.yaml, so that a bad one is reported with its location like
//! every other pipeline error.

use serde::{Deserialize, Serialize};

/// A step's checked `sandbox:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSettings {
    /// Absolute host paths mounted read-only at the same place inside the sandbox,
    /// normalised (no trailing `/`, no empty components), without duplicates.
    pub system_paths: Vec<String>,
}

/// Paths the sandbox provides itself (the workspace at `/work`, a private `/tmp`, its own
/// `/proc` and `/dev`: see `attest_exec::SANDBOX_ROOT`); a system path may not be one of
/// them or lie below one.
const RESERVED: [&str; 4] = ["/work", "/tmp", "/proc", "/dev"];

/// Why a `sandbox.system_paths` entry is refused: the message and a hint.
pub(crate) struct SystemPathProblem {
    pub(crate) message: String,
    pub(crate) hint: &'static str,
}

/// Checks and normalises one `sandbox.system_paths` entry of step `step`.
pub(crate) fn check_system_path(step: &str, text: &str) -> Result<String, SystemPathProblem> {
    let problem = |what: String, hint| SystemPathProblem {
        message: format!("`sandbox.system_paths` entry `{text}` of step `{step}` {what}"),
        hint,
    };
    if !text.starts_with('/') {
        return Err(problem("is not absolute".to_owned(), "write the host path from `/`, e.g. `/etc/ssl`"));
    }
    let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(problem("contains `.` or `..`".to_owned(), "write the path without `.` or `..` components"));
    }
    if parts.is_empty() {
        return Err(problem(
            "would show the whole host".to_owned(),
            "name the directories the step needs, e.g. `/etc/ssl`",
        ));
    }
    let normalised = format!("/{}", parts.join("/"));
    if let Some(reserved) = RESERVED.iter().find(|r| normalised == **r || normalised.starts_with(&format!("{r}/"))) {
        return Err(problem(
            format!("is inside `{reserved}`, which the sandbox provides itself"),
            "`/work` is the workspace, `/tmp` a private tmpfs, `/proc` and `/dev` the sandbox's own",
        ));
    }
    Ok(normalised)
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised() {
        assert_eq!(check_system_path("a", "/etc/ssl/").ok().unwrap(), "/etc/ssl");
        assert_eq!(check_system_path("a", "//opt//tool").ok().unwrap(), "/opt/tool");
        assert_eq!(check_system_path("a", "/workshop").ok().unwrap(), "/workshop");
    }

    #[test]
    fn bad_paths_say_why() {
        for (text, why) in [
            ("etc", "is not absolute"),
            ("/opt/../etc", "contains `.` or `..`"),
            ("/", "would show the whole host"),
            ("/tmp/x", "is inside `/tmp`"),
            ("/work", "is inside `/work`"),
        ] {
            let problem = check_system_path("a", text).err().unwrap();
            assert!(problem.message.contains(why), "{text}: {}", problem.message);
        }
    }
}
