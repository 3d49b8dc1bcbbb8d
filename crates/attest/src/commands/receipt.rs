use std::path::{Path, PathBuf};

use attest_receipt::{ClassicView, list_receipts, read_run_statement};
use serde_json::json;

use crate::args::{Format, ReceiptCommand, ShowFormat};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::workspace_root;
use crate::user_error::UserError;
use crate::yaml_text::to_yaml;

fn receipts_dir(cwd: &Path) -> PathBuf {
    workspace_root(cwd).join(".attest").join("receipts")
}

fn read_view(path: &Path) -> Result<ClassicView, UserError> {
    let bytes = fs_err::read(path).map_err(|e| UserError::new(format!("failed to read the receipt: {e}")))?;
    let (envelope, statement) = read_run_statement(&String::from_utf8_lossy(&bytes))
        .map_err(|e| UserError::new(format!("`{}`: {e}", path.display())))?;
    Ok(ClassicView::new(&statement, &envelope))
}

/// `attest receipt show|list`.
pub(crate) fn receipt(cwd: &Path, command: ReceiptCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    match command {
        ReceiptCommand::Show { receipt, format } => {
            let path = match receipt {
                Some(path) => cwd.join(path),
                None => list_receipts(&receipts_dir(cwd))?.pop().ok_or_else(|| {
                    UserError::new("no receipts in .attest/receipts").hint("`attest run` writes one per run")
                })?,
            };
            let view = read_view(&path)?;
            match format {
                ShowFormat::Json => printer.data(&serde_json::to_string_pretty(&view)?),
                ShowFormat::Yaml => printer.data(to_yaml(&serde_json::to_value(&view)?).trim_end()),
                ShowFormat::Human => show_human(&view, printer),
            }
            Ok(ExitStatus::Success)
        }
        ReceiptCommand::Prune { keep, older_than, dry_run, format } => {
            let mut paths = list_receipts(&receipts_dir(cwd))?;
            paths.reverse(); // newest first
            let now = std::time::SystemTime::now();
            let doomed: Vec<PathBuf> = paths
                .into_iter()
                .enumerate()
                .filter(|(index, path)| {
                    let beyond_keep = keep.is_some_and(|keep| *index >= keep);
                    let too_old = older_than.is_some_and(|days| {
                        std::fs::metadata(path)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| now.duration_since(t).ok())
                            .is_some_and(|age| age.as_secs() > days * 86_400)
                    });
                    beyond_keep || too_old
                })
                .map(|(_, path)| path)
                .collect();
            if !dry_run {
                for path in &doomed {
                    fs_err::remove_file(path)
                        .map_err(|e| UserError::new(format!("failed to delete a receipt: {e}")))?;
                }
            }
            match format {
                Format::Json => printer.data(
                    &json!({"deleted": !dry_run, "receipts": doomed.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()})
                        .to_string(),
                ),
                Format::Human => printer.info(&format!(
                    "{} {} receipts{}",
                    if dry_run { "Would delete" } else { "Deleted" },
                    doomed.len(),
                    if dry_run { " (dry run)" } else { "" }
                )),
            }
            Ok(ExitStatus::Success)
        }
        ReceiptCommand::List { limit, format } => {
            let mut paths = list_receipts(&receipts_dir(cwd))?;
            paths.reverse();
            paths.truncate(limit);
            let rows: Vec<serde_json::Value> = paths
                .iter()
                .map(|path| match read_view(path) {
                    Ok(view) => json!({
                        "path": path.display().to_string(),
                        "run_id": view.run_id,
                        "timestamp": view.timestamp,
                        "status": view.status,
                        "steps": view.steps.len(),
                        "duration_secs": view.total_duration_secs,
                        "signer_keyid": view.signer_keyid,
                    }),
                    Err(err) => json!({"path": path.display().to_string(), "error": err.message}),
                })
                .collect();
            match format {
                Format::Json => printer.data(&serde_json::to_string(&rows)?),
                Format::Human if rows.is_empty() => printer.info("No receipts yet: `attest run` writes one per run."),
                Format::Human => {
                    for row in &rows {
                        let text = |k: &str| row[k].as_str().unwrap_or("").to_owned();
                        if row.get("error").is_some() {
                            printer.info(&format!("{}  unreadable: {}", text("path"), text("error")));
                            continue;
                        }
                        let signer = row["signer_keyid"]
                            .as_str()
                            .map_or("unsigned".to_owned(), |k| format!("signed {}", k.get(..12).unwrap_or(k)));
                        printer.info(&format!(
                            "{}  {}  {:<11}  {:>3} steps  {:>8.3}s  {}  {}",
                            text("timestamp"),
                            text("run_id"),
                            text("status"),
                            row["steps"],
                            row["duration_secs"].as_f64().unwrap_or(0.0),
                            signer,
                            Path::new(&text("path"))
                                .file_name()
                                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                        ));
                    }
                }
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn show_human(view: &ClassicView, printer: Printer) {
    printer.info(&format!("Run {} of `{}`: {} at {}", view.run_id, view.pipeline, view.status, view.timestamp));
    printer.info(&format!("  pipeline_hash  {}", view.pipeline_hash));
    printer.info(&format!("  duration       {:.3}s", view.total_duration_secs));
    printer.info(&format!("  attest         {}", view.attest_version));
    match &view.signer_keyid {
        Some(keyid) => printer.info(&format!("  signed by      {keyid}")),
        None => printer.info("  signature      none (unsigned run)"),
    }
    for step in &view.steps {
        let how = if step.cache_hit {
            "cache hit".to_owned()
        } else {
            format!("exit {}", step.exit_code.map_or("-".to_owned(), |c| c.to_string()))
        };
        printer.info(&format!(
            "  {:<8} {} ({:.3}s, {how}, {} inputs, {} outputs)",
            step.status,
            step.name,
            step.duration_secs,
            step.inputs.len(),
            step.outputs.len()
        ));
        for output in &step.outputs {
            printer.info(&format!("           -> {}  {}", output.path, output.hash));
        }
    }
}
