use std::path::Path;
use std::time::{Duration, SystemTime};

use attest_analysis::ReportData;
use attest_store::{RunQuery, RunRow};
use serde_json::json;

use attest_pipeline::Pipeline;

use crate::args::{AuditCommand, FileArgs, Format, ReportFormat};
use crate::commands::run_history::{epoch_ms, open_store};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::{find_pipeline, workspace_root};
use crate::user_error::UserError;

/// `attest audit ...`.
pub(crate) fn audit(cwd: &Path, command: AuditCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    match command {
        AuditCommand::History { limit, step, format } => {
            let query = RunQuery { limit: Some(limit), since_ms: None, step: step.clone() };
            let runs = match open_store(&workspace_root(cwd))? {
                Some(store) => store.runs(&query).map_err(|e| UserError::new(e.to_string()))?,
                None => Vec::new(),
            };
            history(&runs, step.as_deref(), format, printer);
            Ok(ExitStatus::Success)
        }
        AuditCommand::Package(command) => crate::commands::audit_package::package(cwd, command, printer),
        AuditCommand::VerifyLog { format } => crate::commands::audit_package::verify_log(cwd, format, printer),
        AuditCommand::Analyze { period, file, format } => analyze(cwd, period, &file, format, printer),
        AuditCommand::Report { period, file, format, output } => {
            report(cwd, period, &file, format, output.as_deref(), printer)
        }
    }
}

/// `attest audit analyze`.
fn analyze(cwd: &Path, period: u32, file: &FileArgs, format: Format, printer: Printer) -> anyhow::Result<ExitStatus> {
    let (pipeline, runs) = period_runs(cwd, period, file, printer)?;
    let analysis = attest_analysis::analyze(&runs, pipeline.as_ref(), period);
    match format {
        Format::Json => printer.data(&serde_json::to_string(&analysis)?),
        Format::Human => printer.raw_err(&attest_analysis::analysis_text(&analysis, attest_analysis::DEFAULT_WIDTH)),
    }
    Ok(ExitStatus::Success)
}

/// The HTML report's file when `-o` is not given.
const DEFAULT_HTML_REPORT: &str = "attest-report.html";

/// `attest audit report`: the analysis of `analyze` plus the last run and the hit rate per
/// run, rendered by attest-analysis; this only picks the format and where it goes.
fn report(
    cwd: &Path,
    period: u32,
    file: &FileArgs,
    format: Option<ReportFormat>,
    output: Option<&Path>,
    printer: Printer,
) -> anyhow::Result<ExitStatus> {
    let format = format.unwrap_or_else(|| format_of(output));
    let (pipeline, runs) = period_runs(cwd, period, file, printer)?;
    if runs.is_empty() {
        printer.info(&format!(
            "No runs in the last {period} days: the report is empty (every `attest run` is recorded in \
             .attest/attest.db)."
        ));
    }
    let analysis = attest_analysis::analyze(&runs, pipeline.as_ref(), period);
    let data = ReportData::new(
        analysis,
        &runs,
        attest_receipt::rfc3339(SystemTime::now()),
        env!("CARGO_PKG_VERSION").to_owned(),
    );
    let text = match format {
        ReportFormat::Markdown => attest_analysis::markdown_report(&data),
        ReportFormat::Json => serde_json::to_string(&data)?,
        ReportFormat::Html => attest_analysis::html_report(&data),
    };
    let target = match output {
        Some(path) if path == Path::new("-") => None,
        Some(path) => Some(cwd.join(path)),
        None if format == ReportFormat::Html => Some(cwd.join(DEFAULT_HTML_REPORT)),
        None => None,
    };
    match target {
        None => printer.data(text.trim_end_matches('\n')),
        Some(path) => {
            write_report(&path, &text)?;
            printer.info(&format!("Report written to {}", path.display()));
        }
    }
    Ok(ExitStatus::Success)
}

/// The format a report file's name asks for: `.html`/`.htm`, `.json`, else Markdown.
fn format_of(output: Option<&Path>) -> ReportFormat {
    let extension = output.and_then(Path::extension).map(|e| e.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("html" | "htm") => ReportFormat::Html,
        Some("json") => ReportFormat::Json,
        _ => ReportFormat::Markdown,
    }
}

