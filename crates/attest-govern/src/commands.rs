//! Governance commands: each checks the replayed state and returns the events to append,
//! or a [`GovernError`] and nothing. The caller appends the events in one transaction.

use attest_store::NewEvent;
use serde_json::{Value, json};

use crate::digests::content_digest;
use crate::event_types::*;
use crate::iso_time::{Micros, iso};
use crate::state::{ApprovalSignature, Decision, GovernanceState, Status};
use crate::{GovernError, Mode, Policy};

/// The actor of events attest writes on its own (execution progress).
pub const SYSTEM_ACTOR: &str = "attest";
/// The adapter name of attest runs in `EXECUTION_REQUESTED` and bundles.
pub const ADAPTER_ID: &str = "attest:run";

fn human(event_type: &str, decision_id: Option<&str>, actor: &str, now: Micros, payload: Value) -> NewEvent {
    NewEvent {
        event_id: new_event_id(),
        decision_id: decision_id.map(str::to_owned),
        event_type: event_type.to_owned(),
        occurred_at: iso(now),
        actor_type: "human".to_owned(),
        actor: actor.to_owned(),
        payload,
    }
}

fn system(event_type: &str, decision_id: &str, now: Micros, payload: Value) -> NewEvent {
    NewEvent {
        actor_type: "system".to_owned(),
        actor: SYSTEM_ACTOR.to_owned(),
        ..human(event_type, Some(decision_id), SYSTEM_ACTOR, now, payload)
    }
}

/// A fresh random id (UUID v4 text form, as nexus-attest's decision ids).
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    // An id, not a secret: a failed random source falls back to the clock.
    if getrandom::fill(&mut b).is_err() {
        b[..8].copy_from_slice(&crate::iso_time::now_micros().to_le_bytes());
        b[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn new_event_id() -> String {
    format!("evt_{}", new_uuid())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_policy(policy: &Policy) -> Result<(), GovernError> {
    if policy.min_approvals == 0 {
        return Err(GovernError::new("INVALID_POLICY", "`min_approvals` must be at least 1"));
    }
    if policy.allowed_modes.is_empty() {
        return Err(GovernError::new("INVALID_POLICY", "`allowed_modes` needs at least one of dry_run, apply"));
    }
    if policy.max_steps == Some(0) {
        return Err(GovernError::new("INVALID_POLICY", "`max_steps` must be at least 1"));
    }
    Ok(())
}

fn policy_fields(policy: &Policy) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("min_approvals".into(), json!(policy.min_approvals));
    map.insert("allowed_modes".into(), json!(policy.allowed_modes.iter().map(|m| m.as_str()).collect::<Vec<_>>()));
    map.insert("require_adapter_capabilities".into(), json!(policy.require_adapter_capabilities));
    map.insert("max_steps".into(), json!(policy.max_steps));
    map.insert("labels".into(), json!(policy.labels));
    map.insert("require_signed_approvals".into(), json!(policy.require_signed_approvals));
    map
}

/// A new template. Templates are immutable and unique by name.
pub fn create_template(
    state: &GovernanceState,
    name: &str,
    description: &str,
    policy: &Policy,
    actor: &str,
    now: Micros,
) -> Result<NewEvent, GovernError> {
    if !valid_name(name) {
        return Err(GovernError::new(
            "INVALID_TEMPLATE",
            format!("template name `{name}`: use 1 to 64 letters, digits, `-`, `_` or `.`"),
        ));
    }
    if state.templates.contains_key(name) {
        return Err(GovernError::new(
            "TEMPLATE_ALREADY_EXISTS",
            format!("template `{name}` exists; templates are immutable, create one with a new name"),
        ));
    }
    check_policy(policy)?;
    let mut payload = policy_fields(policy);
    payload.insert("name".into(), json!(name));
    payload.insert("description".into(), json!(description));
    Ok(human(TEMPLATE_CREATED, None, actor, now, Value::Object(payload)))
}

/// The template digest (nexus-attest's formula: the template's fields, its creation time
/// and creator).
pub(crate) fn template_digest(
    name: &str,
    description: &str,
    policy: &Policy,
    created_at: &str,
    created_by: &str,
) -> String {
    let value = json!({
        "name": name,
        "description": description,
        "min_approvals": policy.min_approvals,
        "allowed_modes": policy.allowed_modes.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "require_adapter_capabilities": policy.require_adapter_capabilities,
        "max_steps": policy.max_steps,
        "labels": policy.labels,
        "created_at": created_at,
        "created_by": {"type": "human", "id": created_by},
    });
    content_digest(&value).unwrap_or_default()
}

/// Policy fields given on the command line, over a template's (or the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyOverrides {
    /// `--min-approvals`.
    pub min_approvals: Option<u32>,
    /// `--allowed-modes`.
    pub allowed_modes: Option<Vec<Mode>>,
    /// `--max-steps`.
    pub max_steps: Option<u32>,
    /// `--require-signed-approvals`.
    pub require_signed_approvals: Option<bool>,
}

/// What `attest decision create` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRequest {
    /// The goal, e.g. "release 1.4.0".
    pub goal: String,
    /// Free-text plan.
    pub plan: Option<String>,
    /// `dry_run` or `apply`.
    pub mode: Mode,
    /// The template whose policy applies.
    pub template: Option<String>,
    /// Policy fields set explicitly.
    pub overrides: PolicyOverrides,
    /// Tags (replace the template's when given).
    pub labels: Option<Vec<String>>,
    /// The pipeline file.
    pub pipeline_file: String,
    /// Its digest now.
    pub pipeline_digest: String,
    /// The steps to run (empty: all).
    pub steps: Vec<String>,
}

