//! `isolation: container` without podman: the OCI runtime runc over a local image that
//! umoci unpacked.
//!
//! - **Which engine.** podman when it is on the PATH; else runc, for local images
//!   (`oci:PATH`, `oci-archive:PATH`) and when umoci is there to unpack them.
//!   `ATTEST_CONTAINER_ENGINE=podman|runc` chooses. runc cannot fetch `NAME@sha256:…` from
//!   a registry or podman's storage, so such images need podman.
//! - **Unpacking**, once per image: `umoci unpack` of the image's first manifest (the one
//!   whose digest is in the key and the receipt) into `.attest/containers/<digest>/`,
//!   written beside and renamed into place. umoci picks images by tag only, so attest gives
//!   it a layout of its own: the image's blobs, and an `index.json` naming that one
//!   manifest `attest`.
//! - **The container** is what podman's is: the unpacked root read-only, the workspace at
//!   `/work` as a read-only view holding only the declared inputs (hard links, as for VM
//!   steps) with the outputs' directories bound writable from the output stage, a private
//!   `/tmp`, a read-only `/sys`, new PID, IPC, UTS, mount and network namespaces (loopback
//!   only), hostname
//!   `attest`, three capabilities, `no_new_privs`. As root it needs no user namespace;
//!   otherwise it maps the caller to root inside (rootless runc).
//! - **The bundle** (`config.json`, which holds the environment) lives in a private
//!   temporary directory outside the workspace, like a VM step's `meta` share, and runc's
//!   state below the scratch directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::json;

use super::bwrap_argv::inside;
use super::host_tools::find_program;
use super::{SANDBOX_HOSTNAME, SANDBOX_ROOT};
use crate::ExecError;

/// What runs container steps on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContainerEngine {
    /// `podman run`.
    Podman(PathBuf),
    /// runc over an image umoci unpacked.
    Runc {
        /// The runtime.
        runc: PathBuf,
        /// The unpacker.
        umoci: PathBuf,
    },
}

/// A local image reference (`oci:/abs/path` or `oci-archive:/abs/path`, as the run
/// passes them): its transport and path.
fn local_image(image: &str) -> Option<(&str, &Path)> {
    let (transport, path) = image.split_once(':')?;
    matches!(transport, "oci" | "oci-archive").then_some((transport, Path::new(path)))
}

/// The engine for `image`: `ATTEST_CONTAINER_ENGINE` when set, else podman when found,
/// else runc with umoci for a local image.
pub(crate) fn choose_engine(search_path: Option<&str>, image: &str) -> Result<ContainerEngine, ExecError> {
    let find = |program: &'static str, package: &'static str| {
        find_program(search_path, program).ok_or(ExecError::ProgramNotFound {
            needed_for: "isolation `container` with the engine ATTEST_CONTAINER_ENGINE names",
            package,
            program,
        })
    };
    let runc = |runc: PathBuf, umoci: PathBuf| match local_image(image) {
        Some(_) => Ok(ContainerEngine::Runc { runc, umoci }),
        None => Err(ExecError::ImageUnavailable {
            message: format!(
                "the runc engine runs local OCI images only (`oci:PATH` or `oci-archive:PATH`); `{image}` needs podman"
            ),
        }),
    };
    match std::env::var("ATTEST_CONTAINER_ENGINE").as_deref() {
        Ok("podman") => Ok(ContainerEngine::Podman(find("podman", "podman")?)),
        Ok("runc") => runc(find("runc", "runc")?, find("umoci", "umoci")?),
        _ => match find_program(search_path, "podman") {
            Some(podman) => Ok(ContainerEngine::Podman(podman)),
            None => match (find_program(search_path, "runc"), find_program(search_path, "umoci")) {
                (Some(runc_path), Some(umoci)) => runc(runc_path, umoci),
                _ => Err(ExecError::NoContainerEngine),
            },
        },
    }
}

/// The engine's name for records (`podman` or `runc`); `podman` when none is found (the
/// step then fails with the error of [`choose_engine`]).
pub fn container_engine_name(search_path: Option<&str>, image: &str) -> &'static str {
    match choose_engine(search_path, image) {
        Ok(ContainerEngine::Runc { .. }) => "runc",
        _ => "podman",
    }
}

/// Held while unpacking: steps side by side unpack one image once.
static UNPACKING: Mutex<()> = Mutex::new(());

