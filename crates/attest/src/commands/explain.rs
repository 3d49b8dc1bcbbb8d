use std::path::Path;

use attest_run::{Prediction, RunOptions};
use serde_json::json;

use crate::args::{ExplainArgs, Format};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::run_reporter::plan_line;
use crate::settings::{default_jobs, host_env, load_pipeline};

struct Silent;

impl attest_run::Reporter for Silent {
    fn report(&self, _: attest_run::RunEvent<'_>) {}
}

/// `attest explain STEP`.
pub(crate) fn explain(cwd: &Path, args: &ExplainArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let loaded = load_pipeline(cwd, &args.file, printer)?;
    let host_env = host_env();
    let options = RunOptions {
        jobs: default_jobs(),
        targets: vec![args.step.clone()],
        fail_fast: false,
        no_cache: false,
        deterministic: crate::settings::deterministic(&loaded, false, &host_env)?,
        check_reproducibility: false,
        vary: false,
        explain_sandbox: false,
        host_env,
        stat_cache: None,
        dir_listings: None,
        execution_gate: None,
    };
    let entries =
        attest_run::plan(&loaded.workspace, &loaded.pipeline, &options, &Silent).map_err(super::run::run_error)?;
    let Some(entry) = entries.iter().find(|e| e.step == args.step) else {
        return Ok(ExitStatus::Error);
    };
    if args.format == Format::Json {
        printer.data(
            &json!({
                "step": entry.step,
                "plan": entry,
                "key": entry.key,
                "parts": entry.current.as_ref().map(|r| &r.parts),
                "upstream": entry.current.as_ref().map(|r| &r.upstream),
                "input_files": entry.current.as_ref().map(|r| r.inputs.len()),
                "previous_key": entry.previous.as_ref().map(|r| r.key),
                "changes": entry.changes,
            })
            .to_string(),
        );
        return Ok(ExitStatus::Success);
    }
    let mut out = vec![plan_line(entry)];
    match &entry.current {
        Some(record) => {
            let parts = &record.parts;
            out.push(format!("key: {}", record.key));
            out.push(format!("  command:     {}", parts.command));
            out.push(format!("  shell:       {}", parts.shell.join(" ")));
            out.push(format!("  working dir: {}", parts.working_dir));
            for (name, value) in &parts.env {
                out.push(format!("  env:         {name}={value}"));
            }
            let files = record.inputs.len();
            out.push(format!("  inputs:      {} ({files} file{})", parts.inputs, if files == 1 { "" } else { "s" }));
            for (step, digest) in &record.upstream {
                out.push(format!("  upstream:    {step} = {digest}"));
            }
            out.push(format!("  outputs:     {}", parts.outputs.join(", ")));
            out.push(format!(
                "  platform:    {} ({} isolation), key format v{}",
                parts.platform, parts.isolation, parts.key_version
            ));
        }
        None => {
            if let Prediction::WaitsFor { step } = &entry.prediction {
                out.push(format!("the key depends on the outputs of `{step}`, which must run first"));
            }
        }
    }
    match (&entry.previous, entry.changes.is_empty()) {
        (None, _) => out.push("no earlier run of this step is recorded".to_owned()),
        (Some(previous), true) => out.push(format!("unchanged since the last run (key {})", previous.key)),
        (Some(previous), false) => {
            out.push(format!("changed since the last run (key {}):", previous.key));
            for change in &entry.changes {
                out.push(format!("  - {change}"));
            }
            if let Some(current) = &entry.current {
                let changed = previous.inputs.changed_paths(&current.inputs);
                if changed.len() > 1 {
                    out.push(format!(
                        "  changed inputs: {}",
                        changed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    printer.info(&out.join("\n"));
    Ok(ExitStatus::Success)
}