/// A new decision with its policy: `DECISION_CREATED` and `POLICY_ATTACHED`.
pub fn create_decision(
    state: &GovernanceState,
    request: &DecisionRequest,
    decision_id: &str,
    actor: &str,
    now: Micros,
) -> Result<Vec<NewEvent>, GovernError> {
    if request.goal.trim().is_empty() {
        return Err(GovernError::new("INVALID_DECISION", "`--goal` is empty: say what the run is for"));
    }
    if state.decisions.contains_key(decision_id) {
        return Err(GovernError::new("DECISION_EXISTS", format!("decision `{decision_id}` exists")));
    }
    let template = match &request.template {
        None => None,
        Some(name) => Some(state.templates.get(name).ok_or_else(|| {
            let known: Vec<&str> = state.templates.keys().map(String::as_str).collect();
            GovernError::new(
                "TEMPLATE_NOT_FOUND",
                if known.is_empty() {
                    format!("template `{name}` does not exist; create it with `attest template create {name} ...`")
                } else {
                    format!("template `{name}` does not exist; known: {}", known.join(", "))
                },
            )
        })?),
    };
    let mut policy = template.map_or_else(|| Policy::default_for(request.mode), |t| t.policy.clone());
    let mut overrides = serde_json::Map::new();
    let o = &request.overrides;
    if let Some(n) = o.min_approvals {
        policy.min_approvals = n;
        overrides.insert("min_approvals".into(), json!(n));
    }
    if let Some(modes) = &o.allowed_modes {
        policy.allowed_modes = modes.clone();
        overrides.insert("allowed_modes".into(), json!(modes.iter().map(|m| m.as_str()).collect::<Vec<_>>()));
    }
    if let Some(n) = o.max_steps {
        policy.max_steps = Some(n);
        overrides.insert("max_steps".into(), json!(n));
    }
    if let Some(signed) = o.require_signed_approvals {
        policy.require_signed_approvals = signed;
        overrides.insert("require_signed_approvals".into(), json!(signed));
    }
    if let Some(labels) = &request.labels {
        policy.labels = labels.clone();
        overrides.insert("labels".into(), json!(labels));
    }
    check_policy(&policy)?;
    if !policy.allowed_modes.contains(&request.mode) {
        return Err(GovernError::new(
            "MODE_NOT_ALLOWED",
            format!(
                "mode `{}` is not allowed by the policy (allowed: {})",
                request.mode,
                policy.allowed_modes.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let created = human(
        DECISION_CREATED,
        Some(decision_id),
        actor,
        now,
        json!({
            "goal": request.goal,
            "plan": request.plan,
            "requested_mode": request.mode.as_str(),
            "labels": policy.labels,
            "pipeline_file": request.pipeline_file,
            "pipeline_digest": request.pipeline_digest,
            "steps": request.steps,
        }),
    );
    let mut payload = policy_fields(&policy);
    if let Some(t) = template {
        payload.insert("template_name".into(), json!(t.name));
        payload.insert("template_digest".into(), json!(t.digest));
        payload.insert(
            "template_snapshot".into(),
            json!({
                "template_name": t.name,
                "template_description": t.description,
                "min_approvals": t.policy.min_approvals,
                "allowed_modes": t.policy.allowed_modes.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                "require_adapter_capabilities": t.policy.require_adapter_capabilities,
                "max_steps": t.policy.max_steps,
                "labels": t.policy.labels,
            }),
        );
        payload.insert("overrides_applied".into(), Value::Object(overrides));
    }
    let attached = human(POLICY_ATTACHED, Some(decision_id), actor, now, Value::Object(payload));
    Ok(vec![created, attached])
}

fn find<'a>(state: &'a GovernanceState, id: &str) -> Result<&'a Decision, GovernError> {
    state.decisions.get(id).ok_or_else(|| {
        GovernError::new("DECISION_NOT_FOUND", format!("no decision `{id}`; `attest decision list` shows them"))
    })
}

/// Finds a decision by id or unique id prefix.
pub fn resolve<'a>(state: &'a GovernanceState, id_or_prefix: &str) -> Result<&'a Decision, GovernError> {
    if let Some(d) = state.decisions.get(id_or_prefix) {
        return Ok(d);
    }
    let matches: Vec<&Decision> = state
        .decisions
        .values()
        .filter(|d| !id_or_prefix.is_empty() && d.decision_id.starts_with(id_or_prefix))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => find(state, id_or_prefix),
        many => Err(GovernError::new(
            "DECISION_AMBIGUOUS",
            format!("`{id_or_prefix}` matches {} decisions; give more of the id", many.len()),
        )),
    }
}