/// The root file system of the local `image`, unpacked into `cache_dir` the first time.
pub(crate) fn unpacked_rootfs(umoci: &Path, image: &str, cache_dir: &Path) -> Result<PathBuf, ExecError> {
    let unavailable = |what: String| ExecError::ImageUnavailable { message: format!("local OCI image: {what}") };
    let (transport, path) = local_image(image).ok_or_else(|| unavailable(format!("`{image}` is not local")))?;
    let digest = super::local_image_digest(path)?;
    let hex = digest.trim_start_matches("sha256:");
    let dest = cache_dir.join(hex);
    let rootfs = dest.join("rootfs");
    let _one_at_a_time = UNPACKING.lock().expect("unpack lock is never poisoned");
    if rootfs.is_dir() {
        return Ok(rootfs);
    }
    let cache_error = super::scratch_error(cache_dir);
    std::fs::create_dir_all(cache_dir).map_err(cache_error)?;
    let work =
        tempfile::Builder::new().prefix(".unpack-").tempdir_in(cache_dir).map_err(super::scratch_error(cache_dir))?;
    let layout = match transport {
        "oci" => path.to_owned(),
        _ => {
            let layout = work.path().join("layout");
            std::fs::create_dir_all(&layout).map_err(super::scratch_error(&layout))?;
            run_tool(Command::new("tar").arg("-xf").arg(path).arg("-C").arg(&layout), "tar")?;
            layout
        }
    };
    let named = work.path().join("named");
    write_named_layout(&layout, &named)
        .map_err(|e| unavailable(format!("cannot prepare `{}`: {e}", path.display())))?;
    let bundle = work.path().join("bundle");
    let mut image_arg = named.into_os_string();
    image_arg.push(":attest");
    run_tool(
        Command::new(umoci).args(["unpack", "--rootless", "--image"]).arg(image_arg).arg(&bundle),
        "umoci unpack",
    )?;
    // The mount points exist before the root file system is shared, so runc never writes
    // into it (the root is read-only inside, but runc creates missing mount points first).
    for dir in ["proc", "dev", "sys", "tmp", SANDBOX_ROOT.trim_start_matches('/')] {
        let point = bundle.join("rootfs").join(dir);
        if std::fs::symlink_metadata(&point).is_err() {
            std::fs::create_dir(&point).map_err(super::scratch_error(&point))?;
        }
    }
    // Only the root file system is kept: the configuration is attest's own.
    let unpacked = work.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).map_err(super::scratch_error(&unpacked))?;
    std::fs::rename(bundle.join("rootfs"), unpacked.join("rootfs")).map_err(super::scratch_error(&unpacked))?;
    std::fs::rename(&unpacked, &dest).map_err(super::scratch_error(&dest))?;
    Ok(rootfs)
}

/// An OCI layout at `to` with `from`'s blobs and an index naming only `from`'s first
/// manifest, tagged `attest`.
fn write_named_layout(from: &Path, to: &Path) -> std::io::Result<()> {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(from.join("index.json"))?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let mut manifest = index["manifests"][0].clone();
    if !manifest.is_object() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "index.json lists no manifest"));
    }
    manifest["annotations"] = json!({ "org.opencontainers.image.ref.name": "attest" });
    std::fs::create_dir_all(to)?;
    std::fs::copy(from.join("oci-layout"), to.join("oci-layout"))?;
    std::os::unix::fs::symlink(std::path::absolute(from.join("blobs"))?, to.join("blobs"))?;
    let named = json!({ "schemaVersion": 2, "manifests": [manifest] });
    std::fs::write(to.join("index.json"), serde_json::to_vec(&named).map_err(std::io::Error::other)?)
}

fn run_tool(command: &mut Command, what: &str) -> Result<(), ExecError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ExecError::ImageUnavailable { message: format!("{what} could not start: {e}") })?;
    if output.status.success() {
        return Ok(());
    }
    Err(ExecError::ImageUnavailable {
        message: format!("{what} failed: {}", String::from_utf8_lossy(&output.stderr).trim()),
    })
}

/// Everything the runtime configuration is made of.
#[derive(Debug)]
pub(crate) struct RuncPlan<'a> {
    /// The unpacked image's root file system (shared, read-only).
    pub(crate) rootfs: &'a Path,
    /// The read-only view of the workspace (see `workspace_view`).
    pub(crate) view: &'a Path,
    /// This execution's output stage (`scratch/work`).
    pub(crate) stage: &'a Path,
    /// Workspace directories bound writable from the stage.
    pub(crate) writable_dirs: &'a [String],
    /// The working directory, workspace-relative.
    pub(crate) working_dir: &'a str,
    /// The command.
    pub(crate) argv: &'a [String],
    /// Its environment.
    pub(crate) env: &'a BTreeMap<String, String>,
    /// The caller's uid and gid, when not root (rootless: mapped to root inside).
    pub(crate) rootless: Option<(u32, u32)>,
}

