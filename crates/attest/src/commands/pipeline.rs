use std::path::Path;

use attest_pipeline::{Pipeline, json_schema};
use serde_json::json;

use crate::args::{Format, PipelineCommand};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::find_pipeline;
use crate::user_error::UserError;

/// `attest pipeline validate|schema`.
pub(crate) fn pipeline(cwd: &Path, command: PipelineCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    match command {
        PipelineCommand::Schema => {
            let text = serde_json::to_string_pretty(&json_schema()).map_err(|e| UserError::new(e.to_string()))?;
            printer.data(&text);
            Ok(ExitStatus::Success)
        }
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
