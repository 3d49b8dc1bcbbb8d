//! `isolation: sandbox` in a run: the sandbox a step's command gets, how undeclared reads
//! and writes fail the step, and what the receipt records about the isolation.

use attest_exec::{ExecResult, SANDBOX_GID, SANDBOX_HOSTNAME, SANDBOX_ROOT, SANDBOX_UID, SandboxSpec, VmSpec};
use attest_hash::EntryKind;
use attest_pipeline::{Isolation, Step};
use attest_receipt::{ContainerParameters, IsolationParameters, SandboxParameters, VmParameters};

use crate::step_runner::StepRunner;
use crate::{Failure, KeyRecord, RunEvent, Workspace};

impl StepRunner<'_> {
    /// The sandbox of `step`'s execution, when it runs in one: its resolved inputs and the
    /// declared outputs of the steps it needs are visible, its declared outputs writable.
    pub(crate) fn sandbox_spec(&self, index: usize, step: &Step, record: &KeyRecord) -> Option<SandboxSpec> {
        if !matches!(step.isolation, Isolation::Sandbox | Isolation::Container | Isolation::Vm) {
            return None;
        }
        let mut visible: Vec<String> = record
            .inputs
            .entries()
            .iter()
            .filter(|e| e.kind != EntryKind::Missing)
            .map(|e| e.path.to_string())
            .collect();
        for &need in &step.needs {
            visible.extend(self.pipeline.steps[need].outputs.iter().map(ToString::to_string));
        }
        Some(SandboxSpec {
            workspace: self.root.to_owned(),
            scratch: Workspace::new(self.root).sandbox_dir().join(index.to_string()),
            visible,
            outputs: step.outputs.iter().map(ToString::to_string).collect(),
            system_paths: step.sandbox.system_paths.clone(),
            working_dir: step.working_dir.as_ref().map_or_else(String::new, ToString::to_string),
            search_path: self.host_env.get("PATH").cloned(),
            explain: self.explain_sandbox && step.isolation == Isolation::Sandbox,
            // A checked pipeline has an image for every container step; without one,
            // podman refuses the empty reference rather than bubblewrap running the step.
            container: (step.isolation == Isolation::Container)
                .then(|| step.image.as_ref().map_or_else(String::new, |image| podman_image(image, self.root))),
            vm: (step.isolation == Isolation::Vm).then(|| vm_spec(self.root, step)),
            image_cache: Workspace::new(self.root).containers_dir(),
        })
    }

    /// `failure` (from the exit status) as the sandbox refines it: a failed step that
    /// looked for undeclared files names them (`--explain-sandbox`); a successful one that
    /// wrote beside its outputs fails. Without `--explain-sandbox`, a failure says how to
    /// find out whether an undeclared file was the cause.
    pub(crate) fn sandbox_failure(
        &self,
        step: &Step,
        result: &ExecResult,
        failure: Option<Failure>,
    ) -> Option<Failure> {
        let Some(report) = &result.sandbox else { return failure };
        let warn = |message: String| self.reporter.report(RunEvent::Warning(&message));
        match failure {
            Some(Failure::ExitCode { code }) if !report.undeclared_reads.is_empty() => {
                Some(Failure::UndeclaredReads { code, paths: report.undeclared_reads.clone() })
            }
            Some(failure @ Failure::ExitCode { .. }) => {
                if !self.explain_sandbox && step.isolation == Isolation::Sandbox {
                    warn(format!(
                        "step `{}` failed in its sandbox, where undeclared files do not exist; \
                         `attest run --explain-sandbox` names the ones it tried to open",
                        step.name
                    ));
                }
                Some(failure)
            }
            Some(failure) => Some(failure),
            None if !report.undeclared_writes.is_empty() => {
                Some(Failure::UndeclaredWrites { paths: report.undeclared_writes.clone() })
            }
            None => {
                if !report.undeclared_reads.is_empty() {
                    warn(format!(
                        "step `{}` looked for undeclared files, which its sandbox hides: {}",
                        step.name,
                        report.undeclared_reads.join(", ")
                    ));
                }
                None
            }
        }
    }
}

/// What the receipt records about how `step` was isolated (for every step, cached or not:
/// the level is part of the key, so a cached result was made the same way).
pub(crate) fn isolation_parameters(step: &Step, root: &std::path::Path) -> IsolationParameters {
    let sandbox = (step.isolation == Isolation::Sandbox).then(|| SandboxParameters {
        root: SANDBOX_ROOT.to_owned(),
        system_paths: attest_exec::read_only_system_paths(&step.sandbox.system_paths),
        writable: step.outputs.iter().map(ToString::to_string).collect(),
        tmpfs: vec!["/tmp".to_owned()],
        network: "loopback".to_owned(),
        hostname: SANDBOX_HOSTNAME.to_owned(),
        uid: SANDBOX_UID,
        gid: SANDBOX_GID,
        landlock_abi: attest_exec::sandbox_landlock_abi(),
    });
    let container = match (step.isolation, &step.image) {
        (Isolation::Container, Some(image)) => Some(ContainerParameters {
            image: image.reference.clone(),
            digest: image_digest(image, root),
            engine: attest_exec::container_engine_name(
                std::env::var("PATH").ok().as_deref(),
                &podman_image(image, root),
            )
            .to_owned(),
            root: SANDBOX_ROOT.to_owned(),
            writable: step.outputs.iter().map(ToString::to_string).collect(),
            tmpfs: vec!["/tmp".to_owned()],
            network: "none".to_owned(),
            read_only_root: true,
        }),
        _ => None,
    };
    let vm = (step.isolation == Isolation::Vm).then(|| {
        let boot = vm_boot(step, root);
        VmParameters {
            engine: "qemu microvm".to_owned(),
            kernel: boot.as_ref().map_or_else(|_| String::new(), |b| b.kernel.display().to_string()),
            kernel_digest: boot.as_ref().map_or_else(|_| String::new(), |b| b.kernel_sha256.clone()),
            initramfs: match boot.as_ref().ok().and_then(|b| b.initramfs.as_ref()) {
                Some(path) => path.display().to_string(),
                None => "attest".to_owned(),
            },
            initramfs_digest: boot.as_ref().map_or_else(|_| String::new(), |b| b.initramfs_sha256.clone()),
            root: SANDBOX_ROOT.to_owned(),
            writable: step.outputs.iter().map(ToString::to_string).collect(),
            network: "none".to_owned(),
        }
    });
    IsolationParameters { level: step.isolation.as_str().to_owned(), sandbox, container, vm }
}

