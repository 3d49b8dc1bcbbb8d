//! `attest template`, `attest decision`, `attest approve`: governance over the event log in
//! `.attest/attest.db`. Every command replays the log, checks, and appends its events in
//! one transaction, or changes nothing.

use std::path::{Path, PathBuf};

use attest_govern::iso_time::{Micros, iso, now_micros, parse_span};
use attest_govern::{
    Approval, ApprovalSignature, Decision, DecisionRequest, ExecutionOutcome, ExecutionPlan, GovernError,
    GovernanceState, Mode, Policy, PolicyOverrides, Status,
};
use attest_receipt::{KeyPair, KeyStore};
use attest_store::{NewEvent, Store, StoredEvent};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::args::{ApproveArgs, DecisionCommand, FileArgs, Format, PolicyArgs, RunArgs, TemplateCommand};
use crate::commands::run::run_pipeline;
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::{load_pipeline, workspace_root};
use crate::user_error::UserError;

/// The governance log of a workspace, replayed.
pub(crate) struct Governance {
    pub(crate) root: PathBuf,
    pub(crate) store: Store,
    pub(crate) events: Vec<StoredEvent>,
    pub(crate) state: GovernanceState,
}

impl Governance {
    /// Opens (creating) `.attest/attest.db` of the workspace around `cwd` and replays it.
    pub(crate) fn open(cwd: &Path) -> Result<Self, UserError> {
        let root = workspace_root(cwd);
        let store = Store::open(&attest_run::Workspace::new(&root).database_path())
            .map_err(|e| UserError::new(format!("cannot open the governance log: {e}")))?;
        let events =
            store.governance_events().map_err(|e| UserError::new(format!("cannot read the governance log: {e}")))?;
        let state = attest_govern::replay(&events);
        Ok(Self { root, store, events, state })
    }

    /// Appends `events` atomically and replays the state with them.
    pub(crate) fn append(&mut self, events: &[NewEvent]) -> Result<(), UserError> {
        let stored = self
            .store
            .append_events(events)
            .map_err(|e| UserError::new(format!("failed to write the governance log: {e}")))?;
        self.events.extend(stored);
        self.state = attest_govern::replay(&self.events);
        Ok(())
    }

    /// The events of one decision's current history (from its last `DECISION_CREATED`: an
    /// import with `--on-conflict overwrite` starts a new one), in log order.
    pub(crate) fn events_of(&self, decision_id: &str) -> Vec<&StoredEvent> {
        let all: Vec<&StoredEvent> =
            self.events.iter().filter(|e| e.decision_id.as_deref() == Some(decision_id)).collect();
        let start = all.iter().rposition(|e| e.event_type == attest_govern::DECISION_CREATED).unwrap_or(0);
        all[start..].to_vec()
    }

    /// Whether `approval` carries a valid signature by a trusted, unrevoked key.
    pub(crate) fn trusted(&self, decision_id: &str, approval: &Approval) -> bool {
        let Some(signature) = &approval.signature else { return false };
        let keys = KeyStore::new(&self.root.join(".attest"));
        if !keys.is_trusted(&signature.keyid) || keys.revocation(&signature.keyid).is_some() {
            return false;
        }
        let Some(public) = keys.public_key(&signature.keyid) else { return false };
        let Some(sig) = attest_receipt::decode_base64(&signature.sig) else { return false };
        let bytes = attest_govern::approval_signing_bytes(
            decision_id,
            &approval.approver,
            approval.expires_at.as_deref(),
            approval.comment.as_deref(),
        );
        public.verify(&bytes, &sig)
    }
}

/// A refused command: `error: CODE: message`, or `{"ok": false, ...}` with `--format json`.
fn refused(err: &GovernError, format: Format, printer: Printer) -> ExitStatus {
    match format {
        Format::Json => printer.data(&json!({ "ok": false, "error_code": err.code, "error": err.message }).to_string()),
        Format::Human => printer.error(&format!("{}: {}", err.code, err.message), None),
    }
    ExitStatus::Failure
}