/// Capabilities the command keeps (podman's defaults minus everything that changes
/// files' owners or the system).
const CAPABILITIES: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The OCI runtime configuration (`config.json`) of one container step.
pub(crate) fn runc_config(plan: &RuncPlan<'_>) -> serde_json::Value {
    let bind = |source: &Path, destination: String, mode: &str| json!({ "destination": destination, "type": "bind", "source": source, "options": ["rbind", mode, "nosuid", "nodev"] });
    let mut mounts = vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc" }),
        json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
        json!({ "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] }),
        json!({ "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] }),
        json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] }),
        json!({ "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"] }),
        bind(plan.view, SANDBOX_ROOT.to_owned(), "ro"),
    ];
    mounts.extend(plan.writable_dirs.iter().map(|dir| bind(&plan.stage.join(dir), inside(dir), "rw")));
    let mut namespaces: Vec<serde_json::Value> =
        ["pid", "ipc", "uts", "mount", "network"].iter().map(|t| json!({ "type": t })).collect();
    let mut linux = json!({
        "maskedPaths": ["/proc/kcore", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    });
    if let Some((uid, gid)) = plan.rootless {
        namespaces.push(json!({ "type": "user" }));
        linux["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
        linux["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
    }
    linux["namespaces"] = json!(namespaces);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": plan.argv,
            "env": plan.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "cwd": inside(plan.working_dir),
            "capabilities": {
                "bounding": CAPABILITIES, "effective": CAPABILITIES, "permitted": CAPABILITIES,
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true,
        },
        "root": { "path": plan.rootfs, "readonly": true },
        "hostname": SANDBOX_HOSTNAME,
        "mounts": mounts,
        "linux": linux,
    })
}

/// `runc run` of the bundle in `bundle`, with its state in `state`.
pub(crate) fn runc_argv(runc: &Path, state: &Path, bundle: &Path, id: &str) -> Vec<std::ffi::OsString> {
    vec![runc.into(), "--root".into(), state.into(), "run".into(), "--bundle".into(), bundle.into(), id.into()]
}

/// Removes the container `id` if runc left it (its client was killed).
pub(crate) fn force_delete(runc: &Path, state: &Path, id: &str) {
    let _ = Command::new(runc)
        .arg("--root")
        .arg(state)
        .args(["delete", "--force", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn only_local_images_are_local() {
        assert_eq!(local_image("oci-archive:/w/img.tar"), Some(("oci-archive", Path::new("/w/img.tar"))));
        assert_eq!(local_image("oci:/w/layout"), Some(("oci", Path::new("/w/layout"))));
        assert_eq!(local_image(&format!("localhost/x@sha256:{}", "a".repeat(64))), None);
    }

    #[test]
    fn the_configuration_shows_the_view_read_only_and_the_outputs_writable() {
        let env = BTreeMap::from([("PATH".to_owned(), "/bin".to_owned())]);
        let argv = ["sh".to_owned(), "-c".to_owned(), "make".to_owned()];
        let writable = ["out".to_owned()];
        let plan = RuncPlan {
            rootfs: Path::new("/c/rootfs"),
            view: Path::new("/s/view"),
            stage: Path::new("/s/work"),
            writable_dirs: &writable,
            working_dir: "src",
            argv: &argv,
            env: &env,
            rootless: None,
        };
        let config = runc_config(&plan);
        assert_eq!(config["root"], json!({ "path": "/c/rootfs", "readonly": true }));
        assert_eq!(config["process"]["cwd"], "/work/src");
        assert_eq!(config["process"]["env"], json!(["PATH=/bin"]));
        assert_eq!(config["hostname"], "attest");
        let mounts = config["mounts"].as_array().unwrap();
        let view = mounts.iter().find(|m| m["destination"] == "/work").unwrap();
        assert_eq!(view["source"], "/s/view");
        assert!(view["options"].as_array().unwrap().contains(&json!("ro")));
        let out = mounts.iter().find(|m| m["destination"] == "/work/out").unwrap();
        assert_eq!(out["source"], "/s/work/out");
        assert!(out["options"].as_array().unwrap().contains(&json!("rw")));
        let namespaces: Vec<&str> =
            config["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert_eq!(namespaces, ["pid", "ipc", "uts", "mount", "network"]);
        assert!(config["linux"].get("uidMappings").is_none());

        let rootless = runc_config(&RuncPlan { rootless: Some((1000, 1000)), ..plan });
        assert_eq!(rootless["linux"]["namespaces"][5]["type"], "user");
        assert_eq!(rootless["linux"]["uidMappings"][0]["hostID"], 1000);
    }
}
