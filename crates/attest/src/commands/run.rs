use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use attest_events::EventBus;
use attest_exec::ProcessExecutor;
use attest_receipt::ReceiptWriter;
use attest_run::{
    EventReporter, FedReceipt, PendingReceipt, Prediction, ReceiptContext, ReceiptFeed, RunError, RunOptions,
    RunSummary, error_chain as chain,
};
use serde_json::json;

use crate::args::{Format, IsolationLevel, RunArgs};
use crate::commands::run_history::RunHistory;
use crate::commands::signing::{SigningKey, signing_key};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::run_reporter::{HumanReporter, JsonReporter, summary_line};
use crate::settings::{default_jobs, deterministic, host_env, load_pipeline_starting};
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

/// What a run left behind, for commands that run a pipeline on someone's behalf
/// (`attest decision execute`).
pub(crate) struct RunOutcome {
    /// The exit status `attest run` would have.
    pub(crate) status: ExitStatus,
    /// The run id (the receipt's invocation id), when the run got that far.
    pub(crate) run_id: Option<String>,
    /// The receipt file, when one was written.
    pub(crate) receipt: Option<std::path::PathBuf>,
    /// Steps executed (not restored).
    pub(crate) ran: usize,
}

/// `attest run`.
pub(crate) fn run(cwd: &Path, args: &RunArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    run_pipeline(cwd, args, printer).map(|outcome| outcome.status)
}

