//! What an `isolation: vm` step boots: the kernel (an uncompressed ELF `vmlinux`, which
//! QEMU's `microvm` machine starts directly, extracted once from a Debian `bzImage`) and
//! an initramfs (attest's own: busybox-static, the kernel's virtio and 9p modules and the
//! guest's `/init`, see `vm_guest`), both cached under `.attest/vm/` by digest.
//!
//! Why `microvm` and an ELF kernel: under TCG (no KVM, as on CI machines) the machine
//! type dominates the boot time. Measured here with Debian's 6.1 kernel: `-M pc` with the
//! bzImage 16 s, `-M pc` with the ELF 9 s, `-M microvm` with the ELF 4 s. `microvm`
//! cannot start a bzImage, so attest extracts the ELF from it: the bzImage's setup header
//! says where its compressed payload is, and the payload is decompressed with the
//! format's own tool (`xz`, `gzip`, `zstd`, `lz4`; Debian's kernels use xz), found on PATH.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use attest_hash::Durability;

use super::host_tools::find_program;
use super::vm_guest;
use crate::ExecError;

/// Where attest looks for a kernel when a step names none: the newest of these.
const DEFAULT_KERNEL_GLOB_DIR: &str = "/boot";

/// The kernel modules the guest needs for virtio-mmio devices and 9p shares, by name;
/// their dependencies are added from `modules.dep`.
const GUEST_MODULES: [&str; 3] = ["virtio_mmio", "9pnet_virtio", "9p"];

/// What a VM step boots, resolved on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmBoot {
    /// The kernel as configured or found (`/boot/vmlinuz-…`).
    pub kernel: PathBuf,
    /// `sha256:<hex>` of that file.
    pub kernel_sha256: String,
    /// The initramfs: the configured one, or the one attest builds.
    pub initramfs: Option<PathBuf>,
    /// `sha256:<hex>` of the configured initramfs, or of attest's recipe for its own
    /// (busybox's digest, the modules' digests and the guest protocol).
    pub initramfs_sha256: String,
}

/// A step's VM settings (`vm_image`), as the executor receives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    /// `vm_image.kernel`, when set.
    pub kernel: Option<PathBuf>,
    /// `vm_image.initramfs`, when set.
    pub initramfs: Option<PathBuf>,
    /// Where extracted kernels and built initramfs images are kept (`.attest/vm`).
    pub cache_dir: PathBuf,
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    Ok(format!("sha256:{}", attest_hash::sha256_file(path).map_err(std::io::Error::other)?.hex()))
}

/// What [`resolve_vm`] found, by `(kernel, initramfs)` setting: a 50-step VM pipeline
/// finds and hashes its kernel once per run, not once per step for the key, the receipt
/// and the execution each.
static RESOLVED: Mutex<Vec<(VmSettings, VmBoot)>> = Mutex::new(Vec::new());

/// A step's `vm_image` settings.
type VmSettings = (Option<PathBuf>, Option<PathBuf>);

/// The newest `vmlinuz-*` in `/boot` (by version-aware name order) whose modules include
/// 9p over virtio (Debian's `cloud` kernels have no 9p).
fn default_kernel() -> Option<PathBuf> {
    let has_9p = |kernel: &Path| {
        kernel_release(kernel)
            .and_then(|release| {
                std::fs::read_to_string(Path::new("/lib/modules").join(release).join("modules.dep")).ok()
            })
            .is_some_and(|deps| deps.contains("/9pnet_virtio.ko"))
    };
    let mut kernels: Vec<PathBuf> = std::fs::read_dir(DEFAULT_KERNEL_GLOB_DIR)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-")))
        .filter(|p| has_9p(p))
        .collect();
    kernels.sort_by_key(|p| version_key(p));
    kernels.pop()
}

/// `vmlinuz-6.1.0-28-amd64` sorts after `vmlinuz-6.1.0-9-amd64`.
fn version_key(path: &Path) -> Vec<(u64, String)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.split(['.', '-']).map(|part| (part.parse::<u64>().unwrap_or(0), part.to_owned())).collect()
}

/// The kernel release of a Debian kernel file: `vmlinuz-6.1.0-28-amd64` -> `6.1.0-28-amd64`.
fn kernel_release(kernel: &Path) -> Option<String> {
    let name = kernel.file_name()?.to_str()?;
    name.strip_prefix("vmlinuz-").or_else(|| name.strip_prefix("vmlinux-")).map(str::to_owned)
}

fn vm_error(message: String) -> ExecError {
    ExecError::VmUnavailable { message }
}

