//! Which accelerator VM steps use: KVM when it really works on this host, else TCG.
//!
//! An openable `/dev/kvm` is not proof: on nested hosts (such as kvm-pvm) the device opens
//! but guests hang or abort. So attest proves it: the first VM step on a host boots the
//! step's kernel and initramfs under KVM with the command `true` and a deadline
//! ([`PROBE_DEADLINE`]). The verdict is kept per host in the user's cache directory
//! (`$XDG_CACHE_HOME/attest/kvm-probe/`, else `~/.cache/...`), named by the host kernel,
//! QEMU binary and boot files, so it is taken once, not per workspace or run.
//! `ATTEST_VM_ACCEL=kvm` or `tcg` skips the probe.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::vm_guest::{self, QemuPlan};

/// How long a KVM boot of `true` may take before KVM counts as broken (a working one takes
/// about a second; under TCG the same boot takes about four).
pub(crate) const PROBE_DEADLINE: Duration = Duration::from_secs(10);

/// The accelerator of VM steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VmAccel {
    /// Hardware virtualisation.
    Kvm,
    /// QEMU's CPU emulation.
    Tcg,
}

impl VmAccel {
    /// QEMU's `-accel` name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            VmAccel::Kvm => "kvm",
            VmAccel::Tcg => "tcg",
        }
    }
}

/// What the user asked for in `ATTEST_VM_ACCEL`: `Some` forces it, `None` (unset or
/// `auto`) lets the probe decide.
fn forced() -> Option<VmAccel> {
    match std::env::var("ATTEST_VM_ACCEL").as_deref() {
        Ok("kvm") => Some(VmAccel::Kvm),
        Ok("tcg") => Some(VmAccel::Tcg),
        _ => None,
    }
}

/// Verdicts of this process, by verdict file (VM steps may start side by side; one probes).
static VERDICTS: Mutex<Vec<(PathBuf, VmAccel)>> = Mutex::new(Vec::new());

/// The accelerator for VM steps booting `kernel` and `initramfs` with `qemu`; `boot` names
/// what they are (their digests), since attest may rewrite its own copies.
pub(crate) fn choose_accel(qemu: &Path, kernel: &Path, initramfs: &Path, boot: &str) -> VmAccel {
    if let Some(accel) = forced() {
        return accel;
    }
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return VmAccel::Tcg;
    }
    let Some(file) = verdict_file(qemu, boot) else { return VmAccel::Tcg };
    let mut verdicts = VERDICTS.lock().expect("verdict lock is never poisoned");
    if let Some((_, accel)) = verdicts.iter().find(|(path, _)| *path == file) {
        return *accel;
    }
    let accel = match read_verdict(&file) {
        Some(accel) => accel,
        None => {
            let (accel, detail) = probe(qemu, kernel, initramfs);
            write_verdict(&file, accel, &detail);
            accel
        }
    };
    verdicts.push((file, accel));
    accel
}

/// `<cache>/attest/kvm-probe/<digest>`: the digest of what decides whether KVM boots: the
/// host kernel, QEMU (path, size, mtime) and the boot files (`boot`, their digests).
fn verdict_file(qemu: &Path, boot: &str) -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| Path::new(dir).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    let mut identity = std::fs::read_to_string("/proc/sys/kernel/version").unwrap_or_default();
    identity.push_str(&std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default());
    let meta = std::fs::metadata(qemu).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    identity.push_str(&format!("{}:{}:{}\n{boot}\n", qemu.display(), meta.len(), modified.as_nanos()));
    let digest = attest_hash::Digest::of_bytes(identity.as_bytes()).hex();
    Some(cache.join("attest").join("kvm-probe").join(&digest[..32]))
}

fn read_verdict(file: &Path) -> Option<VmAccel> {
    let text = std::fs::read_to_string(file).ok()?;
    match text.split_whitespace().next()? {
        "kvm" => Some(VmAccel::Kvm),
        "tcg" => Some(VmAccel::Tcg),
        _ => None,
    }
}

fn write_verdict(file: &Path, accel: VmAccel, detail: &str) {
    let Some(dir) = file.parent() else { return };
    if std::fs::create_dir_all(dir).is_ok() {
        let text = format!("{} {detail}\n", accel.as_str());
        // Losing the verdict only means probing again.
        let _ = attest_hash::write_atomically(file, text.as_bytes(), attest_hash::Durability::Atomic);
    }
}

/// Boots `true` under KVM; KVM when the guest reported exit code 0 before the deadline.
fn probe(qemu: &Path, kernel: &Path, initramfs: &Path) -> (VmAccel, String) {
    match boot_true(qemu, kernel, initramfs) {
        Ok(took) => (VmAccel::Kvm, format!("booted in {:.1} s", took.as_secs_f64())),
        Err(why) => (VmAccel::Tcg, why),
    }
}

fn boot_true(qemu: &Path, kernel: &Path, initramfs: &Path) -> Result<Duration, String> {
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::Builder::new().prefix("attest-kvm-probe-").tempdir())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("no temporary directory: {e}"))?;
    let (view, out, meta) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    vm_guest::write_meta(meta, &["true".to_owned()], &Default::default(), &[], "")
        .map_err(|e| format!("could not write the probe's command: {e}"))?;
    let argv = vm_guest::qemu_argv(&QemuPlan { qemu, kernel, initramfs, view, out, meta, accel: "kvm" });
    let started = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("QEMU did not start: {e}"))?;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < PROBE_DEADLINE => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {} s", PROBE_DEADLINE.as_secs()));
            }
        }
    }
    match vm_guest::guest_exit(meta) {
        Some(0) => Ok(started.elapsed()),
        Some(code) => Err(format!("the guest's `true` exited with {code}")),
        None => Err("the guest stopped before running its command".to_owned()),
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_back_and_unknown_ones_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("probe/abc");
        write_verdict(&file, VmAccel::Kvm, "booted in 0.9 s");
        assert_eq!(read_verdict(&file), Some(VmAccel::Kvm));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "kvm booted in 0.9 s\n");
        write_verdict(&file, VmAccel::Tcg, "no answer within 10 s");
        assert_eq!(read_verdict(&file), Some(VmAccel::Tcg));
        std::fs::write(&file, "maybe\n").unwrap();
        assert_eq!(read_verdict(&file), None, "an unreadable verdict means probing again");
        assert_eq!(read_verdict(&dir.path().join("none")), None);
    }

    #[test]
    fn the_verdict_file_names_qemu_and_the_boot_files() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = dir.path().join("qemu");
        std::fs::write(&qemu, "qemu").unwrap();
        let first = verdict_file(&qemu, "sha256:k sha256:i").unwrap();
        assert!(first.to_string_lossy().contains("attest/kvm-probe/"), "{}", first.display());
        assert_eq!(verdict_file(&qemu, "sha256:k sha256:i").unwrap(), first);
        assert_ne!(verdict_file(&qemu, "sha256:k2 sha256:i").unwrap(), first, "another kernel probes again");
        std::fs::write(&qemu, "another qemu").unwrap();
        assert_ne!(verdict_file(&qemu, "sha256:k sha256:i").unwrap(), first, "another QEMU probes again");
        assert_eq!(verdict_file(&dir.path().join("missing"), "sha256:k sha256:i"), None);
    }
}
