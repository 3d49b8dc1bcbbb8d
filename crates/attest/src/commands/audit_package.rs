//! `attest audit package export|verify|attest` and `attest audit verify-log`.

use std::path::Path;

use attest_govern::iso_time::now_micros;
use attest_govern::{PackageCheck, PackageReport, RouterSection, prefixed};
use serde_json::{Value, json};

use crate::args::{Format, PackageCommand};
use crate::commands::audit_attestation;
use crate::commands::govern::Governance;
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::workspace_root;
use crate::user_error::UserError;

/// `attest audit package ...`.
pub(crate) fn package(cwd: &Path, command: PackageCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    match command {
        PackageCommand::Export { id, embed, output, format } => {
            export(cwd, &id, embed, output.as_deref(), format, printer)
        }
        PackageCommand::Verify { file, attestation, format } => {
            let package = read_package(cwd, &file)?;
            let mut report = package_report(cwd, &package);
            if let Some(attestation) = &attestation {
                let mut checks = report.checks;
                checks.extend(audit_attestation::attestation_checks(cwd, &package, attestation)?);
                report = PackageReport::new(checks);
            }
            match format {
                Format::Json => printer.data(&serde_json::to_string(&report)?),
                Format::Human => {
                    match &attestation {
                        None => printer.info(&format!("Verifying audit package {}", file.display())),
                        Some(attestation) => printer.info(&format!(
                            "Verifying audit package {} and its attestation {}",
                            file.display(),
                            attestation.display()
                        )),
                    }
                    let width = report.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
                    for check in &report.checks {
                        printer.info(&format!(
                            "{} {:width$}  {}",
                            if check.ok { "[OK]  " } else { "[FAIL]" },
                            check.name,
                            check.detail
                        ));
                        if !check.ok {
                            printer.info(&format!(
                                "       {:width$}  expected {}, found {}",
                                "",
                                check.expected.as_deref().unwrap_or("(missing)"),
                                check.actual.as_deref().unwrap_or("(missing)")
                            ));
                        }
                    }
                    printer.info(&format!(
                        "{}: {} of {} checks passed",
                        if report.ok { "Verified" } else { "NOT verified" },
                        report.passed,
                        report.total
                    ));
                }
            }
            Ok(if report.ok { ExitStatus::Success } else { ExitStatus::Failure })
        }
        PackageCommand::Attest { file, claims, key, attestor, role, output } => audit_attestation::attest(
            cwd,
            audit_attestation::AttestRequest { file, claims, key, attestor, role, output },
            printer,
        ),
    }
}

/// Reads an audit package file: JSON, with a control bundle and a binding, of a version
/// this attest reads.
pub(crate) fn read_package(cwd: &Path, file: &Path) -> anyhow::Result<Value> {
    let bytes = fs_err::read(cwd.join(file)).map_err(|e| UserError::new(format!("cannot read the package: {e}")))?;
    let package: Value = serde_json::from_slice(&bytes).map_err(|e| {
        UserError::new(format!("`{}` is not JSON: {e}", file.display()))
            .hint("pass the file `attest audit package export` wrote")
    })?;
    if !package.is_object() || package.get("control_bundle").is_none() || package.get("binding").is_none() {
        return Err(UserError::new(format!(
            "`{}` is not an audit package (no control_bundle or binding)",
            file.display()
        ))
        .hint("pass the file `attest audit package export` wrote")
        .into());
    }
    if let Some(version) = package.get("package_version").and_then(Value::as_str)
        && version != attest_govern::PACKAGE_VERSION
    {
        return Err(UserError::new(format!(
            "package_version `{version}` is not supported; this attest reads `{}`",
            attest_govern::PACKAGE_VERSION
        ))
        .into());
    }
    Ok(package)
}

/// Every check of `package`: nexus-attest's, attest's, and the embedded receipt's
/// signatures when it is embedded.
pub(crate) fn package_report(cwd: &Path, package: &Value) -> PackageReport {
    let mut report = attest_govern::verify_package(package);
    if let Some(receipt) = package.pointer("/router/bundle/receipt").and_then(Value::as_str) {
        let mut checks = report.checks;
        checks.push(receipt_signatures(cwd, receipt));
        report = PackageReport::new(checks);
    }
    report
}

