//! Reproducibility: a step built a second time, from a clean copy of its inputs in another
//! directory (optionally with the variations reprotest applies), and every output compared
//! bit for bit. A difference is named: the file, both digests, the first differing offset
//! and, when `diffoscope` is installed, its summary of the cause.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use attest_hash::{EntryKind, Manifest};
use serde::Serialize;

/// What a reproducibility check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reproducibility {
    /// Whether every output of the second build matched the first bit for bit.
    pub verified: bool,
    /// Builds compared (2).
    pub runs: u32,
    /// How the second build differed from the first.
    pub method: String,
    /// Each output that differed.
    pub differences: Vec<OutputDifference>,
}

/// One output that differed between the two builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputDifference {
    /// The output file.
    pub path: String,
    /// SHA-256 of the first build's file (`missing` when absent).
    pub first: String,
    /// SHA-256 of the second build's file.
    pub second: String,
    /// The first byte offset at which they differ (none when one is missing).
    pub offset: Option<u64>,
    /// diffoscope's summary of the difference, when it is installed.
    pub explanation: Option<String>,
}

impl std::fmt::Display for OutputDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: sha256 {} vs {}", self.path, short(&self.first), short(&self.second))?;
        if let Some(offset) = self.offset {
            write!(f, ", first difference at byte {offset}")?;
        }
        Ok(())
    }
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// The variations `--vary` applies to the second build, as reprotest does: time (with
/// faketime when installed), time zone, locale and umask (file order, with disorderfs,
/// is [`DisorderMount`]).
pub(crate) fn variations(env: &mut BTreeMap<String, String>, faketime: Option<&Path>) -> (Vec<String>, Vec<String>) {
    let mut applied = vec!["build path".to_owned()];
    env.insert("TZ".to_owned(), "Etc/GMT-14".to_owned());
    env.insert("LC_ALL".to_owned(), "C".to_owned());
    env.insert("LANG".to_owned(), "C".to_owned());
    applied.extend(["time zone".to_owned(), "locale".to_owned(), "umask".to_owned()]);
    let mut prefix = vec!["sh".to_owned(), "-c".to_owned(), "umask 077 && exec \"$@\"".to_owned(), "attest".to_owned()];
    if let Some(faketime) = faketime {
        prefix.extend([faketime.display().to_string(), "-f".to_owned(), "+397d".to_owned()]);
        applied.push("time (faketime +397 days)".to_owned());
    }
    (applied, prefix)
}

/// The copy of the inputs seen through disorderfs (FUSE), which lists every directory in
/// reverse order, so that a build depending on the order `readdir` returns differs. Like
/// reprotest's `fileordering` variation; unmounted when dropped.
pub(crate) struct DisorderMount {
    mountpoint: tempfile::TempDir,
    fusermount: Option<std::path::PathBuf>,
}

impl DisorderMount {
    /// Mounts `dir` through `disorderfs` at a new temporary directory.
    pub(crate) fn mount(disorderfs: &Path, dir: &Path, search_path: Option<&str>) -> std::io::Result<Self> {
        let mountpoint = tempfile::Builder::new().prefix("attest-disorder-").tempdir()?;
        let status = std::process::Command::new(disorderfs)
            .args(["--multi-user=no", "--reverse-dirents=yes", "--shuffle-dirents=no", "-q"])
            .arg(dir)
            .arg(mountpoint.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!("disorderfs exited with {status}")));
        }
        let fusermount = ["fusermount3", "fusermount"].iter().find_map(|p| attest_exec::find_program(search_path, p));
        Ok(Self { mountpoint, fusermount })
    }

    /// Where the copy is seen in reverse directory order.
    pub(crate) fn path(&self) -> &Path {
        self.mountpoint.path()
    }
}

impl Drop for DisorderMount {
    fn drop(&mut self) {
        let unmount = |program: &Path, args: &[&str]| {
            std::process::Command::new(program)
                .args(args)
                .arg(self.mountpoint.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let done = self.fusermount.as_deref().is_some_and(|f| unmount(f, &["-u", "-z"]));
        if !done {
            unmount(Path::new("umount"), &["-l"]);
        }
    }
}

/// Copies the files and symlinks of `inputs` from `root` into `copy` at the same paths.
pub(crate) fn copy_inputs(root: &Path, inputs: &Manifest, copy: &Path) -> std::io::Result<()> {
    for entry in inputs.entries() {
        let from = entry.path.under(root);
        let to = entry.path.under(copy);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match entry.kind {
            EntryKind::File => {
                std::fs::copy(&from, &to)?;
            }
            EntryKind::Symlink => std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?,
            EntryKind::Missing => {}
        }
    }
    Ok(())
}

fn sha256_hex(path: &Path) -> String {
    attest_hash::sha256_file(path).map_or_else(|_| "missing".to_owned(), |d| d.hex())
}

/// The first offset at which two files differ.
fn first_difference(a: &Path, b: &Path) -> Option<u64> {
    let (mut a, mut b) = (std::fs::File::open(a).ok()?, std::fs::File::open(b).ok()?);
    let (mut x, mut y) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if let Some(i) = x[..n.min(m)].iter().zip(&y[..n.min(m)]).position(|(p, q)| p != q) {
            return Some(offset + i as u64);
        }
        if n != m {
            return Some(offset + n.min(m) as u64);
        }
        if n == 0 {
            return None;
        }
        offset += n as u64;
    }
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> Option<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return None,
        }
    }
    Some(filled)
}

/// diffoscope's text report of two files, cut to its first lines.
fn diffoscope(program: &Path, a: &Path, b: &Path) -> Option<String> {
    let output = Command::new(program).args(["--no-progress", "--text", "-"]).arg(a).arg(b).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().take(25).collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Compares each file output of the first build (`first_root`) with the second's.
pub(crate) fn compare(
    outputs: &Manifest,
    first_root: &Path,
    second_root: &Path,
    diffoscope_program: Option<&Path>,
) -> Vec<OutputDifference> {
    let mut differences = Vec::new();
    for entry in outputs.entries() {
        let (a, b) = (entry.path.under(first_root), entry.path.under(second_root));
        let same = match entry.kind {
            EntryKind::File => std::fs::read(&a).ok() == std::fs::read(&b).ok() && b.exists(),
            EntryKind::Symlink => std::fs::read_link(&a).ok() == std::fs::read_link(&b).ok(),
            EntryKind::Missing => true,
        };
        if same {
            continue;
        }
        let offset = if b.exists() { first_difference(&a, &b) } else { None };
        differences.push(OutputDifference {
            path: entry.path.to_string(),
            first: sha256_hex(&a),
            second: sha256_hex(&b),
            offset,
            explanation: diffoscope_program.and_then(|p| diffoscope(p, &a, &b)),
        });
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_differing_byte() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "built at 10:00:01").expect("a");
        std::fs::write(&b, "built at 10:00:07").expect("b");
        assert_eq!(first_difference(&a, &b), Some(16));
        std::fs::write(&b, "built at 10:00:01 and more").expect("b");
        assert_eq!(first_difference(&a, &b), Some(17));
        std::fs::write(&b, "built at 10:00:01").expect("b");
        assert_eq!(first_difference(&a, &b), None);
    }
}
