use std::path::Path;
use std::time::{Duration, SystemTime};

use attest_cache::{CacheLock, CacheStore, GcPolicy, LockMode};
use attest_pipeline::Pipeline;
use attest_run::Workspace;
use serde_json::json;

use crate::args::{CacheCommand, FileArgs, Format};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::find_pipeline;
use crate::user_error::UserError;

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

fn open(cwd: &Path, file: &FileArgs, mode: LockMode) -> anyhow::Result<(Workspace, CacheStore, CacheLock)> {
    let path = find_pipeline(cwd, file)?;
    let root = path.parent().map_or_else(|| cwd.to_owned(), Path::to_path_buf);
    let workspace = Workspace::new(&root);
    let lock = CacheLock::acquire(&workspace.lock_path(), mode).map_err(|e| UserError::new(e.to_string()))?;
    let store = CacheStore::open(&workspace.cache_dir()).map_err(|e| UserError::new(e.to_string()))?;
    Ok((workspace, store, lock))
}

/// `attest cache stats|gc|clean|verify`.
pub(crate) fn cache(cwd: &Path, command: CacheCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    match command {
        CacheCommand::Stats { file, format } => {
            let (_, store, _lock) = open(cwd, &file, LockMode::Shared)?;
            let stats = store.stats();
            match format {
                Format::Json => printer.data(&json!({"path": store.root(), "stats": stats}).to_string()),
                Format::Human => printer.info(&format!(
                    "cache `{}`: {} entries, {} blobs, {}{}",
                    store.root().display(),
                    stats.entries,
                    stats.blobs,
                    human_bytes(stats.bytes),
                    if stats.temp_files > 0 {
                        format!(", {} leftover temp files", stats.temp_files)
                    } else {
                        String::new()
                    }
                )),
            }
            Ok(ExitStatus::Success)
        }
        CacheCommand::Gc { file, max_size, retention_days, format } => {
            let (_, store, _lock) = open(cwd, &file, LockMode::Exclusive)?;
            let mut policy = GcPolicy::default();
            if max_size.is_none() || retention_days.is_none() {
                let path = find_pipeline(cwd, &file)?;
                let source = fs_err::read_to_string(&path).map_err(|e| UserError::new(e.to_string()))?;
                if let Ok(pipeline) = Pipeline::parse("attest.yaml", &source) {
                    policy.max_size = pipeline.cache.max_size;
                    policy.max_age = pipeline.cache.retention_days.map(|d| Duration::from_secs(u64::from(d) * 86_400));
                }
            }
            if let Some(text) = max_size {
                let size = parse_size_flag(&text)?;
                policy.max_size = Some(size);
            }
            if let Some(days) = retention_days {
                policy.max_age = Some(Duration::from_secs(u64::from(days) * 86_400));
            }
            let report = store.gc(policy, SystemTime::now()).map_err(|e| UserError::new(e.to_string()))?;
            match format {
                Format::Json => printer.data(&json!({"gc": report}).to_string()),
                Format::Human => printer.info(&format!(
                    "removed {} entries and {} blobs, freed {}; cache is now {}",
                    report.entries_removed,
                    report.blobs_removed,
                    human_bytes(report.bytes_freed),
                    human_bytes(report.bytes_after)
                )),
            }
            Ok(ExitStatus::Success)
        }
        CacheCommand::Clean { file, format } => {
            let (workspace, store, _lock) = open(cwd, &file, LockMode::Exclusive)?;
            let before = store.clean().map_err(|e| UserError::new(e.to_string()))?;
            // Key records describe cache state that is now gone; the stat cache stays.
            let _ = std::fs::remove_dir_all(workspace.state_dir().join("keys"));
            let _ = std::fs::remove_file(workspace.state_dir().join("last-keys.json"));
            match format {
                Format::Json => printer.data(&json!({"removed": before}).to_string()),
                Format::Human => printer.info(&format!(
                    "removed {} entries and {} blobs ({})",
                    before.entries,
                    before.blobs,
                    human_bytes(before.bytes)
                )),
            }
            Ok(ExitStatus::Success)
        }
        CacheCommand::Verify { file, format } => {
            let (_, store, _lock) = open(cwd, &file, LockMode::Shared)?;
            let report = store.verify();
            match format {
                Format::Json => printer.data(&json!({"clean": report.is_clean(), "report": report}).to_string()),
                Format::Human => {
                    for problem in &report.problems {
                        printer.info(&format!("[FAIL] {problem}"));
                    }
                    printer.info(&format!(
                        "{}: checked {} blobs and {} entries, {} problem{}{}",
                        if report.is_clean() { "cache is clean" } else { "cache is damaged" },
                        report.blobs_checked,
                        report.entries_checked,
                        report.problems.len(),
                        if report.problems.len() == 1 { "" } else { "s" },
                        if report.temp_files > 0 {
                            format!(" ({} leftover temp files; `attest cache gc` removes them)", report.temp_files)
                        } else {
                            String::new()
                        }
                    ));
                }
            }
            Ok(if report.is_clean() { ExitStatus::Success } else { ExitStatus::Failure })
        }
    }
}

fn parse_size_flag(text: &str) -> Result<u64, UserError> {
    attest_pipeline::parse_size(text)
        .map_err(|reason| UserError::new(reason).hint("write a size such as `10GB` or `512MiB`"))
}