/// The embedded receipt's own envelopes: format, signatures, signer trust and revocation
/// (attest's receipt verification, without the workspace's files).
fn receipt_signatures(cwd: &Path, receipt: &str) -> PackageCheck {
    let root = workspace_root(cwd);
    let keys = attest_receipt::KeyStore::new(&root.join(".attest"));
    let options = attest_receipt::VerifyOptions { no_signatures: false, trusted_only: false };
    let detail =
        "the embedded receipt's envelopes: format, payload type, Ed25519 signatures, trust, revocation".to_owned();
    let failed: Vec<String> = match attest_receipt::verify(receipt, &root, &keys, options) {
        Ok(report) => report
            .checks
            .iter()
            .filter(|c| matches!(c.name, "format" | "payload_type" | "signature" | "trust" | "revocation"))
            .filter(|c| c.status == attest_receipt::CheckStatus::Fail)
            .map(|c| format!("{}: {}", c.name, c.actual))
            .collect(),
        Err(err) => vec![err.to_string()],
    };
    PackageCheck {
        name: "receipt_signatures",
        ok: failed.is_empty(),
        expected: (!failed.is_empty()).then(|| "valid signatures on every envelope".to_owned()),
        actual: (!failed.is_empty()).then(|| failed.join("; ")),
        detail,
    }
}

fn export(
    cwd: &Path,
    id: &str,
    embed: bool,
    output: Option<&Path>,
    format: Format,
    printer: Printer,
) -> anyhow::Result<ExitStatus> {
    let gov = Governance::open(cwd)?;
    let decision = match attest_govern::resolve(&gov.state, id) {
        Ok(d) => d,
        Err(err) => {
            printer.error(&format!("{}: {}", err.code, err.message), None);
            return Ok(ExitStatus::Failure);
        }
    };
    let bundle = attest_govern::export_bundle(decision, &gov.events_of(&decision.decision_id), now_micros())
        .map_err(|e| UserError::new(e.to_string()))?;
    let execution = decision.executions.last();
    let run_id = execution.and_then(|e| e.run_id.clone()).unwrap_or_default();
    let router = if embed {
        let Some(receipt) = execution.and_then(|e| e.receipt.as_deref()) else {
            return Err(UserError::new("the decision's run has no receipt to embed (a dry run has none)")
                .hint("export it by reference: drop --embed")
                .into());
        };
        let text = fs_err::read_to_string(gov.root.join(receipt))
            .map_err(|e| UserError::new(format!("cannot read the run's receipt: {e}")))?;
        RouterSection::Embedded { run_id, receipt: text }
    } else {
        let digest = execution.and_then(|e| e.response_digest.as_deref()).map(prefixed).unwrap_or_default();
        RouterSection::Reference { run_id, digest }
    };
    let package = match attest_govern::build_package(bundle, router, now_micros()) {
        Ok(p) => p,
        Err(err) => {
            printer.error(&format!("{}: {}", err.code, err.message), None);
            return Ok(ExitStatus::Failure);
        }
    };
    let text = serde_json::to_string_pretty(&package)?;
    let binding = package["integrity"]["binding_digest"].as_str().unwrap_or_default().to_owned();
    match output {
        None => printer.data(&text),
        Some(path) => {
            let path = cwd.join(path);
            attest_hash::write_atomically(&path, format!("{text}\n").as_bytes(), attest_hash::Durability::Synced)
                .map_err(|e| UserError::new(format!("cannot write {}: {e}", path.display())))?;
            match format {
                Format::Json => printer.data(
                    &json!({ "ok": true, "file": path.display().to_string(), "binding_digest": binding }).to_string(),
                ),
                Format::Human => {
                    printer.info(&format!("Audit package written to {} (binding digest {binding})", path.display()));
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// `attest audit verify-log`.
pub(crate) fn verify_log(cwd: &Path, format: Format, printer: Printer) -> anyhow::Result<ExitStatus> {
    let gov = Governance::open(cwd)?;
    let check = gov.store.verify_log().map_err(|e| UserError::new(format!("cannot read the governance log: {e}")))?;
    match format {
        Format::Json => printer.data(&json!({ "ok": check.first_break.is_none(), "events": check.events, "head": check.head, "first_break": check.first_break }).to_string()),
        Format::Human => match &check.first_break {
            None => printer.info(&format!("Governance log intact: {} events, head {}", check.events, check.head)),
            Some(b) => printer.error(
                &format!("governance log broken at event {} ({}): {}", b.seq, b.event_id, b.reason),
                Some("restore .attest/attest.db from a backup; the events before it are intact"),
            ),
        },
    }
    Ok(if check.first_break.is_none() { ExitStatus::Success } else { ExitStatus::Failure })
}