/// Resolves what `spec` boots on this host, without building anything yet (once per
/// process and setting).
pub fn resolve_vm(spec: &VmSpec, search_path: Option<&str>) -> Result<VmBoot, ExecError> {
    let settings = (spec.kernel.clone(), spec.initramfs.clone());
    if let Some((_, boot)) = RESOLVED.lock().expect("VM resolution lock").iter().find(|(s, _)| *s == settings) {
        return Ok(boot.clone());
    }
    let kernel = match &spec.kernel {
        Some(kernel) => kernel.clone(),
        None => default_kernel().ok_or_else(|| {
            vm_error(
                "isolation `vm` needs a Linux kernel with 9p modules: none in /boot (install Debian's \
                 `linux-image-amd64`, or set `vm_image.kernel`)"
                    .to_owned(),
            )
        })?,
    };
    let kernel_sha256 =
        sha256_of(&kernel).map_err(|e| vm_error(format!("cannot read the VM kernel `{}`: {e}", kernel.display())))?;
    let (initramfs, initramfs_sha256) = match &spec.initramfs {
        Some(path) => {
            let digest = sha256_of(path)
                .map_err(|e| vm_error(format!("cannot read the VM initramfs `{}`: {e}", path.display())))?;
            (Some(path.clone()), digest)
        }
        None => (None, initramfs_recipe(&kernel, search_path)?.digest),
    };
    let boot = VmBoot { kernel, kernel_sha256, initramfs, initramfs_sha256 };
    RESOLVED.lock().expect("VM resolution lock").push((settings, boot.clone()));
    Ok(boot)
}

/// What attest's own initramfs is made of.
struct Recipe {
    busybox: PathBuf,
    /// Module files in load order (dependencies first).
    modules: Vec<PathBuf>,
    /// `sha256:` of all of it and the guest protocol.
    digest: String,
}

fn initramfs_recipe(kernel: &Path, search_path: Option<&str>) -> Result<Recipe, ExecError> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| find_program(search_path, "busybox"))
        .ok_or(ExecError::ProgramNotFound {
            needed_for: "isolation `vm`",
            package: "busybox-static",
            program: "busybox",
        })?;
    let release = kernel_release(kernel).ok_or_else(|| {
        vm_error(format!(
            "cannot tell the release of kernel `{}` (expected a name like `vmlinuz-6.1.0-28-amd64`) to find its \
             modules; set `vm_image.initramfs` to an initramfs of your own",
            kernel.display()
        ))
    })?;
    let modules = module_files(&Path::new("/lib/modules").join(&release))?;
    let mut recipe = format!("attest-guest {}\nbusybox {}\n", vm_guest::PROTOCOL, sha256_hex(&busybox)?);
    for module in &modules {
        recipe.push_str(&format!("{} {}\n", module.display(), sha256_hex(module)?));
    }
    let digest = format!("sha256:{}", attest_hash::sha256_bytes(recipe.as_bytes()).hex());
    Ok(Recipe { busybox, modules, digest })
}

fn sha256_hex(path: &Path) -> Result<String, ExecError> {
    sha256_of(path).map_err(|e| vm_error(format!("cannot read `{}`: {e}", path.display())))
}

/// The files of [`GUEST_MODULES`] and their dependencies, dependencies first, from the
/// kernel's `modules.dep`. Modules built into the kernel are simply not listed there.
fn module_files(dir: &Path) -> Result<Vec<PathBuf>, ExecError> {
    let dep_file = dir.join("modules.dep");
    let text = std::fs::read_to_string(&dep_file).map_err(|e| {
        vm_error(format!(
            "cannot read `{}` ({e}): the kernel's modules are not installed; install the matching \
             `linux-image-*` package",
            dep_file.display()
        ))
    })?;
    let deps: Vec<(&str, Vec<&str>)> = text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(module, rest)| (module, rest.split_whitespace().collect()))
        .collect();
    let named = |name: &str| {
        deps.iter().find(|(path, _)| {
            let file = path.rsplit('/').next().unwrap_or(path);
            file.strip_suffix(".ko").or_else(|| file.split_once(".ko.").map(|(stem, _)| stem)) == Some(name)
        })
    };
    let mut order: Vec<&str> = Vec::new();
    for name in GUEST_MODULES {
        let Some((path, needs)) = named(name) else { continue };
        // modules.dep lists the full closure, deepest last: load it in reverse.
        for module in needs.iter().rev().chain(std::iter::once(path)) {
            if !order.contains(module) {
                order.push(module);
            }
        }
    }
    if let Some(compressed) = order.iter().find(|m| !m.ends_with(".ko")) {
        return Err(vm_error(format!(
            "kernel module `{compressed}` is compressed, which busybox's insmod cannot load; set \
             `vm_image.initramfs` to an initramfs of your own"
        )));
    }
    Ok(order.iter().map(|m| dir.join(m)).collect())
}