/// The digest of a step's image: pinned in the reference, or read from a local OCI
/// archive or layout (`unavailable` when it cannot be read: the step then fails when
/// podman cannot load it).
fn image_digest(image: &attest_pipeline::ContainerImage, root: &std::path::Path) -> String {
    match &image.local {
        Some((_, path)) => {
            attest_exec::local_image_digest(&root.join(path)).unwrap_or_else(|_| "unavailable".to_owned())
        }
        None => image.digest.clone(),
    }
}

/// What podman runs for `image`: the reference, or the local image's transport and
/// absolute path.
fn podman_image(image: &attest_pipeline::ContainerImage, root: &std::path::Path) -> String {
    match &image.local {
        Some((transport, path)) => format!("{transport}:{}", root.join(path).display()),
        None => image.reference.clone(),
    }
}

/// The VM settings of `step` for the executor.
fn vm_spec(root: &std::path::Path, step: &Step) -> VmSpec {
    let settings = step.vm_image.clone().unwrap_or_default();
    VmSpec {
        kernel: settings.kernel.map(Into::into),
        initramfs: settings.initramfs.map(Into::into),
        cache_dir: Workspace::new(root).vm_dir(),
    }
}

/// What `step` boots on this host (resolved once per run by attest-exec).
fn vm_boot(step: &Step, root: &std::path::Path) -> Result<attest_exec::VmBoot, attest_exec::ExecError> {
    let path = std::env::var("PATH").ok();
    attest_exec::resolve_vm(&vm_spec(root, step), path.as_deref())
}

/// How a sandboxed step's system paths enter its cache key: appended to the level
/// (`sandbox:/etc/ssl,/opt/tool`), so that keys of sandboxed steps without system paths,
/// and of every other step, are unchanged. A container step's key has its image digest,
/// a VM step's the digests of its kernel and initramfs.
pub(crate) fn isolation_key(step: &Step, root: &std::path::Path) -> String {
    match (step.isolation, step.sandbox.system_paths.is_empty()) {
        (Isolation::Sandbox, empty) => {
            let mut key = "sandbox".to_owned();
            if !empty {
                key.push(':');
                key.push_str(&step.sandbox.system_paths.join(","));
            }
            // What the receipt claims of a cached result must hold for the run that made it.
            if let Some(abi) = attest_exec::sandbox_landlock_abi() {
                key.push_str(&format!("+landlock{abi}"));
            }
            key
        }
        (Isolation::Container, _) => match &step.image {
            Some(image) => format!("container:{}", image_digest(image, root)),
            None => "container".to_owned(),
        },
        (Isolation::Vm, _) => match vm_boot(step, root) {
            Ok(boot) => format!("vm:{}:{}", boot.kernel_sha256, boot.initramfs_sha256),
            // The step fails when it runs, with this error; the key only has to differ.
            Err(_) => "vm:unavailable".to_owned(),
        },
        (level, _) => level.as_str().to_owned(),
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use attest_pipeline::Pipeline;

    use super::*;

    #[test]
    fn system_paths_enter_the_key_only_for_sandboxed_steps() {
        let pipeline = Pipeline::parse(
            "attest.yaml",
            "version: \"0.1\"\nsteps:\n  a: { run: x, isolation: sandbox, sandbox: { system_paths: [/etc/ssl, /opt] } }\n  b: { run: x, isolation: sandbox }\n  c: { run: x, sandbox: { system_paths: [/etc/ssl] } }\n",
        )
        .unwrap();
        let keys: Vec<String> = pipeline.steps.iter().map(|s| isolation_key(s, std::path::Path::new("."))).collect();
        assert_eq!(keys, ["sandbox:/etc/ssl,/opt", "sandbox", "process"]);
        let hex = "ab".repeat(32);
        let container = Pipeline::parse(
            "attest.yaml",
            &format!(
                "version: \"0.1\"\nsteps:\n  a: {{ run: x, isolation: container, image: \"t:1@sha256:{hex}\" }}\n"
            ),
        )
        .unwrap();
        assert_eq!(isolation_key(&container.steps[0], std::path::Path::new(".")), format!("container:sha256:{hex}"));
        let recorded = isolation_parameters(&container.steps[0], std::path::Path::new(".")).container.unwrap();
        assert_eq!((recorded.image, recorded.digest), (format!("t:1@sha256:{hex}"), format!("sha256:{hex}")));
        let record = isolation_parameters(&pipeline.steps[0], std::path::Path::new("."));
        let sandbox = record.sandbox.unwrap();
        assert_eq!(sandbox.system_paths.first().map(String::as_str), Some("/usr"));
        assert!(sandbox.system_paths.ends_with(&["/etc/ssl".to_owned(), "/opt".to_owned()]));
        assert_eq!(
            isolation_parameters(&pipeline.steps[2], std::path::Path::new(".")),
            IsolationParameters { level: "process".to_owned(), sandbox: None, container: None, vm: None }
        );
    }
}
