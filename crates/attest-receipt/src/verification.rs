//! `attest verify`: every check of a receipt, each reported with what was expected and
//! what was found; verification never stops at the first failure.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use attest_hash::RelPath;
use serde::Serialize;

use crate::statement::{BUILD_TYPE, SLSA_PROVENANCE, STATEMENT_TYPE, Scope, Statement};
use crate::timestamp::parse_rfc3339;
use crate::{Envelope, Hex32, KeyStore, PAYLOAD_TYPE, PublicKey};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// It holds.
    Pass,
    /// It holds, with something the user should know.
    Warn,
    /// It does not hold.
    Fail,
    /// It was not checked (said why in the detail).
    Skip,
}

/// One named check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `format`, `payload_type`, `signature`, `trust`, `revocation`, `pipeline_digest`,
    /// `inputs`, `outputs` or `step_chain`.
    pub name: &'static str,
    /// False only for [`CheckStatus::Fail`].
    pub ok: bool,
    /// The outcome.
    pub status: CheckStatus,
    /// What the check wanted.
    pub expected: String,
    /// What it found.
    pub actual: String,
    /// Why, and what to do.
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, status: CheckStatus, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Self {
            name,
            ok: status != CheckStatus::Fail,
            status,
            expected: expected.into(),
            actual: actual.into(),
            detail: String::new(),
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// The result of verifying one receipt.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whether every check passed (warnings and skips count as passing).
    pub ok: bool,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Checks that passed (with or without a warning).
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
    /// Checks skipped.
    pub skipped: usize,
}

/// How to verify.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Report signature checks as skipped.
    pub no_signatures: bool,
    /// Fail unless the signer is in the trust store.
    pub trusted_only: bool,
}

/// A receipt that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptReadError {
    /// The file is empty or holds no line.
    #[error("the receipt is empty")]
    Empty,
}

/// One line of the receipt, as far as it could be parsed.
struct Line {
    number: usize,
    envelope: Option<Envelope>,
    statement: Option<Statement>,
}

fn parse_line(number: usize, text: &str, problems: &mut Vec<String>) -> Line {
    let mut line = Line { number, envelope: None, statement: None };
    let envelope = match Envelope::parse(text) {
        Ok(envelope) => envelope,
        Err(err) => {
            problems.push(format!("line {number}: not a DSSE envelope ({})", source_text(&err)));
            return line;
        }
    };
    match envelope.payload_bytes() {
        Ok(payload) => match serde_json::from_slice::<Statement>(&payload) {
            Ok(statement) => {
                for (what, actual, expected) in [
                    ("_type", statement.statement_type.as_str(), STATEMENT_TYPE),
                    ("predicateType", statement.predicate_type.as_str(), SLSA_PROVENANCE),
                    ("buildType", statement.predicate.build_definition.build_type.as_str(), BUILD_TYPE),
                ] {
                    if actual != expected {
                        problems.push(format!("line {number}: {what} is `{actual}`, expected `{expected}`"));
                    }
                }
                let scope = if number == 1 { Scope::Run } else { Scope::Step };
                let actual = statement.predicate.build_definition.internal_parameters.run.scope;
                if actual != scope {
                    problems.push(format!("line {number}: a {actual:?} statement where a {scope:?} statement belongs"));
                } else if scope == Scope::Step && statement.steps().len() != 1 {
                    problems.push(format!("line {number}: a step statement must record exactly one step"));
                }
                line.statement = Some(statement);
            }
            Err(err) => problems.push(format!("line {number}: the payload is not an attest statement ({err})")),
        },
        Err(_) => problems.push(format!("line {number}: the payload is not valid base64")),
    }
    line.envelope = Some(envelope);
    line
}

fn source_text(err: &dyn std::error::Error) -> String {
    err.source().map_or_else(|| err.to_string(), ToString::to_string)
}