/// Whether an ELF64 file asks for a program interpreter (`PT_INTERP`): it is dynamically
/// linked. Anything unreadable counts as dynamic.
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let u64_at =
        |at: usize| elf.get(at..at + 8).and_then(|b| usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok());
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else { return true };
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return true;
    }
    (0..count).any(|i| {
        let at = phoff + i * size;
        elf.get(at..at + 4).is_none_or(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) == PT_INTERP)
    })
}

/// Writes `bytes` to `path` atomically unless it is already there.
fn keep(path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
    if path.exists() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(super::scratch_error(parent))?;
    }
    attest_hash::write_atomically(path, bytes, Durability::Synced).map_err(super::scratch_error(path))
}

/// The files QEMU boots for `boot`: the ELF kernel and the initramfs, built or extracted
/// into `cache_dir` on first use.
pub(crate) fn boot_files(
    boot: &VmBoot,
    cache_dir: &Path,
    search_path: Option<&str>,
) -> Result<(PathBuf, PathBuf), ExecError> {
    let kernel_hex = boot.kernel_sha256.trim_start_matches("sha256:");
    let vmlinux = cache_dir.join(format!("vmlinux-{kernel_hex}"));
    if !vmlinux.exists() {
        let bytes = std::fs::read(&boot.kernel)
            .map_err(|e| vm_error(format!("cannot read the VM kernel `{}`: {e}", boot.kernel.display())))?;
        let elf =
            if bytes.starts_with(b"\x7fELF") { bytes } else { extract_vmlinux(&boot.kernel, &bytes, search_path)? };
        keep(&vmlinux, &elf)?;
    }
    let initramfs = match &boot.initramfs {
        Some(path) => path.clone(),
        None => {
            // Named by its recipe's digest, so the recipe is only read again to build it.
            let hex = boot.initramfs_sha256.trim_start_matches("sha256:");
            let path = cache_dir.join(format!("initramfs-{hex}.cpio"));
            if !path.exists() {
                keep(&path, &build_initramfs(&initramfs_recipe(&boot.kernel, search_path)?)?)?;
            }
            path
        }
    };
    Ok((vmlinux, initramfs))
}

/// The ELF kernel inside a bzImage: the setup header (boot protocol 2.08+) gives the
/// offset and length of the compressed payload; its magic names the compressor.
fn extract_vmlinux(kernel: &Path, bytes: &[u8], search_path: Option<&str>) -> Result<Vec<u8>, ExecError> {
    let not_bzimage = || vm_error(format!("`{}` is neither an ELF kernel nor a bzImage", kernel.display()));
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    if bytes.get(0x202..0x206) != Some(b"HdrS") {
        return Err(not_bzimage());
    }
    let setup_sects = match bytes.get(0x1f1).copied().ok_or_else(not_bzimage)? {
        0 => 4,
        n => usize::from(n),
    };
    let start = (setup_sects + 1) * 512 + u32_at(0x248).ok_or_else(not_bzimage)?;
    let payload = bytes.get(start..start + u32_at(0x24c).ok_or_else(not_bzimage)?).ok_or_else(not_bzimage)?;
    let (program, args): (&'static str, &[&str]) = if payload.starts_with(b"\xfd7zXZ\0") {
        ("xz", &["-dc", "--single-stream"])
    } else if payload.starts_with(b"\x1f\x8b") {
        ("gzip", &["-dc"])
    } else if payload.starts_with(b"\x28\xb5\x2f\xfd") {
        ("zstd", &["-dcq"])
    } else if payload.starts_with(b"\x02\x21\x4c\x18") {
        ("lz4", &["-dc"])
    } else {
        return Err(vm_error(format!(
            "kernel `{}` is compressed in a format attest cannot unpack; give an uncompressed `vmlinux` as \
             `vm_image.kernel`",
            kernel.display()
        )));
    };
    let tool = find_program(search_path, program).ok_or(ExecError::ProgramNotFound {
        needed_for: "extracting the VM kernel",
        package: program,
        program,
    })?;
    let mut child = std::process::Command::new(&tool)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| vm_error(format!("cannot run `{}`: {e}", tool.display())))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = payload.to_vec();
    let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let output = child.wait_with_output().map_err(|e| vm_error(format!("`{program}` failed: {e}")))?;
    let _ = feeder.join();
    // The kernel's payload ends with its uncompressed size, which some tools call trailing
    // garbage; what matters is that an ELF came out.
    if !output.stdout.starts_with(b"\x7fELF") {
        return Err(vm_error(format!("`{program}` did not unpack an ELF kernel from `{}`", kernel.display())));
    }
    Ok(output.stdout)
}

