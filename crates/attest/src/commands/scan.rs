use std::path::{Path, PathBuf};

use attest_secrets::{Finding, Severity, scan as scan_bytes};
use serde::Serialize;

use crate::args::{Format, ScanArgs};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::user_error::UserError;

/// Files larger than this are skipped (with a note).
const SCAN_LIMIT: u64 = 256 * 1024 * 1024;

#[derive(Serialize)]
struct FileFinding {
    path: String,
    #[serde(flatten)]
    finding: Finding,
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            if entry.file_name().is_some_and(|n| n == ".git" || n == ".attest") {
                continue;
            }
            collect(&entry, files)?;
        }
    } else if meta.is_file() {
        files.push(path.to_owned());
    }
    Ok(())
}

/// `attest scan PATH...`.
pub(crate) fn scan(cwd: &Path, args: &ScanArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let mut files = Vec::new();
    for path in &args.paths {
        collect(&cwd.join(path), &mut files)
            .map_err(|e| UserError::new(format!("cannot scan `{}`: {e}", path.display())))?;
    }
    let mut findings = Vec::new();
    for file in &files {
        let shown = file.strip_prefix(cwd).unwrap_or(file).display().to_string();
        if std::fs::metadata(file).is_ok_and(|m| m.len() > SCAN_LIMIT) {
            printer.info(&format!("note: skipped `{shown}`: larger than 256 MiB"));
            continue;
        }
        let bytes = fs_err::read(file).map_err(|e| UserError::new(format!("cannot scan: {e}")))?;
        findings.extend(scan_bytes(&bytes).into_iter().map(|finding| FileFinding { path: shown.clone(), finding }));
    }
    let high = findings.iter().filter(|f| f.finding.severity == Severity::High).count();
    match args.format {
        Format::Json => printer.data(
            &serde_json::json!({
                "files": files.len(),
                "findings": findings,
                "high": high,
            })
            .to_string(),
        ),
        Format::Human => {
            for f in &findings {
                let severity = match f.finding.severity {
                    Severity::High => "high",
                    Severity::Medium => "medium",
                };
                printer.info(&format!(
                    "{}:{}: {severity}: {} ({})",
                    f.path, f.finding.line, f.finding.rule, f.finding.excerpt
                ));
            }
            printer.info(&format!("Scanned {} files: {} findings ({high} high severity)", files.len(), findings.len()));
        }
    }
    Ok(if high > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}
