//! A step's `vm_image:` (`isolation: vm`): the kernel the step's virtual machine boots
//! and, optionally, the initramfs it boots with.
//!
//! Both are host files named by absolute path. Without `kernel`, attest boots the newest
//! `/boot/vmlinuz-*` (Debian's `linux-image-cloud-amd64`); without `initramfs`, attest
//! builds its own from busybox-static and the kernel's 9p modules (see
//! `attest_exec::vm`). The checks here only concern what attest.yaml says.

use serde::{Deserialize, Serialize};

/// A step's checked `vm_image:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmImage {
    /// The kernel to boot, an absolute host path (`None`: the newest `/boot/vmlinuz-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// An initramfs that follows attest's guest protocol, an absolute host path
    /// (`None`: attest builds one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initramfs: Option<String>,
}

/// Why a `vm_image` path is refused: the message and a hint.
pub(crate) struct VmImageProblem {
    pub(crate) message: String,
    pub(crate) hint: &'static str,
}

/// Checks one `vm_image.<field>` path of step `step`.
pub(crate) fn check_path(step: &str, field: &str, text: &str) -> Result<String, VmImageProblem> {
    let problem = |what: &str, hint| VmImageProblem {
        message: format!("`vm_image.{field}` `{text}` of step `{step}` {what}"),
        hint,
    };
    if !text.starts_with('/') {
        return Err(problem(
            "is not absolute",
            "write the host path from `/`, e.g. `/boot/vmlinuz-6.1.0-28-cloud-amd64`",
        ));
    }
    if text.split('/').any(|p| p == "." || p == "..") {
        return Err(problem("contains `.` or `..`", "write the path without `.` or `..` components"));
    }
    if text.ends_with('/') {
        return Err(problem("names a directory", "name the file itself"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn paths_must_be_absolute_files() {
        assert_eq!(check_path("a", "kernel", "/boot/vmlinuz").ok().unwrap(), "/boot/vmlinuz");
        for (text, why) in [("boot/vmlinuz", "not absolute"), ("/boot/../x", "`..`"), ("/boot/", "directory")] {
            let problem = check_path("a", "kernel", text).err().unwrap();
            assert!(problem.message.contains(why), "{text}: {}", problem.message);
        }
    }
}
