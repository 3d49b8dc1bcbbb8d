use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use attest_exec::ProcessExecutor;
use attest_run::{Prediction, RunError, RunOptions};
use serde_json::json;

use crate::args::{Format, RunArgs};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::run_reporter::{HumanReporter, JsonReporter, summary_line};
use crate::settings::{default_jobs, host_env, load_pipeline};
use crate::user_error::UserError;

/// Turns a [`RunError`] into what the user sees.
pub(crate) fn run_error(error: RunError) -> UserError {
    match &error {
        RunError::UnknownStep { suggestion: Some(close), .. } => {
            UserError::new(error.to_string()).hint(format!("did you mean `{close}`?"))
        }
        RunError::UnknownStep { .. } => UserError::new(error.to_string())
            .hint("`attest pipeline validate` lists the steps' problems; the step names are the keys under `steps:`"),
        _ => UserError::new(error.to_string()),
    }
}

/// `attest run`.
pub(crate) fn run(cwd: &Path, args: &RunArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let loaded = load_pipeline(cwd, &args.file, printer)?;
    let options = RunOptions {
        jobs: args.jobs.map_or_else(default_jobs, usize::from),
        targets: args.steps.clone(),
        fail_fast: args.fail_fast,
        no_cache: args.no_cache,
        host_env: host_env(),
    };
    if args.dry_run {
        return dry_run(&loaded, &options, args, printer);
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(|e| UserError::new(format!("failed to install the signal handler: {e}")))?;
    }
    let summary = match args.format {
        Format::Human => {
            let reporter = HumanReporter::new(printer, args.verbose, args.stream, args.quiet);
            let result = attest_run::run(
                &loaded.workspace,
                &loaded.pipeline,
                &options,
                &ProcessExecutor,
                &reporter,
                &interrupted,
            );
            reporter.finish();
            let summary = result.map_err(run_error)?;
            if !args.quiet {
                printer.info(&summary_line(&summary));
            }
            summary
        }
        Format::Json => {
            let reporter = JsonReporter::new(printer, args.stream);
            let summary = attest_run::run(
                &loaded.workspace,
                &loaded.pipeline,
                &options,
                &ProcessExecutor,
                &reporter,
                &interrupted,
            )
            .map_err(run_error)?;
            reporter.emit(json!({
                "event": "run_finished",
                "success": summary.success(),
                "interrupted": summary.interrupted,
                "ran": summary.ran,
                "cached": summary.cached,
                "failed": summary.failed,
                "skipped": summary.skipped,
                "wall": (summary.wall.as_secs_f64() * 1000.0).round() / 1000.0,
            }));
            summary
        }
    };
    Ok(if summary.interrupted {
        ExitStatus::Interrupted
    } else if summary.success() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn dry_run(
    loaded: &crate::settings::LoadedPipeline,
    options: &RunOptions,
    args: &RunArgs,
    printer: Printer,
) -> anyhow::Result<ExitStatus> {
    let entries = match args.format {
        Format::Human => {
            let reporter = HumanReporter::new(printer, false, false, false);
            let entries = attest_run::plan(&loaded.workspace, &loaded.pipeline, options, &reporter);
            reporter.finish();
            entries
        }
        Format::Json => {
            attest_run::plan(&loaded.workspace, &loaded.pipeline, options, &JsonReporter::new(printer, false))
        }
    }
    .map_err(run_error)?;
    let hits = entries.iter().filter(|e| matches!(e.prediction, Prediction::Hit { .. })).count();
    let misses = entries.len() - hits;
    if args.format == Format::Human {
        printer.info(&format!("Plan: {misses} to run, {hits} cached (dry run: nothing was executed)"));
    }
    Ok(ExitStatus::Success)
}