/// Verifies the receipt `text` against the workspace at `workspace` and its key store.
pub fn verify(
    text: &str,
    workspace: &Path,
    keys: &KeyStore,
    options: VerifyOptions,
) -> Result<Report, ReceiptReadError> {
    let raw_lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if raw_lines.is_empty() {
        return Err(ReceiptReadError::Empty);
    }
    let mut problems = Vec::new();
    let lines: Vec<Line> = raw_lines.iter().enumerate().map(|(i, l)| parse_line(i + 1, l, &mut problems)).collect();
    let run = lines.first().and_then(|l| l.statement.as_ref());
    let mut checks = Vec::new();
    checks.push(format_check(&lines, &problems));
    checks.push(payload_type_check(&lines));
    let signer = signature_checks(&lines, run, keys, options, &mut checks);
    checks.push(trust_check(signer.as_ref(), keys, options));
    checks.push(revocation_check(signer.as_ref(), run, keys, options));
    checks.push(pipeline_check(run, workspace));
    checks.push(inputs_check(run, workspace));
    checks.push(outputs_check(run, workspace));
    checks.push(step_chain_check(&lines, run));
    checks.extend(reproducibility_check(run));
    let failed = checks.iter().filter(|c| c.status == CheckStatus::Fail).count();
    let skipped = checks.iter().filter(|c| c.status == CheckStatus::Skip).count();
    Ok(Report { ok: failed == 0, passed: checks.len() - failed - skipped, failed, skipped, checks })
}

/// The steps' reproducibility claims, when the receipt makes any: each step built twice
/// either matched bit for bit or did not (a claim of the run, checked when it ran).
fn reproducibility_check(run: Option<&Statement>) -> Option<Check> {
    let claims: Vec<(&str, &crate::ReproducibilityClaim)> =
        run?.steps().iter().filter_map(|s| Some((s.name.as_str(), s.reproducibility.as_ref()?))).collect();
    if claims.is_empty() {
        return None;
    }
    let expected = "every step built twice matched bit for bit";
    let failed: Vec<&str> = claims.iter().filter(|(_, c)| !c.verified).map(|(name, _)| *name).collect();
    let methods: Vec<String> =
        claims.iter().map(|(name, c)| format!("{name}: {} ({} builds)", c.method, c.runs)).collect();
    Some(if failed.is_empty() {
        Check::new("reproducibility", CheckStatus::Pass, expected, format!("{} steps reproduced", claims.len()))
            .detail(methods.join("; "))
    } else {
        Check::new("reproducibility", CheckStatus::Fail, expected, format!("not reproducible: {}", failed.join(", ")))
            .detail(methods.join("; "))
    })
}

fn format_check(lines: &[Line], problems: &[String]) -> Check {
    let expected = "DSSE envelopes of in-toto Statement v1 with SLSA provenance v1 (schemas/)";
    if problems.is_empty() {
        let steps = lines.len() - 1;
        Check::new("format", CheckStatus::Pass, expected, format!("1 run statement, {steps} step statements"))
    } else {
        Check::new("format", CheckStatus::Fail, expected, format!("{} problems", problems.len()))
            .detail(problems.join("; "))
    }
}

fn payload_type_check(lines: &[Line]) -> Check {
    let wrong: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let envelope = l.envelope.as_ref()?;
            (envelope.payload_type != PAYLOAD_TYPE).then(|| format!("line {}: `{}`", l.number, envelope.payload_type))
        })
        .collect();
    if wrong.is_empty() {
        Check::new("payload_type", CheckStatus::Pass, PAYLOAD_TYPE, PAYLOAD_TYPE)
    } else {
        Check::new("payload_type", CheckStatus::Fail, PAYLOAD_TYPE, wrong.join(", "))
    }
}

/// The key a statement declares as its signer, when its keyid is honest.
fn declared_signer(statement: Option<&Statement>) -> Option<PublicKey> {
    let signer = statement?.predicate.build_definition.internal_parameters.signer.as_ref()?;
    PublicKey::from_pem(&signer.public_key).ok().filter(|key| key.keyid() == signer.keyid)
}

