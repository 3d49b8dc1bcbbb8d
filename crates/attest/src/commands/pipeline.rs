use std::path::Path;

use anyhow::Context as _;
use attest_analysis::{DEFAULT_WIDTH, PipelineView, ascii_drawing, dot, median_durations, mermaid};
use attest_pipeline::{Pipeline, json_schema};
use serde_json::json;

use crate::args::{FileArgs, Format, GraphFormat, PipelineCommand};
use crate::commands::run_history::recent_runs;
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::{find_pipeline, load_pipeline};
use crate::user_error::UserError;

/// How many recent runs the medians of `pipeline show` come from.
const HISTORY_RUNS: usize = 20;

/// `attest pipeline validate|schema|show`.
pub(crate) fn pipeline(cwd: &Path, command: PipelineCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    match command {
        PipelineCommand::Schema => {
            let text = serde_json::to_string_pretty(&json_schema()).map_err(|e| UserError::new(e.to_string()))?;
            printer.data(&text);
            Ok(ExitStatus::Success)
        }
        PipelineCommand::Show { file, format } => show(cwd, &file, format, printer),
        PipelineCommand::Validate { file, format } => {
            let path = find_pipeline(cwd, &file)?;
            let display = path.strip_prefix(cwd).unwrap_or(&path).display().to_string();
            let source = fs_err::read_to_string(&path)
                .map_err(|e| UserError::new(format!("failed to read the pipeline: {e}")))?;
            match (Pipeline::parse(&display, &source), format) {
                (Ok(pipeline), Format::Human) => {
                    let levels = pipeline.graph().levels().into_iter().max().map_or(0, |l| l + 1);
                    printer.info(&format!("{display} is valid: {} steps in {levels} levels", pipeline.steps.len()));
                    Ok(ExitStatus::Success)
                }
                (Ok(pipeline), Format::Json) => {
                    let steps: Vec<&str> = pipeline.steps.iter().map(|s| s.name.as_str()).collect();
                    printer.data(
                        &json!({"valid": true, "file": display, "digest": pipeline.digest, "steps": steps}).to_string(),
                    );
                    Ok(ExitStatus::Success)
                }
                (Err(errors), Format::Human) => {
                    printer.raw_err(&errors.render(&source));
                    Ok(ExitStatus::Failure)
                }
                (Err(errors), Format::Json) => {
                    let list: Vec<serde_json::Value> = errors
                        .errors()
                        .iter()
                        .map(|e| {
                            json!({
                                "file": e.file,
                                "line": e.location.map(|l| l.line),
                                "column": e.location.map(|l| l.column),
                                "message": e.message,
                                "hint": e.hint,
                            })
                        })
                        .collect();
                    printer.data(&json!({"valid": false, "file": display, "errors": list}).to_string());
                    Ok(ExitStatus::Failure)
                }
            }
        }
    }
}

/// `attest pipeline show`: the step graph's levels, critical path and bottlenecks.
fn show(cwd: &Path, file: &FileArgs, format: GraphFormat, printer: Printer) -> anyhow::Result<ExitStatus> {
    let loaded = load_pipeline(cwd, file, printer)?;
    // Weights: the steps' median durations over the recent runs, when there are any.
    let runs = recent_runs(&loaded.workspace.root, HISTORY_RUNS).unwrap_or_else(|err| {
        printer.warn(&format!("{err}; the critical path is by step count"));
        Vec::new()
    });
    let mut view = PipelineView::new(&loaded.pipeline, &median_durations(&runs));
    if !runs.is_empty() {
        view = view.with_run_count(runs.len());
    }
    let text = match format {
        GraphFormat::Human => ascii_drawing(&view, DEFAULT_WIDTH),
        GraphFormat::Json => serde_json::to_string(&view).context("failed to serialise the pipeline view")?,
        GraphFormat::Dot => dot(&view),
        GraphFormat::Mermaid => mermaid(&view),
    };
    printer.data(text.trim_end());
    Ok(ExitStatus::Success)
}