/// Runs the pipeline as `args` say and reports what it left behind.
pub(crate) fn run_pipeline(cwd: &Path, args: &RunArgs, printer: Printer) -> anyhow::Result<RunOutcome> {
    // A large stat cache takes a while to read, as do the directory listings: start as soon
    // as the workspace is known.
    let (mut loaded, early) = load_pipeline_starting(cwd, &args.file, printer, |workspace| {
        (!args.dry_run).then(|| {
            let listings_path = workspace.dir_listings_path();
            let listings = attest_hash::PendingLoad::start("listings", &listings_path, attest_hash::DirListings::load);
            let stat_cache = attest_hash::PendingLoad::start(
                "stat-cache",
                &workspace.stat_cache_path(),
                attest_hash::StatCache::load,
            );
            (listings, stat_cache)
        })
    })?;
    let (dir_listings, stat_cache) = early.unzip();
    if let Some(level) = args.isolation {
        if level == IsolationLevel::Container
            && let Some(step) = loaded.pipeline.steps.iter().find(|s| s.image.is_none())
        {
            return Err(UserError::new(format!(
                "`--isolation container` needs an `image:` on every step; step `{}` has none",
                step.name
            ))
            .hint("add `image: NAME@sha256:<digest>` to each step, or use `isolation: container` on the steps that have one")
            .into());
        }
        loaded.pipeline.set_isolation(level.level());
    }
    let host_env = host_env();
    // Steps execute only once the history has the run (cache hits need not wait).
    let (execution_gate, run_on_record) = attest_run::ExecutionGate::shut();
    let options = RunOptions {
        jobs: args.jobs.map_or_else(default_jobs, usize::from),
        targets: args.steps.clone(),
        fail_fast: args.fail_fast,
        no_cache: args.no_cache,
        deterministic: deterministic(&loaded, args.deterministic, &host_env)?,
        check_reproducibility: args.check_reproducibility || args.vary,
        vary: args.vary,
        explain_sandbox: args.explain_sandbox,
        host_env,
        stat_cache,
        dir_listings,
        execution_gate: Some(execution_gate),
    };
    if args.dry_run {
        let status = dry_run(&loaded, &options, args, printer)?;
        return Ok(RunOutcome { status, run_id: None, receipt: None, ran: 0 });
    }
    let signing = signing_key(args.sign, args.key.as_deref(), &loaded.workspace, printer)?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(|e| UserError::new(format!("failed to install the signal handler: {e}")))?;
    }
    let selected = attest_run::select(&loaded.pipeline, &options.targets).map_err(run_error)?;
    let selected: Vec<usize> = selected.iter().enumerate().filter(|(_, s)| **s).map(|(i, _)| i).collect();
    let started = SystemTime::now();
    let run_id = attest_receipt::new_run_id();
    let pipeline_path = loaded.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let pipeline_ref =
        attest_run::pipeline_ref(&loaded.workspace, &loaded.pipeline, &pipeline_path, loaded.source.as_bytes());
    // Written while the steps run (see `ReceiptFeed`).
    let receipts = loaded.workspace.receipts_dir();
    let receipt =
        ReceiptWriter::create(&receipts, &run_id, started, &pipeline_ref, &options.targets, signing.is_some());
    let history = RunHistory::begin(&loaded, &run_id, started, &options, run_on_record, printer);
    let bus = EventBus::start(&loaded.pipeline.events, &loaded.workspace.root, &options.host_env, &run_id);
    if bus.wants("pipeline.started") {
        let steps: Vec<&str> = selected.iter().map(|&i| loaded.pipeline.steps[i].name.as_str()).collect();
        bus.emit(
            "pipeline.started",
            None,
            json!({
                "pipeline": loaded.path.file_name().map(|n| n.to_string_lossy()),
                "pipeline_digest": loaded.pipeline.digest.to_string(),
                "steps": steps,
                "jobs": options.jobs,
            }),
        );
    }
    // The environment snapshot spawns git and `TOOL --version`: taken beside the run.
    let (summary, environment) = std::thread::scope(|scope| {
        let snapshot = scope.spawn(|| {
            attest_run::environment_probe(
                &loaded.workspace.root,
                &loaded.pipeline,
                &selected,
                options.host_env.get("PATH").map(String::as_str),
            )
        });
        let feed = Feed { selected: &selected, receipt };
        let summary = execute(&loaded, &options, args, printer, &interrupted, &bus, feed);
        (summary, snapshot.join())
    });
    let (summary, receipt) = match summary {
        Ok(summary) => summary,
        Err(err) => {
            bus.emit("pipeline.failed", None, json!({ "error": chain(err.as_ref()) }));
            deliver(bus, printer);
            history.finish(None, None, false);
            return Err(err);
        }
    };
    history.record_steps(&summary);
    let snapshot_failed = |_| UserError::new("taking the environment snapshot failed");
    let probe = environment.map_err(snapshot_failed)?;
    let context = ReceiptContext {
        workspace: &loaded.workspace,
        pipeline: &loaded.pipeline,
        pipeline_ref,
        requested_steps: &options.targets,
        run_id: run_id.clone(),
        started,
        finished: SystemTime::now(),
        // All but the git state, which is checked below, beside the receipt's start.
        environment: probe.snapshot().clone(),
        deterministic: options.deterministic,
    };
    if let Some(path) = &args.trace {
        write_trace(&cwd.join(path), &summary, &context, printer);
    }
    if let Some(endpoint) = &args.metrics_endpoint {
        let name = loaded.pipeline.name.clone().unwrap_or_else(|| context.pipeline_ref.path.clone());
        let metrics = attest_run::run_metrics(&summary, &name, &context.run_id, context.finished);
        if let Err(err) = attest_events::push_metrics(endpoint, &metrics, METRICS_TIMEOUT) {
            printer.warn(&format!("failed to push metrics: {err}"));
        }
    }
    // The receipt's rest holds git's state, checked with the stats the run took while
    // the receipt's step list is written.
    let environment = probe.finish(&summary);
    let (receipt, steps) = receipt.wait();
    let mut record = attest_run::run_record(&context, &summary, steps);
    record.environment = environment;
    let receipt = receipt.and_then(|receipt| receipt.finish(&record, signing.as_ref().map(|s| &s.key)));
    let receipt_file = receipt.as_ref().ok().cloned();
    let receipt_path = receipt_file.as_deref().map(|p| relative(&loaded, p));
    let receipt_written = report_receipt(&loaded, args, printer, signing.as_ref(), receipt);
    emit_outcome(&bus, &summary, receipt_file.as_deref(), receipt_path.as_deref(), signing.as_ref());
    let delivered = deliver(bus, printer);
    history.finish(Some(&summary), receipt_path, !receipt_written || !delivered);
    let status = if summary.interrupted {
        ExitStatus::Interrupted
    } else if !summary.success() || !delivered {
        ExitStatus::Failure
    } else if !receipt_written {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    };
    let outcome = RunOutcome { status, run_id: Some(run_id), receipt: receipt_file, ran: summary.ran };
    // The process exits next: freeing the run's hundreds of thousands of small
    // allocations (manifests, the record) one by one would only cost time.
    std::mem::forget((record, summary, loaded));
    Ok(outcome)
}

/// How long pushing metrics may take.
const METRICS_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the end of a run waits for event deliveries still queued.
const EVENT_FLUSH_DEADLINE: Duration = Duration::from_secs(10);

/// `pipeline.completed` or `pipeline.failed`, and `signature.created` for a signed receipt.
fn emit_outcome(
    bus: &EventBus,
    summary: &RunSummary,
    receipt: Option<&Path>,
    shown: Option<&str>,
    signing: Option<&SigningKey>,
) {
    let kind = if summary.success() && receipt.is_some() { "pipeline.completed" } else { "pipeline.failed" };
    if bus.wants(kind) {
        bus.emit(
            kind,
            None,
            json!({
                "ran": summary.ran,
                "cached": summary.cached,
                "failed": summary.failed,
                "skipped": summary.skipped,
                "interrupted": summary.interrupted,
                "duration": (summary.wall.as_secs_f64() * 1000.0).round() / 1000.0,
                "receipt": shown,
            }),
        );
    }
    if let (Some(signing), Some(file)) = (signing, receipt)
        && bus.wants("signature.created")
    {
        let digest = attest_hash::sha256_file(file).map(|d| d.to_string()).ok();
        bus.emit(
            "signature.created",
            None,
            json!({ "receipt": shown, "keyid": signing.key.public().keyid(), "receipt_sha256": digest }),
        );
    }
}