/// One `signature` check per envelope; returns the signer of line 1 when it verified.
fn signature_checks(
    lines: &[Line],
    run: Option<&Statement>,
    keys: &KeyStore,
    options: VerifyOptions,
    checks: &mut Vec<Check>,
) -> Option<PublicKey> {
    let run_signer = declared_signer(run);
    let mut verified_signer = None;
    for line in lines {
        let expected = match &run_signer {
            Some(key) => format!("a valid Ed25519 signature by {}", key.keyid()),
            None => "a valid Ed25519 signature".to_owned(),
        };
        let what = format!("line {}", line.number);
        if options.no_signatures {
            checks.push(
                Check::new("signature", CheckStatus::Skip, expected, "not checked")
                    .detail(format!("{what}: --no-signatures")),
            );
            continue;
        }
        let Some(envelope) = &line.envelope else {
            checks.push(Check::new("signature", CheckStatus::Fail, expected, "no envelope").detail(what));
            continue;
        };
        if envelope.signatures.is_empty() {
            checks.push(Check::new("signature", CheckStatus::Fail, expected, "unsigned").detail(format!(
                "{what}: the receipt has no signatures (run with --sign, or verify with --no-signatures)"
            )));
            continue;
        }
        let mut problems = Vec::new();
        let mut good = None;
        for (index, signature) in envelope.signatures.iter().enumerate() {
            let key = keys
                .public_key(&signature.keyid)
                .or_else(|| run_signer.clone().filter(|k| k.keyid() == signature.keyid));
            match key {
                None => problems.push(format!("signed by unknown key `{}`", signature.keyid)),
                Some(key) if !envelope.verify_signature(index, &key) => {
                    problems.push(format!("signature by {} does not match the payload", key.keyid()));
                }
                Some(key) => {
                    if run_signer.as_ref().is_some_and(|declared| declared != &key) {
                        problems.push(format!(
                            "signed by {} but the run statement declares {}",
                            key.keyid(),
                            run_signer.as_ref().map_or("", |k| k.keyid())
                        ));
                    } else {
                        good = Some(key);
                    }
                }
            }
        }
        match (good, problems.is_empty()) {
            (Some(key), true) => {
                checks.push(
                    Check::new("signature", CheckStatus::Pass, expected, format!("valid, by {}", key.keyid()))
                        .detail(what),
                );
                if line.number == 1 {
                    verified_signer = Some(key);
                }
            }
            _ => checks.push(
                Check::new("signature", CheckStatus::Fail, expected, "invalid")
                    .detail(format!("{what}: {}", problems.join("; "))),
            ),
        }
    }
    verified_signer
}

fn trust_check(signer: Option<&PublicKey>, keys: &KeyStore, options: VerifyOptions) -> Check {
    let expected = if options.trusted_only { "signer in .attest/trust (required)" } else { "signer in .attest/trust" };
    let Some(signer) = signer.filter(|_| !options.no_signatures) else {
        let (status, why) = match (options.no_signatures, options.trusted_only) {
            (true, _) => (CheckStatus::Skip, "--no-signatures"),
            (false, true) => (CheckStatus::Fail, "no valid signature, so no signer to trust"),
            (false, false) => (CheckStatus::Skip, "no valid signature"),
        };
        return Check::new("trust", status, expected, "no signer").detail(why);
    };
    if keys.is_trusted(signer.keyid()) {
        Check::new("trust", CheckStatus::Pass, expected, format!("{} is trusted", signer.keyid()))
    } else if options.trusted_only {
        Check::new("trust", CheckStatus::Fail, expected, format!("{} is not trusted", signer.keyid()))
            .detail("add the signer's public key with `attest keys trust FILE.pub` if you trust it")
    } else {
        Check::new("trust", CheckStatus::Warn, expected, format!("{} is not trusted", signer.keyid()))
            .detail("the signature is valid but its key is not in the trust store; --trusted-only makes this fail")
    }
}

fn revocation_check(signer: Option<&PublicKey>, run: Option<&Statement>, keys: &KeyStore, o: VerifyOptions) -> Check {
    let expected = "signer not revoked when it signed";
    let Some(signer) = signer.filter(|_| !o.no_signatures) else {
        return Check::new("revocation", CheckStatus::Skip, expected, "no signer").detail("no valid signature");
    };
    let Some(revocation) = keys.revocation(signer.keyid()) else {
        return Check::new("revocation", CheckStatus::Pass, expected, "not revoked");
    };
    let signed = run.and_then(|s| parse_rfc3339(&s.predicate.run_details.metadata.finished_on));
    let actual = format!("revoked at {}", revocation.revoked_at);
    let reason = revocation.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
    match (signed, revocation.time()) {
        (Some(signed), Some(revoked)) if signed < revoked => {
            Check::new("revocation", CheckStatus::Warn, expected, actual)
                .detail(format!("the receipt was signed before the key was revoked{reason}"))
        }
        _ => Check::new("revocation", CheckStatus::Fail, expected, actual)
            .detail(format!("the receipt was signed after the key was revoked{reason}")),
    }
}

