//! Settings resolved once from arguments and the environment: where the pipeline file
//! is, the workspace, the host environment, the worker count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use attest_pipeline::Pipeline;
use attest_run::Workspace;

use crate::args::FileArgs;
use crate::user_error::UserError;

/// File names looked up, in order, when `-f` is not given.
const PIPELINE_FILES: [&str; 2] = ["attest.yaml", "attest.yml"];

/// An error whose explanation has already been printed (rendered pipeline errors).
#[derive(Debug)]
pub(crate) struct AlreadyReported;

impl std::fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("already reported")
    }
}

impl std::error::Error for AlreadyReported {}

/// A pipeline loaded and checked, with its workspace.
#[derive(Debug)]
pub(crate) struct LoadedPipeline {
    pub(crate) workspace: Workspace,
    pub(crate) pipeline: Pipeline,
    /// The file, canonical.
    pub(crate) path: PathBuf,
    /// Its text.
    pub(crate) source: String,
}

/// Finds the pipeline file: `-f PATH`, else `attest.yaml` in `cwd` or the nearest parent.
pub(crate) fn find_pipeline(cwd: &Path, file: &FileArgs) -> Result<PathBuf, UserError> {
    if let Some(path) = &file.file {
        let path = cwd.join(path);
        if !path.is_file() {
            return Err(UserError::new(format!("pipeline file `{}` does not exist", path.display()))
                .hint("check the path given to `-f`, or run `attest init` to create a pipeline"));
        }
        return Ok(path);
    }
    for dir in cwd.ancestors() {
        for name in PIPELINE_FILES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(UserError::new(format!("no attest.yaml in `{}` or any parent directory", cwd.display()))
        .hint("run `attest init` to create a starter pipeline, or pass one with `-f PATH`"))
}

fn display_name(cwd: &Path, path: &Path) -> String {
    match path.strip_prefix(cwd) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => {
            let parents = cwd.ancestors().position(|a| path.starts_with(a)).unwrap_or(0);
            match cwd.ancestors().nth(parents).and_then(|base| path.strip_prefix(base).ok()) {
                Some(rel) if parents > 0 => format!("{}{}", "../".repeat(parents), rel.display()),
                _ => path.display().to_string(),
            }
        }
    }
}

/// Finds, reads and checks the pipeline. Pipeline errors are printed (rendered with
/// source lines) and returned as [`AlreadyReported`].
pub(crate) fn load_pipeline(
    cwd: &Path,
    file: &FileArgs,
    printer: crate::printer::Printer,
) -> anyhow::Result<LoadedPipeline> {
    load_pipeline_starting(cwd, file, printer, |_| ()).map(|(loaded, ())| loaded)
}

/// [`load_pipeline`], calling `start` with the workspace as soon as it is known, so that
/// work which needs only the workspace overlaps reading and checking the pipeline.
pub(crate) fn load_pipeline_starting<T>(
    cwd: &Path,
    file: &FileArgs,
    printer: crate::printer::Printer,
    start: impl FnOnce(&Workspace) -> T,
) -> anyhow::Result<(LoadedPipeline, T)> {
    let path = find_pipeline(cwd, file)?;
    let path = fs_err::canonicalize(&path)
        .map_err(|e| UserError::new(format!("failed to resolve `{}`: {e}", path.display())))?;
    let display = display_name(cwd, &path);
    let source =
        fs_err::read_to_string(&path).map_err(|e| UserError::new(format!("failed to read the pipeline: {e}")))?;
    let root = path.parent().map_or_else(|| cwd.to_owned(), Path::to_path_buf);
    let workspace = Workspace::new(&root);
    let started = start(&workspace);
    // A checked parse of this exact file is kept in `.attest/state`; a large pipeline
    // then costs a JSON read instead of a YAML parse and validation.
    let cache_path = workspace.state_dir().join("pipeline.json");
    let cached = std::fs::read(&cache_path).ok();
    let pipeline = match Pipeline::parse_cached(&display, &source, cached.as_deref()) {
        Ok((pipeline, fresh)) => {
            if let Some(bytes) = fresh {
                // Only a cache: failing to write it changes nothing.
                let _ = write_atomically(&cache_path, &bytes);
            }
            pipeline
        }
        Err(errors) => {
            printer.raw_err(&errors.render(&source));
            return Err(AlreadyReported.into());
        }
    };
    Ok((LoadedPipeline { workspace, pipeline, path, source }, started))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if !path.parent().is_some_and(Path::is_dir) {
        // No state directory yet (a workspace attest has never run in): nothing to speed up.
        return Ok(());
    }
    attest_hash::write_atomically(path, bytes, attest_hash::Durability::Atomic)
}

/// Deterministic mode when asked for by the flag, by `deterministic: true` in the
/// pipeline, or by `attest config set deterministic true`; with its SOURCE_DATE_EPOCH.
pub(crate) fn deterministic(
    loaded: &LoadedPipeline,
    flag: bool,
    host_env: &BTreeMap<String, String>,
) -> Result<Option<attest_run::Deterministic>, UserError> {
    let configured = crate::workspace_config::WorkspaceConfig::load(&loaded.workspace.root)?.deterministic;
    let on = flag || loaded.pipeline.deterministic || configured == Some(true);
    Ok(on.then(|| {
        attest_run::Deterministic::for_workspace(&loaded.workspace.root, host_env.get("PATH").map(String::as_str))
    }))
}

/// The variable holding a PKCS#8 PEM signing key in CI. It never reaches a step.
pub(crate) const SIGNING_KEY_VAR: &str = "ATTEST_SIGNING_KEY";

/// The host environment (UTF-8 variables only), without the signing key.
pub(crate) fn host_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k != SIGNING_KEY_VAR)
        .collect()
}

/// The workspace root: the pipeline file's directory when there is one (found like
/// `run` finds it), else `cwd`.
pub(crate) fn workspace_root(cwd: &Path) -> PathBuf {
    find_pipeline(cwd, &FileArgs { file: None })
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| cwd.to_owned())
}

/// Default worker count: the number of cores.
pub(crate) fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_relative_to_where_attest_started() {
        assert_eq!(display_name(Path::new("/w"), Path::new("/w/attest.yaml")), "attest.yaml");
        assert_eq!(display_name(Path::new("/w/a/b"), Path::new("/w/attest.yaml")), "../../attest.yaml");
        assert_eq!(display_name(Path::new("/x"), Path::new("/w/attest.yaml")), "../w/attest.yaml");
    }
}