fn actor(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn modes(list: Option<&Vec<String>>) -> Result<Option<Vec<Mode>>, UserError> {
    let Some(list) = list else { return Ok(None) };
    list.iter()
        .map(|m| {
            Mode::parse(m.trim()).ok_or_else(|| {
                UserError::new(format!("unknown mode `{m}` in --allowed-modes")).hint("use dry_run, apply or both")
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn policy_view(policy: &Policy) -> String {
    format!(
        "{} approval(s); modes {}; max steps {}{}{}",
        policy.min_approvals,
        policy.allowed_modes.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "),
        policy.max_steps.map_or("unlimited".to_owned(), |n| n.to_string()),
        if policy.labels.is_empty() { String::new() } else { format!("; labels {}", policy.labels.join(", ")) },
        if policy.require_signed_approvals { "; signed approvals only" } else { "" },
    )
}

/// `attest template ...`.
pub(crate) fn template(cwd: &Path, command: TemplateCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    let mut gov = Governance::open(cwd)?;
    match command {
        TemplateCommand::Create { name, description, policy, actor: who, format } => {
            let policy = Policy {
                min_approvals: policy.min_approvals.unwrap_or(1),
                allowed_modes: modes(policy.allowed_modes.as_ref())?.unwrap_or_else(|| vec![Mode::DryRun]),
                require_adapter_capabilities: Vec::new(),
                max_steps: policy.max_steps,
                labels: policy.labels,
                require_signed_approvals: policy.require_signed_approvals,
            };
            let event = match attest_govern::create_template(
                &gov.state,
                &name,
                &description,
                &policy,
                &actor(who),
                now_micros(),
            ) {
                Ok(event) => event,
                Err(err) => return Ok(refused(&err, format, printer)),
            };
            gov.append(&[event])?;
            let template = &gov.state.templates[&name];
            match format {
                Format::Json => printer.data(&json!({ "ok": true, "template": template }).to_string()),
                Format::Human => printer.info(&format!(
                    "Template {name} created: {} (digest sha256:{})",
                    policy_view(&template.policy),
                    template.digest
                )),
            }
            Ok(ExitStatus::Success)
        }
        TemplateCommand::List { format } => {
            let templates: Vec<_> = gov.state.templates.values().collect();
            match format {
                Format::Json => printer.data(&json!({ "templates": templates }).to_string()),
                Format::Human if templates.is_empty() => {
                    printer.info("No templates: `attest template create NAME --min-approvals 2` makes one.")
                }
                Format::Human => {
                    for t in templates {
                        printer.info(&format!("{:<20}  {}", t.name, policy_view(&t.policy)));
                    }
                }
            }
            Ok(ExitStatus::Success)
        }
        TemplateCommand::Show { name, format } => {
            let Some(t) = gov.state.templates.get(&name) else {
                let err = GovernError { code: "TEMPLATE_NOT_FOUND", message: format!("no template `{name}`") };
                return Ok(refused(&err, format, printer));
            };
            match format {
                Format::Json => printer.data(&json!({ "template": t }).to_string()),
                Format::Human => printer.info(&format!(
                    "Template {}\n  {}\n  created {} by {}\n  digest sha256:{}{}",
                    t.name,
                    policy_view(&t.policy),
                    t.created_at,
                    t.created_by,
                    t.digest,
                    if t.description.is_empty() { String::new() } else { format!("\n  {}", t.description) }
                )),
            }
            Ok(ExitStatus::Success)
        }
    }
}

/// `attest decision ...`.
pub(crate) fn decision(cwd: &Path, command: DecisionCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    match command {
        DecisionCommand::Create { goal, mode, template, steps, plan, policy, file, actor: who, format } => {
            create(cwd, CreateArgs { goal, mode, template, steps, plan, policy, file, who, format }, printer)
        }
        DecisionCommand::List { format } => {
            let gov = Governance::open(cwd)?;
            let now = now_micros();
            let rows: Vec<Value> = gov.state.decisions.values().map(|d| summary(&gov, d, now)).collect();
            match format {
                Format::Json => printer.data(&json!({ "decisions": rows }).to_string()),
                Format::Human if rows.is_empty() => {
                    printer.info("No decisions: `attest decision create --goal ...` makes one.")
                }
                Format::Human => {
                    for (d, row) in gov.state.decisions.values().zip(&rows) {
                        printer.info(&format!(
                            "{}  {:<16}  {:<7}  approvals {}/{}  {}",
                            d.decision_id,
                            row["status"].as_str().unwrap_or(""),
                            d.mode.as_str(),
                            row["approvals"],
                            row["required"],
                            d.goal
                        ));
                    }
                }
            }
            Ok(ExitStatus::Success)
        }
        DecisionCommand::Show { id, format } => {
            let gov = Governance::open(cwd)?;
            let decision = match attest_govern::resolve(&gov.state, &id) {
                Ok(d) => d,
                Err(err) => return Ok(refused(&err, format, printer)),
            };
            show(&gov, decision, format, printer);
            Ok(ExitStatus::Success)
        }
        DecisionCommand::Execute { id, file, key, format } => execute(cwd, &id, &file, key, format, printer),
        DecisionCommand::Export { id, output, format } => {
            let gov = Governance::open(cwd)?;
            let decision = match attest_govern::resolve(&gov.state, &id) {
                Ok(d) => d,
                Err(err) => return Ok(refused(&err, Format::Human, printer)),
            };
            let bundle = attest_govern::export_bundle(decision, &gov.events_of(&decision.decision_id), now_micros())
                .map_err(|e| UserError::new(e.to_string()))?;
            let text = serde_json::to_string_pretty(&bundle)?;
            match output {
                None => printer.data(&text),
                Some(path) => {
                    let path = cwd.join(path);
                    attest_hash::write_atomically(
                        &path,
                        format!("{text}\n").as_bytes(),
                        attest_hash::Durability::Synced,
                    )
                    .map_err(|e| UserError::new(format!("cannot write {}: {e}", path.display())))?;
                    let digest = bundle["integrity"]["canonical_digest"].as_str().unwrap_or_default();
                    match format {
                        Format::Json => printer.data(
                            &json!({ "ok": true, "file": path.display().to_string(), "digest": digest }).to_string(),
                        ),
                        Format::Human => printer.info(&format!(
                            "Decision {} exported to {} ({digest})",
                            decision.decision_id,
                            path.display()
                        )),
                    }
                }
            }
            Ok(ExitStatus::Success)
        }
        DecisionCommand::Import { file, on_conflict, format } => import(cwd, &file, &on_conflict, format, printer),
    }
}

struct CreateArgs {
    goal: String,
    mode: String,
    template: Option<String>,
    steps: Vec<String>,
    plan: Option<String>,
    policy: PolicyArgs,
    file: FileArgs,
    who: Option<String>,
    format: Format,
}

fn create(cwd: &Path, args: CreateArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let mode = Mode::parse(&args.mode).ok_or_else(|| {
        UserError::new(format!("unknown mode `{}`", args.mode)).hint("use --mode dry_run or --mode apply")
    })?;
    let loaded = load_pipeline(cwd, &args.file, printer)?;
    attest_run::select(&loaded.pipeline, &args.steps).map_err(crate::commands::run::run_error)?;
    let mut gov = Governance::open(&loaded.workspace.root)?;
    let request = DecisionRequest {
        goal: args.goal,
        plan: args.plan,
        mode,
        template: args.template,
        overrides: PolicyOverrides {
            min_approvals: args.policy.min_approvals,
            allowed_modes: modes(args.policy.allowed_modes.as_ref())?,
            max_steps: args.policy.max_steps,
            require_signed_approvals: args.policy.require_signed_approvals.then_some(true),
        },
        labels: (!args.policy.labels.is_empty()).then_some(args.policy.labels),
        pipeline_file: loaded.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        pipeline_digest: loaded.pipeline.digest.to_string(),
        steps: args.steps,
    };
    let id = attest_govern::new_uuid();
    let events = match attest_govern::create_decision(&gov.state, &request, &id, &actor(args.who), now_micros()) {
        Ok(events) => events,
        Err(err) => return Ok(refused(&err, args.format, printer)),
    };
    gov.append(&events)?;
    let decision = &gov.state.decisions[&id];
    match args.format {
        Format::Json => printer.data(&json!({ "ok": true, "decision_id": id, "decision": decision }).to_string()),
        Format::Human => printer.info(&format!(
            "Decision {id} created: {} ({}), {}\nNext: `attest approve {} --as NAME`",
            decision.goal,
            decision.mode,
            decision.policy.as_ref().map(policy_view).unwrap_or_default(),
            &id[..8]
        )),
    }
    Ok(ExitStatus::Success)
}

fn import(cwd: &Path, file: &Path, on_conflict: &str, format: Format, printer: Printer) -> anyhow::Result<ExitStatus> {
    let mode = attest_govern::OnConflict::parse(on_conflict).ok_or_else(|| {
        UserError::new(format!("unknown --on-conflict `{on_conflict}`")).hint("use reject, new-id or overwrite")
    })?;
    let bytes = fs_err::read(cwd.join(file)).map_err(|e| UserError::new(format!("cannot read the bundle: {e}")))?;
    let bundle: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let err = GovernError {
                code: "BUNDLE_INVALID_SCHEMA",
                message: format!("`{}` is not JSON: {e}", file.display()),
            };
            return Ok(refused(&err, format, printer));
        }
    };
    let mut gov = Governance::open(cwd)?;
    let import = match attest_govern::import_bundle(&gov.state, &bundle, mode, &attest_govern::new_uuid()) {
        Ok(import) => import,
        Err(err) => return Ok(refused(&err, format, printer)),
    };
    gov.append(&import.events)?;
    match format {
        Format::Json => printer.data(
            &json!({
                "ok": true,
                "imported": {
                    "decision_id": import.decision_id,
                    "events_imported": import.events.len(),
                    "original_decision_id": import.original_decision_id,
                },
                "digest_verified": true,
                "conflict_mode": on_conflict,
            })
            .to_string(),
        ),
        Format::Human => printer.info(&format!(
            "Imported decision {} ({} events{})",
            import.decision_id,
            import.events.len(),
            import.original_decision_id.map(|o| format!(", was {o}")).unwrap_or_default()
        )),
    }
    Ok(ExitStatus::Success)
}

fn blocking(gov: &Governance, d: &Decision, now: Micros) -> Option<attest_govern::Refusal> {
    let digest = d.pipeline_digest.clone().unwrap_or_default();
    let plan = ExecutionPlan { mode: d.mode, pipeline_digest: &digest, steps: 0 };
    attest_govern::check_execute(d, &plan, now, &|id, a| gov.trusted(id, a)).err()
}

fn summary(gov: &Governance, d: &Decision, now: Micros) -> Value {
    let active = d.active_approvals(now, &|id, a| gov.trusted(id, a)).len();
    json!({
        "decision_id": d.decision_id,
        "goal": d.goal,
        "mode": d.mode,
        "status": d.status,
        "approvals": active,
        "required": d.policy.as_ref().map(|p| p.min_approvals),
        "created_at": d.created_at,
        "blocked_by": blocking(gov, d, now).map(|r| r.code),
    })
}

fn show(gov: &Governance, d: &Decision, format: Format, printer: Printer) {
    let now = now_micros();
    let block = blocking(gov, d, now);
    match format {
        Format::Json => printer.data(&json!({ "decision": d, "blocked_by": block }).to_string()),
        Format::Human => {
            let mut out = format!(
                "Decision {}\n  goal: {}\n  mode: {}   status: {:?}\n  pipeline: {} ({})\n  steps: {}\n  created {} by {}\n",
                d.decision_id,
                d.goal,
                d.mode,
                d.status,
                d.pipeline_file.as_deref().unwrap_or("-"),
                d.pipeline_digest.as_deref().unwrap_or("-"),
                if d.steps.is_empty() { "all".to_owned() } else { d.steps.join(", ") },
                d.created_at,
                d.created_by
            );
            if let Some(policy) = &d.policy {
                out.push_str(&format!(
                    "  policy: {}{}\n",
                    policy_view(policy),
                    d.template.as_ref().map(|(n, _)| format!(" (template {n})")).unwrap_or_default()
                ));
            }
            for a in d.approvals.values() {
                let state = if a.revoked.is_some() {
                    "revoked"
                } else if a.expired_at(now) {
                    "expired"
                } else {
                    "active"
                };
                let signed = match &a.signature {
                    Some(s) if gov.trusted(&d.decision_id, a) => {
                        format!(", signed by trusted key {}", &s.keyid[..12.min(s.keyid.len())])
                    }
                    Some(s) => format!(", signed by UNTRUSTED or invalid key {}", &s.keyid[..12.min(s.keyid.len())]),
                    None => String::new(),
                };
                out.push_str(&format!(
                    "  approval: {} ({state}{signed}) at {}{}{}\n",
                    a.approver,
                    a.granted_at,
                    a.expires_at.as_deref().map(|e| format!(", expires {e}")).unwrap_or_default(),
                    a.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
                ));
            }
            for e in &d.executions {
                out.push_str(&format!(
                    "  execution: {} run {}{}{}\n",
                    e.mode.map_or("-", Mode::as_str),
                    e.run_id.as_deref().unwrap_or("-"),
                    e.receipt.as_deref().map(|r| format!(", receipt {r}")).unwrap_or_default(),
                    e.error.as_deref().map(|r| format!(", failed: {r}")).unwrap_or_default()
                ));
            }
            match block {
                Some(r) if d.status != Status::Completed => {
                    out.push_str(&format!("  blocked: {}: {}\n", r.code, r.message))
                }
                _ => {}
            }
            printer.raw_err(&out);
        }
    }
}

/// `attest approve`.
pub(crate) fn approve(cwd: &Path, args: &ApproveArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let mut gov = Governance::open(cwd)?;
    let now = now_micros();
    let decision = match attest_govern::resolve(&gov.state, &args.id) {
        Ok(d) => d.decision_id.clone(),
        Err(err) => return Ok(refused(&err, args.format, printer)),
    };
    let event = if args.revoke {
        attest_govern::revoke(&gov.state, &decision, &args.approver, &args.reason, now)
    } else {
        let expires_at = match &args.expires {
            None => None,
            Some(span) => {
                let d = parse_span(span).ok_or_else(|| {
                    UserError::new(format!("`--expires {span}` is not a duration")).hint("write 30m, 24h or 7d")
                })?;
                Some(now.saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)))
            }
        };
        let signature = match &args.key {
            None => None,
            Some(path) => {
                let pem =
                    fs_err::read_to_string(path).map_err(|e| UserError::new(format!("cannot read the key: {e}")))?;
                let key = KeyPair::from_pem(&pem).map_err(|e| UserError::new(format!("`{}`: {e}", path.display())))?;
                let bytes = attest_govern::approval_signing_bytes(
                    &decision,
                    &args.approver,
                    expires_at.map(iso).as_deref(),
                    args.comment.as_deref(),
                );
                Some(ApprovalSignature {
                    keyid: key.public().keyid().to_owned(),
                    sig: base64::engine::general_purpose::STANDARD.encode(key.sign(&bytes)),
                })
            }
        };
        attest_govern::approve(
            &gov.state,
            &decision,
            &args.approver,
            args.comment.as_deref(),
            expires_at,
            signature.as_ref(),
            now,
        )
    };
    let event = match event {
        Ok(event) => event,
        Err(err) => return Ok(refused(&err, args.format, printer)),
    };
    gov.append(std::slice::from_ref(&event))?;
    let d = &gov.state.decisions[&decision];
    let active = d.active_approvals(now, &|id, a| gov.trusted(id, a)).len();
    let required = d.policy.as_ref().map_or(0, |p| p.min_approvals);
    match args.format {
        Format::Json => printer.data(
            &json!({ "ok": true, "decision_id": decision, "event": event.event_type, "approvals": active, "required": required })
                .to_string(),
        ),
        Format::Human => printer.info(&format!(
            "{} {} decision {decision}: {active} of {required} approvals count",
            args.approver,
            if args.revoke { "revoked their approval of" } else { "approved" }
        )),
    }
    Ok(ExitStatus::Success)
}

fn execute(
    cwd: &Path,
    id: &str,
    file: &FileArgs,
    key: Option<PathBuf>,
    format: Format,
    printer: Printer,
) -> anyhow::Result<ExitStatus> {
    let loaded = load_pipeline(cwd, file, printer)?;
    let mut gov = Governance::open(&loaded.workspace.root)?;
    let decision = match attest_govern::resolve(&gov.state, id) {
        Ok(d) => d.clone(),
        Err(err) => return Ok(refused(&err, format, printer)),
    };
    let selected = attest_run::select(&loaded.pipeline, &decision.steps).map_err(crate::commands::run::run_error)?;
    let digest = loaded.pipeline.digest.to_string();
    let plan =
        ExecutionPlan { mode: decision.mode, pipeline_digest: &digest, steps: selected.iter().filter(|s| **s).count() };
    let now = now_micros();
    if let Err(refusal) = attest_govern::check_execute(&decision, &plan, now, &|id, a| gov.trusted(id, a)) {
        match format {
            Format::Json => printer.data(&json!({ "ok": false, "executed": false, "refusal": refusal }).to_string()),
            Format::Human => printer.error(&format!("execution refused: {}: {}", refusal.code, refusal.message), None),
        }
        return Ok(ExitStatus::Failure);
    }
    gov.append(&attest_govern::execution_started(&decision, decision.mode, now))?;
    let outcome = match decision.mode {
        Mode::DryRun => dry_run_outcome(&loaded, &decision, printer),
        Mode::Apply => {
            let args = RunArgs {
                steps: decision.steps.clone(),
                file: FileArgs { file: Some(loaded.path.clone()) },
                jobs: None,
                fail_fast: false,
                no_cache: false,
                deterministic: false,
                check_reproducibility: false,
                vary: false,
                sign: true,
                key,
                trace: None,
                metrics_endpoint: None,
                dry_run: false,
                verbose: false,
                stream: false,
                quiet: format == Format::Json,
                format: Format::Human,
                isolation: None,
                explain_sandbox: false,
            };
            match run_pipeline(&loaded.workspace.root, &args, printer) {
                Ok(run) => {
                    let receipt_digest =
                        run.receipt.as_deref().and_then(|p| attest_hash::sha256_file(p).ok()).map(|d| d.hex());
                    let error = match run.status {
                        ExitStatus::Success => None,
                        ExitStatus::Interrupted => {
                            Some(("INTERRUPTED".to_owned(), "the run was interrupted".to_owned()))
                        }
                        _ => Some((
                            "RUN_FAILED".to_owned(),
                            "a step failed or the receipt could not be written".to_owned(),
                        )),
                    };
                    ExecutionOutcome {
                        run_id: run.run_id,
                        response_digest: receipt_digest,
                        receipt: run
                            .receipt
                            .as_deref()
                            .map(|p| p.strip_prefix(&loaded.workspace.root).unwrap_or(p).display().to_string()),
                        steps_executed: run.ran as u64,
                        error,
                    }
                }
                Err(err) => ExecutionOutcome {
                    run_id: None,
                    response_digest: None,
                    receipt: None,
                    steps_executed: 0,
                    error: Some(("ROUTER_ERROR".to_owned(), attest_run::error_chain(err.as_ref()))),
                },
            }
        }
    };
    gov.append(&[attest_govern::execution_finished(&decision.decision_id, &outcome, now_micros())])?;
    let ok = outcome.error.is_none();
    match format {
        Format::Json => printer.data(
            &json!({
                "ok": ok,
                "executed": true,
                "decision_id": decision.decision_id,
                "mode": decision.mode,
                "run_id": outcome.run_id,
                "receipt": outcome.receipt,
                "receipt_sha256": outcome.response_digest,
                "error": outcome.error.as_ref().map(|(c, m)| json!({"code": c, "message": m})),
            })
            .to_string(),
        ),
        Format::Human => printer.info(&match &outcome.error {
            None => format!(
                "Decision {} executed ({}): run {}{}",
                decision.decision_id,
                decision.mode,
                outcome.run_id.as_deref().unwrap_or("-"),
                outcome.receipt.as_deref().map(|r| format!(", receipt {r}")).unwrap_or_default()
            ),
            Some((code, message)) => format!("Decision {} execution failed: {code}: {message}", decision.decision_id),
        }),
    }
    Ok(if ok { ExitStatus::Success } else { ExitStatus::Failure })
}

/// A dry run's result: the plan, its digest standing in for a receipt's.
fn dry_run_outcome(
    loaded: &crate::settings::LoadedPipeline,
    decision: &Decision,
    printer: Printer,
) -> ExecutionOutcome {
    let options = attest_run::RunOptions {
        jobs: 1,
        targets: decision.steps.clone(),
        fail_fast: false,
        no_cache: false,
        deterministic: crate::settings::deterministic(loaded, false, &crate::settings::host_env()).ok().flatten(),
        check_reproducibility: false,
        vary: false,
        explain_sandbox: false,
        host_env: crate::settings::host_env(),
        stat_cache: None,
        dir_listings: None,
        execution_gate: None,
    };
    let reporter = crate::run_reporter::HumanReporter::new(printer, false, false, false);
    let planned = attest_run::plan(&loaded.workspace, &loaded.pipeline, &options, &reporter);
    reporter.finish();
    match planned {
        Ok(entries) => {
            let plan = json!({ "plan": entries });
            let digest = attest_govern::content_digest(&plan).ok();
            ExecutionOutcome {
                run_id: Some(attest_receipt::new_run_id()),
                response_digest: digest,
                receipt: None,
                steps_executed: 0,
                error: None,
            }
        }
        Err(err) => ExecutionOutcome {
            run_id: None,
            response_digest: None,
            receipt: None,
            steps_executed: 0,
            error: Some(("PLAN_FAILED".to_owned(), err.to_string())),
        },
    }
}