/// Digests of a workspace file: BLAKE3 and SHA-256 hex, like the run computed them
/// (a symlink's digest is that of its target text). `None` when it is missing or the
/// path is not a workspace path.
fn file_digests(workspace: &Path, path: &str, sha: bool) -> Result<(Hex32, Option<Hex32>), String> {
    let rel = RelPath::new(path).map_err(|_| "not a path inside the workspace".to_owned())?;
    let full = rel.under(workspace);
    let meta = std::fs::symlink_metadata(&full).map_err(|_| "missing".to_owned())?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&full).map_err(|e| e.to_string())?;
        let bytes = target.as_os_str().as_encoded_bytes();
        return Ok((
            Hex32::from(&attest_hash::hash_bytes(bytes)),
            sha.then(|| Hex32::from(&attest_hash::sha256_bytes(bytes))),
        ));
    }
    if !meta.is_file() {
        return Err("not a file".to_owned());
    }
    let blake3 = Hex32::from(&attest_hash::hash_file(&full, meta.len()).map_err(|e| e.to_string())?);
    let sha256 =
        if sha { Some(Hex32::from(&attest_hash::sha256_file(&full).map_err(|e| e.to_string())?)) } else { None };
    Ok((blake3, sha256))
}

/// A recorded digest for messages (`none` when the receipt has none).
fn shown(digest: Option<Hex32>) -> String {
    digest.map_or_else(|| "none".to_owned(), |d| d.to_string())
}

fn pipeline_check(run: Option<&Statement>, workspace: &Path) -> Check {
    let expected_text = "the workspace's pipeline file as recorded";
    let Some(run) = run else {
        return Check::new("pipeline_digest", CheckStatus::Fail, expected_text, "no run statement");
    };
    let pipeline = &run.predicate.build_definition.external_parameters.pipeline;
    let recorded = pipeline.digest.sha256;
    let expected = format!("sha256:{}", shown(recorded));
    let Ok(rel) = RelPath::new(&pipeline.path) else {
        return Check::new("pipeline_digest", CheckStatus::Fail, expected, "an escaping path")
            .detail(format!("`{}` is not a path inside the workspace", pipeline.path));
    };
    match std::fs::read(rel.under(workspace)) {
        Ok(bytes) => {
            let actual = Hex32::from(&attest_hash::sha256_bytes(&bytes));
            let status = if Some(actual) == recorded { CheckStatus::Pass } else { CheckStatus::Fail };
            Check::new("pipeline_digest", status, expected, format!("sha256:{actual}")).detail(&pipeline.path)
        }
        Err(_) => Check::new("pipeline_digest", CheckStatus::Skip, expected, "absent")
            .detail(format!("`{}` is not in the workspace", pipeline.path)),
    }
}

fn mismatch_check(name: &'static str, expected: String, mismatches: Vec<String>, total: usize) -> Check {
    if mismatches.is_empty() {
        Check::new(name, CheckStatus::Pass, expected, format!("{total} files match"))
    } else {
        let count = mismatches.len();
        Check::new(name, CheckStatus::Fail, expected, format!("{count} of {total} files differ"))
            .detail(mismatches.join("; "))
    }
}

fn inputs_check(run: Option<&Statement>, workspace: &Path) -> Check {
    let expected = "every input file as recorded (blake3)".to_owned();
    let Some(run) = run else { return Check::new("inputs", CheckStatus::Fail, expected, "no run statement") };
    let dependencies = &run.predicate.build_definition.resolved_dependencies;
    let mismatches = dependencies
        .iter()
        .filter_map(|d| {
            let recorded = d.digest.blake3;
            match file_digests(workspace, &d.name, false) {
                Ok((blake3, _)) if Some(blake3) == recorded => None,
                Ok((blake3, _)) => {
                    Some(format!("{}: recorded blake3:{}, now blake3:{blake3}", d.name, shown(recorded)))
                }
                Err(why) => Some(format!("{}: {why}", d.name)),
            }
        })
        .collect();
    mismatch_check("inputs", expected, mismatches, dependencies.len())
}

fn outputs_check(run: Option<&Statement>, workspace: &Path) -> Check {
    let expected = "every output file as recorded (sha256)".to_owned();
    let Some(run) = run else { return Check::new("outputs", CheckStatus::Fail, expected, "no run statement") };
    let mismatches = run
        .subject
        .iter()
        .filter_map(|s| {
            let recorded = s.digest.sha256;
            match file_digests(workspace, &s.name, true) {
                Ok((_, sha256)) if sha256.is_some() && sha256 == recorded => None,
                Ok((_, sha256)) => {
                    Some(format!("{}: recorded sha256:{}, now sha256:{}", s.name, shown(recorded), shown(sha256)))
                }
                Err(why) => Some(format!("{}: {why}", s.name)),
            }
        })
        .collect();
    mismatch_check("outputs", expected, mismatches, run.subject.len())
}

