use std::path::Path;

use attest_receipt::{CheckStatus, KeyStore, VerifyOptions};

use crate::args::{Format, VerifyArgs};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::workspace_root;
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
    Ok(if report.ok { ExitStatus::Success } else { ExitStatus::Failure })
}
