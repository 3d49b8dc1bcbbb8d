use std::path::Path;

use attest_events::EventBus;
use attest_receipt::{CheckStatus, KeyStore, Report, VerifyOptions};
use serde_json::json;

use crate::args::{Format, VerifyArgs};
use crate::commands::run::deliver;
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::{host_env, workspace_root};
use crate::user_error::UserError;

fn label(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "[OK]  ",
        CheckStatus::Warn => "[WARN]",
        CheckStatus::Fail => "[FAIL]",
        CheckStatus::Skip => "[SKIP]",
    }
}

/// `attest verify RECEIPT`.
pub(crate) fn verify(cwd: &Path, args: &VerifyArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let receipt = cwd.join(&args.receipt);
    let text = fs_err::read(&receipt)
        .map_err(|e| UserError::new(format!("failed to read the receipt: {e}")))
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())?;
    let root = match &args.workspace {
        Some(dir) => fs_err::canonicalize(cwd.join(dir))
            .map_err(|e| UserError::new(format!("cannot use workspace `{}`: {e}", dir.display())))?,
        None => workspace_root(cwd),
    };
    let keys = KeyStore::new(&root.join(".attest"));
    let options = VerifyOptions { no_signatures: args.no_signatures, trusted_only: args.trusted_only };
    let report = attest_receipt::verify(&text, &root, &keys, options).map_err(|e| {
        UserError::new(format!("`{}`: {e}", args.receipt.display()))
            .hint("pass a `.intoto.jsonl` file that attest run wrote")
    })?;
    match args.format {
        Format::Json => printer.data(&serde_json::to_string(&report)?),
        Format::Human => {
            printer.info(&format!("Verifying {} against {}", args.receipt.display(), root.display()));
            let width = report.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
            for check in &report.checks {
                printer.info(&format!("{} {:width$}  {}", label(check.status), check.name, check.actual));
                if check.status != CheckStatus::Pass && !check.detail.is_empty() {
                    for line in check.detail.split("; ") {
                        printer.info(&format!("       {:width$}  {line}", ""));
                    }
                }
            }
            let warned = report.checks.iter().filter(|c| c.status == CheckStatus::Warn).count();
            printer.info(&format!(
                "{}: {} passed{}, {} failed, {} skipped",
                if report.ok { "Verified" } else { "NOT verified" },
                report.passed,
                if warned > 0 { format!(" ({warned} with warnings)") } else { String::new() },
                report.failed,
                report.skipped
            ));
        }
    }
    let delivered = emit_verification(&root, &args.receipt, &text, &report, printer);
    Ok(if report.ok && delivered { ExitStatus::Success } else { ExitStatus::Failure })
}

/// `verification.completed` to the handlers of the workspace's pipeline, when it has
/// any (a pipeline that does not parse has none). Returns whether every required
/// delivery happened.
fn emit_verification(root: &Path, receipt: &Path, text: &str, report: &Report, printer: Printer) -> bool {
    let Ok(source) = std::fs::read_to_string(root.join("attest.yaml")) else { return true };
    let Ok(pipeline) = attest_pipeline::Pipeline::parse("attest.yaml", &source) else { return true };
    if pipeline.events.is_empty() {
        return true;
    }
    let run_id = attest_receipt::read_run_statement(text)
        .map(|(_, statement)| statement.predicate.run_details.metadata.invocation_id)
        .unwrap_or_default();
    let bus = EventBus::start(&pipeline.events, root, &host_env(), &run_id);
    let failed: Vec<&str> = report.checks.iter().filter(|c| c.status == CheckStatus::Fail).map(|c| c.name).collect();
    bus.emit(
        "verification.completed",
        None,
        json!({
            "receipt": receipt.display().to_string(),
            "ok": report.ok,
            "passed": report.passed,
            "failed": report.failed,
            "skipped": report.skipped,
            "failed_checks": failed,
        }),
    );
    deliver(bus, printer)
}