/// `step` of `statement` with its input files by name: each statement numbers its input
/// ranges in its own dependency list. `None` when a range is outside that list.
fn by_input_names(
    statement: &Statement,
    step: &crate::statement::StepParameters,
) -> Option<crate::statement::StepParameters> {
    let inputs = statement.step_inputs(step)?.into_iter().map(str::to_owned).collect();
    Some(crate::statement::StepParameters { inputs, input_ranges: Vec::new(), ..step.clone() })
}

fn step_chain_check(lines: &[Line], run: Option<&Statement>) -> Check {
    let expected = "step statements match the run, and each step's inputs match its upstream outputs";
    let Some(run) = run else { return Check::new("step_chain", CheckStatus::Fail, expected, "no run statement") };
    let mut problems = Vec::new();
    let params = &run.predicate.build_definition.internal_parameters;
    let dependencies = run.dependencies_by_name();
    let subjects = run.subjects_by_name();
    // The run statement's own chain: an input produced by another step has that step's output digest.
    let produced: HashMap<&str, (&str, Hex32)> = run
        .subject
        .iter()
        .filter_map(|s| Some((s.name.as_str(), (s.annotations.step.as_deref()?, s.annotations.blake3?))))
        .collect();
    for step in &params.steps {
        let Some(inputs) = run.step_inputs(step) else {
            let count = run.predicate.build_definition.resolved_dependencies.len();
            problems.push(format!("step `{}` names inputs outside the {count} resolved dependencies", step.name));
            continue;
        };
        for input in inputs {
            let Some((producer, blake3)) = produced.get(input) else { continue };
            if *producer == step.name {
                continue;
            }
            let recorded = dependencies.get(input).and_then(|d| d.digest.blake3);
            if recorded != Some(*blake3) {
                problems.push(format!(
                    "step `{}` read `{input}` as blake3:{}, but `{producer}` produced blake3:{blake3}",
                    step.name,
                    shown(recorded)
                ));
            }
        }
    }
    // Step statements: one per executed or cached step, in the run's order, each the same as
    // the run's record of that step.
    let expected_steps: Vec<&str> =
        params.steps.iter().filter(|s| s.status == "succeeded").map(|s| s.name.as_str()).collect();
    let step_lines: Vec<&Line> = lines.iter().skip(1).collect();
    if params.run.sign_all_steps {
        let actual: Vec<&str> = step_lines
            .iter()
            .map(|l| l.statement.as_ref().and_then(|s| s.steps().first()).map_or("?", |s| s.name.as_str()))
            .collect();
        if actual != expected_steps {
            let missing: Vec<&&str> = expected_steps.iter().filter(|s| !actual.contains(s)).collect();
            if missing.is_empty() {
                problems.push(format!(
                    "step statements are [{}], expected [{}]",
                    actual.join(", "),
                    expected_steps.join(", ")
                ));
            } else {
                problems.push(format!(
                    "missing step statements for {}",
                    missing.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let by_name: BTreeMap<&str, &crate::statement::StepParameters> =
            params.steps.iter().map(|s| (s.name.as_str(), s)).collect();
        for line in &step_lines {
            let Some(statement) = &line.statement else { continue };
            let Some(step) = statement.steps().first() else { continue };
            let number = line.number;
            if statement.predicate.run_details.metadata.invocation_id
                != run.predicate.run_details.metadata.invocation_id
            {
                problems.push(format!("line {number}: step `{}` belongs to another run", step.name));
            }
            if by_name.get(step.name.as_str()).map(|recorded| by_input_names(run, recorded))
                != Some(by_input_names(statement, step))
            {
                problems.push(format!("line {number}: step `{}` differs from the run statement's record", step.name));
            }
            for subject in &statement.subject {
                if subjects.get(subject.name.as_str()) != Some(&subject) {
                    problems.push(format!("line {number}: output `{}` differs from the run statement", subject.name));
                }
            }
            for dependency in &statement.predicate.build_definition.resolved_dependencies {
                if dependencies.get(dependency.name.as_str()).map(|d| &d.digest) != Some(&dependency.digest) {
                    problems.push(format!("line {number}: input `{}` differs from the run statement", dependency.name));
                }
            }
        }
    } else if !step_lines.is_empty() {
        problems.push(format!("{} step statements in a receipt of a run without sign_all_steps", step_lines.len()));
    }
    if problems.is_empty() {
        let actual = format!("{} steps, {} step statements", params.steps.len(), step_lines.len());
        Check::new("step_chain", CheckStatus::Pass, expected, actual)
    } else {
        Check::new("step_chain", CheckStatus::Fail, expected, format!("{} problems", problems.len()))
            .detail(problems.join("; "))
    }
}