/// attest's initramfs: a `newc` cpio archive (what the kernel unpacks), uncompressed,
/// with fixed owners and times so that the same recipe gives the same bytes.
fn build_initramfs(recipe: &Recipe) -> Result<Vec<u8>, ExecError> {
    let read =
        |path: &Path| std::fs::read(path).map_err(|e| vm_error(format!("cannot read `{}`: {e}", path.display())));
    let mut archive = Cpio::default();
    for dir in ["bin", "dev", "lib", "lib/modules", "meta", "out", "proc", "sys", "tmp", "work"] {
        archive.dir(dir);
    }
    let busybox = read(&recipe.busybox)?;
    // A dynamically linked busybox (Debian's `busybox` package) cannot run in the guest.
    if has_interpreter(&busybox) {
        return Err(vm_error(format!(
            "`{}` is dynamically linked and cannot be the VM's userland; install `busybox-static`",
            recipe.busybox.display()
        )));
    }
    archive.file("bin/busybox", 0o755, &busybox);
    let mut order = String::new();
    for module in &recipe.modules {
        let name = module.file_name().and_then(|n| n.to_str()).unwrap_or("module.ko");
        archive.file(&format!("lib/modules/{name}"), 0o644, &read(module)?);
        order.push_str(name);
        order.push('\n');
    }
    archive.file("lib/modules/order", 0o644, order.as_bytes());
    archive.file("init", 0o755, vm_guest::INIT.as_bytes());
    Ok(archive.finish())
}

/// A `newc` ("070701") cpio writer.
#[derive(Default)]
struct Cpio {
    bytes: Vec<u8>,
    inode: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.inode += 1;
        let len = |n: usize| u32::try_from(n).expect("initramfs members are under 4 GiB");
        let fields = [self.inode, mode, 0, 0, 1, 0, len(data.len()), 0, 0, 0, 0, len(name.len() + 1), 0];
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            self.bytes.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040_755, &[]);
    }

    fn file(&mut self, name: &str, permissions: u32, data: &[u8]) {
        self.entry(name, 0o100_000 | permissions, data);
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.bytes
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;
    use attest_hash::Digest;

    #[test]
    fn cpio_members_are_aligned_and_trailed() {
        let mut cpio = Cpio::default();
        cpio.dir("bin");
        cpio.file("init", 0o755, b"#!/bin/sh\n");
        let bytes = cpio.finish();
        assert!(bytes.starts_with(b"070701"));
        assert_eq!(bytes.len() % 4, 0);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("init\0"));
        assert!(text.contains("TRAILER!!!\0"));
        // The same members give the same bytes.
        let mut again = Cpio::default();
        again.dir("bin");
        again.file("init", 0o755, b"#!/bin/sh\n");
        assert_eq!(Digest::of_bytes(&again.finish()), Digest::of_bytes(&bytes));
    }

    #[test]
    fn static_and_dynamic_executables_are_told_apart() {
        assert!(has_interpreter(&std::fs::read("/bin/sh").unwrap()), "/bin/sh is dynamically linked");
        assert!(has_interpreter(b"not an ELF file"));
        if let Ok(busybox) = std::fs::read("/bin/busybox") {
            let dynamic = std::process::Command::new("ldd").arg("/bin/busybox").output().unwrap().status.success();
            assert_eq!(has_interpreter(&busybox), dynamic);
        }
    }

    #[test]
    fn kernels_sort_by_version() {
        let mut kernels = [
            PathBuf::from("/boot/vmlinuz-6.1.0-9-amd64"),
            PathBuf::from("/boot/vmlinuz-6.1.0-28-amd64"),
            PathBuf::from("/boot/vmlinuz-5.10.0-30-amd64"),
        ];
        kernels.sort_by_key(|p| version_key(p));
        assert_eq!(kernels.last().unwrap(), Path::new("/boot/vmlinuz-6.1.0-28-amd64"));
        assert_eq!(kernel_release(Path::new("/boot/vmlinuz-6.1.0-28-amd64")).as_deref(), Some("6.1.0-28-amd64"));
    }

    #[test]
    fn module_order_puts_dependencies_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("modules.dep"),
            "kernel/net/9p/9pnet.ko:\nkernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
             kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
             kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko\n",
        )
        .unwrap();
        let names: Vec<String> = module_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "virtio_ring.ko",
                "virtio.ko",
                "virtio_mmio.ko",
                "9pnet.ko",
                "9pnet_virtio.ko",
                "netfs.ko",
                "fscache.ko",
                "9p.ko"
            ]
        );
    }
}