fn write_report(path: &Path, text: &str) -> Result<(), UserError> {
    attest_hash::write_atomically(path, text.as_bytes(), attest_hash::Durability::Atomic).map_err(|e| {
        UserError::new(format!("failed to write the report `{}`: {e}", path.display()))
            .hint("check that the directory is writable, or write to stdout with `-o -`")
    })
}

/// The pipeline, when it can be read, and the runs of the last `period` days, newest first.
/// The pipeline is optional: a broken attest.yaml still has a history worth reading; the
/// analysis is only richer with it.
fn period_runs(
    cwd: &Path,
    period: u32,
    file: &FileArgs,
    printer: Printer,
) -> anyhow::Result<(Option<Pipeline>, Vec<RunRow>)> {
    let pipeline_file = find_pipeline(cwd, file).ok();
    let root = pipeline_file.as_deref().and_then(Path::parent).map_or_else(|| workspace_root(cwd), Path::to_path_buf);
    let pipeline = pipeline_file.and_then(|path| {
        let source = std::fs::read_to_string(&path).ok()?;
        match Pipeline::parse(&path.display().to_string(), &source) {
            Ok(pipeline) => Some(pipeline),
            Err(_) => {
                printer
                    .warn("the pipeline file has errors: analysing without it (no critical paths, no `cache: false`)");
                None
            }
        }
    });
    let since = epoch_ms(SystemTime::now()) - i64::from(period) * 86_400_000;
    let runs = match open_store(&root)? {
        Some(store) => store
            .runs(&RunQuery { since_ms: Some(since), ..RunQuery::default() })
            .map_err(|e| UserError::new(e.to_string()))?,
        None => Vec::new(),
    };
    Ok((pipeline, runs))
}

fn when(ms: i64) -> String {
    let time = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    let text = attest_receipt::rfc3339(time);
    // 2026-12-01T21:30:00.123Z → 2026-12-01 21:30:00
    text.get(..19).map_or(text.clone(), |t| t.replace('T', " "))
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn history(runs: &[RunRow], step: Option<&str>, format: Format, printer: Printer) {
    match (format, step) {
        (Format::Json, _) => printer.data(&serde_json::to_string(&json!({ "runs": runs })).unwrap_or_default()),
        (Format::Human, _) if runs.is_empty() => {
            printer.info("No runs recorded yet: every `attest run` is recorded in .attest/attest.db.");
        }
        (Format::Human, None) => {
            printer.info(&format!(
                "{:<16}  {:<19}  {:<11}  {:>5}  {:>4}  {:>6}  {:>6}  {:>7}  {:>8}",
                "RUN", "STARTED (UTC)", "STATUS", "STEPS", "RAN", "CACHED", "FAILED", "SKIPPED", "TIME"
            ));
            for run in runs {
                printer.info(&format!(
                    "{:<16}  {:<19}  {:<11}  {:>5}  {:>4}  {:>6}  {:>6}  {:>7}  {:>8}",
                    run.run_id,
                    when(run.started_ms),
                    run.status.as_str(),
                    run.steps.len(),
                    run.ran,
                    run.cached,
                    run.failed,
                    run.skipped,
                    run.duration_ms().map_or_else(|| "-".to_owned(), seconds),
                ));
            }
        }
        (Format::Human, Some(name)) => {
            printer.info(&format!(
                "{:<16}  {:<19}  {:<10}  {:<5}  {:>8}  DETAIL",
                "RUN", "STARTED (UTC)", "STATUS", "CACHE", "TIME"
            ));
            for run in runs {
                let Some(row) = run.steps.iter().find(|s| s.step == name) else { continue };
                let detail = row.miss_reason.as_deref().or(row.detail.as_deref()).unwrap_or("");
                printer.info(&format!(
                    "{:<16}  {:<19}  {:<10}  {:<5}  {:>8}  {detail}",
                    run.run_id,
                    when(run.started_ms),
                    row.status,
                    row.cache.as_deref().unwrap_or("-"),
                    seconds(row.duration_ms),
                ));
            }
        }
    }
}