/// The bytes an approver signs: the decision, the approver and what they approve with.
pub fn approval_signing_bytes(
    decision_id: &str,
    approver: &str,
    expires_at: Option<&str>,
    comment: Option<&str>,
) -> Vec<u8> {
    let value = json!({
        "type": APPROVAL_GRANTED,
        "decision_id": decision_id,
        "approver": approver,
        "expires_at": expires_at,
        "comment": comment,
    });
    attest_hash::sorted_json(&value).unwrap_or_default().into_bytes()
}

fn not_executed(decision: &Decision, what: &str) -> Result<(), GovernError> {
    match decision.status {
        Status::Executing | Status::Completed | Status::Failed => Err(GovernError::new(
            "ALREADY_EXECUTED",
            format!("decision `{}` has been executed; {what} is only possible before", decision.decision_id),
        )),
        Status::Draft => Err(GovernError::new(
            "NO_POLICY",
            format!("decision `{}` has no policy yet, so there is nothing to {what}", decision.decision_id),
        )),
        _ => Ok(()),
    }
}

/// An approval by `approver`. `expires_at` must be later than `now`.
pub fn approve(
    state: &GovernanceState,
    decision_id: &str,
    approver: &str,
    comment: Option<&str>,
    expires_at: Option<Micros>,
    signature: Option<&ApprovalSignature>,
    now: Micros,
) -> Result<NewEvent, GovernError> {
    let decision = find(state, decision_id)?;
    not_executed(decision, "approval")?;
    if approver.trim().is_empty() {
        return Err(GovernError::new("INVALID_APPROVER", "`--as` is empty: name the approver"));
    }
    if let Some(at) = expires_at
        && at <= now
    {
        return Err(GovernError::new(
            "EXPIRY_IN_PAST",
            format!(
                "the approval would expire at {}, which is not after now ({}): check the clock or --expires",
                iso(at),
                iso(now)
            ),
        ));
    }
    if decision.approvals.get(approver).is_some_and(|a| a.active_at(now)) {
        return Err(GovernError::new(
            "ALREADY_APPROVED",
            format!("`{approver}` has already approved decision `{decision_id}`; approvals count distinct approvers"),
        ));
    }
    let mut payload = json!({ "expires_at": expires_at.map(iso) });
    if let Some(comment) = comment {
        payload["comment"] = json!(comment);
    }
    if let Some(signature) = signature {
        payload["signature"] = json!(signature);
    }
    Ok(human(APPROVAL_GRANTED, Some(decision_id), approver, now, payload))
}