/// Flushes the event handlers; prints each failed delivery as a warning, or as an error
/// for `required: true` handlers. Returns whether every required delivery happened.
pub(crate) fn deliver(bus: EventBus, printer: Printer) -> bool {
    let problems = bus.finish(EVENT_FLUSH_DEADLINE);
    for problem in &problems {
        let text = format!("event delivery to {} failed: {}", problem.handler, problem.message);
        if problem.required {
            printer.error(&text, Some("the handler is `required: true`, so the run fails"));
        } else {
            printer.warn(&text);
        }
    }
    !problems.iter().any(|p| p.required)
}

/// Writes the `--trace` file; a failure is a warning (the run itself is done).
fn write_trace(path: &Path, summary: &RunSummary, context: &ReceiptContext<'_>, printer: Printer) {
    let trace = attest_run::chrome_trace(summary, &context.pipeline_ref.path, &context.run_id);
    let written = serde_json::to_vec(&trace)
        .map_err(std::io::Error::other)
        .and_then(|bytes| attest_hash::write_atomically(path, &bytes, attest_hash::Durability::Atomic));
    if let Err(err) = written {
        printer.warn(&format!("failed to write the trace {}: {err}", path.display()));
    }
}

/// `path` relative to the workspace root, for people and the history.
fn relative(loaded: &crate::settings::LoadedPipeline, path: &Path) -> String {
    path.strip_prefix(&loaded.workspace.root).unwrap_or(path).display().to_string()
}

/// Prints where the receipt went (or why it could not be written); returns whether it was.
fn report_receipt(
    loaded: &crate::settings::LoadedPipeline,
    args: &RunArgs,
    printer: Printer,
    signing: Option<&SigningKey>,
    receipt: Result<std::path::PathBuf, attest_receipt::ReceiptWriteError>,
) -> bool {
    let path = match receipt {
        Ok(path) => path,
        Err(err) => {
            printer.error(&chain(&err), Some("the run itself finished; check the disk and .attest/ permissions"));
            return false;
        }
    };
    let shown = relative(loaded, &path);
    match args.format {
        Format::Json => printer.data(
            &json!({
                "event": "receipt",
                "path": shown,
                "signed": signing.is_some(),
                "keyid": signing.map(|s| s.key.public().keyid()),
            })
            .to_string(),
        ),
        Format::Human if !args.quiet => printer.info(&match signing {
            Some(signing) => {
                format!("Receipt: {shown} (signed by {} from {})", &signing.key.public().keyid()[..12], signing.source)
            }
            None => format!("Receipt: {shown} (unsigned; `attest run --sign` signs it)"),
        }),
        Format::Human => {}
    }
    true
}

/// The receipt a run writes as it goes, and the steps it records.
struct Feed<'a> {
    selected: &'a [usize],
    receipt: PendingReceipt,
}

impl Feed<'_> {
    /// The reporter that feeds the receipt and passes every event on to `events`.
    fn reporting_to<'a>(
        self,
        events: &'a dyn attest_run::Reporter,
        loaded: &'a crate::settings::LoadedPipeline,
    ) -> ReceiptFeed<'a> {
        ReceiptFeed::new(events, &loaded.pipeline, &loaded.workspace.root, self.selected, self.receipt)
    }
}

/// Runs the pipeline with the reporter `args` asks for, feeding the receipt, and prints
/// the summary. Returns the summary and the receipt, its steps handed over.
fn execute(
    loaded: &crate::settings::LoadedPipeline,
    options: &RunOptions,
    args: &RunArgs,
    printer: Printer,
    interrupted: &AtomicBool,
    bus: &EventBus,
    feed: Feed<'_>,
) -> anyhow::Result<(RunSummary, FedReceipt)> {
    let (workspace, pipeline) = (&loaded.workspace, &loaded.pipeline);
    Ok(match args.format {
        Format::Human => {
            let reporter = HumanReporter::new(printer, args.verbose, args.stream, args.quiet);
            let events = EventReporter::new(&reporter, bus);
            let receipt = feed.reporting_to(&events, loaded);
            let result = attest_run::run(workspace, pipeline, options, &ProcessExecutor, &receipt, interrupted);
            reporter.finish();
            let summary = result.map_err(run_error)?;
            if !args.quiet {
                printer.info(&summary_line(&summary));
            }
            let receipt = receipt.finish(&summary);
            (summary, receipt)
        }
        Format::Json => {
            let reporter = JsonReporter::new(printer, args.stream);
            let events = EventReporter::new(&reporter, bus);
            let receipt = feed.reporting_to(&events, loaded);
            let summary = attest_run::run(workspace, pipeline, options, &ProcessExecutor, &receipt, interrupted)
                .map_err(run_error)?;
            let receipt = receipt.finish(&summary);
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
            (summary, receipt)
        }
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