/// A revocation of `approver`'s approval, before execution.
pub fn revoke(
    state: &GovernanceState,
    decision_id: &str,
    approver: &str,
    reason: &str,
    now: Micros,
) -> Result<NewEvent, GovernError> {
    let decision = find(state, decision_id)?;
    not_executed(decision, "revocation")?;
    if decision.approvals.get(approver).is_none_or(|a| a.revoked.is_some()) {
        return Err(GovernError::new(
            "NOT_APPROVED",
            format!("`{approver}` holds no approval of decision `{decision_id}` to revoke"),
        ));
    }
    Ok(human(APPROVAL_REVOKED, Some(decision_id), approver, now, json!({ "reason": reason })))
}

/// The run request of an execution: what `router_request_digest` is the digest of.
pub fn run_request(decision: &Decision, mode: Mode) -> Value {
    let mut request = json!({
        "goal": decision.goal,
        "adapter_id": ADAPTER_ID,
        "dry_run": mode == Mode::DryRun,
        "mode": mode.as_str(),
        "pipeline_digest": decision.pipeline_digest,
        "steps": decision.steps,
    });
    if let Some(plan) = &decision.plan {
        request["plan"] = json!(plan);
    }
    if let Some(max) = decision.policy.as_ref().and_then(|p| p.max_steps) {
        request["max_steps"] = json!(max);
    }
    request
}

/// `EXECUTION_REQUESTED` and `EXECUTION_STARTED`, written before the run.
pub fn execution_started(decision: &Decision, mode: Mode, now: Micros) -> Vec<NewEvent> {
    let request_digest = content_digest(&run_request(decision, mode)).unwrap_or_default();
    vec![
        system(
            EXECUTION_REQUESTED,
            &decision.decision_id,
            now,
            json!({ "adapter_id": ADAPTER_ID, "dry_run": mode == Mode::DryRun }),
        ),
        system(EXECUTION_STARTED, &decision.decision_id, now, json!({ "router_request_digest": request_digest })),
    ]
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionOutcome {
    /// The run id (receipt invocation id; a fresh id for a dry run's plan).
    pub run_id: Option<String>,
    /// SHA-256 hex of the receipt file (of the plan's JSON for a dry run).
    pub response_digest: Option<String>,
    /// The receipt, relative to the workspace.
    pub receipt: Option<String>,
    /// Steps executed.
    pub steps_executed: u64,
    /// `None` on success, else an error code and message.
    pub error: Option<(String, String)>,
}

/// `EXECUTION_COMPLETED` or `EXECUTION_FAILED`.
pub fn execution_finished(decision_id: &str, outcome: &ExecutionOutcome, now: Micros) -> NewEvent {
    match &outcome.error {
        None => system(
            EXECUTION_COMPLETED,
            decision_id,
            now,
            json!({
                "run_id": outcome.run_id,
                "response_digest": outcome.response_digest,
                "steps_executed": outcome.steps_executed,
                "receipt": outcome.receipt,
            }),
        ),
        Some((code, message)) => system(
            EXECUTION_FAILED,
            decision_id,
            now,
            json!({
                "error_code": code,
                "error_message": message,
                "run_id": outcome.run_id,
                "response_digest": outcome.response_digest,
                "receipt": outcome.receipt,
            }),
        ),
    }
}
