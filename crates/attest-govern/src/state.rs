//! The governance state, derived only by replaying the event log ([`replay`]). Replay is
//! a pure function of the events: the clock enters only later, when approvals are counted
//! at an explicit instant ([`Decision::active_approvals`]).

use std::collections::BTreeMap;

use attest_store::StoredEvent;
use serde::Serialize;
use serde_json::Value;

use crate::commands::template_digest;
use crate::event_types::*;
use crate::iso_time::{Micros, parse_iso};
use crate::{Mode, Policy};

/// An approval as the log has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// The approver (`--as`).
    pub approver: String,
    /// When (ISO 8601).
    pub granted_at: String,
    /// When it stops counting, if ever.
    pub expires_at: Option<String>,
    /// Why.
    pub comment: Option<String>,
    /// `keyid` and base64 `sig` over the approval's signing bytes, when signed.
    pub signature: Option<ApprovalSignature>,
    /// Set when revoked: when and why.
    pub revoked: Option<(String, String)>,
}

/// An Ed25519 signature over an approval (attest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ApprovalSignature {
    /// The signer's keyid (securesystemslib).
    pub keyid: String,
    /// Base64 signature over [`crate::approval_signing_bytes`].
    pub sig: String,
}

impl Approval {
    /// Whether it counts at `now`: not revoked and not expired.
    pub fn active_at(&self, now: Micros) -> bool {
        self.revoked.is_none() && !self.expired_at(now)
    }

    /// Whether it has expired at `now` (an unreadable expiry counts as expired).
    pub fn expired_at(&self, now: Micros) -> bool {
        self.expires_at.as_deref().is_some_and(|t| parse_iso(t).is_none_or(|at| at <= now))
    }
}

/// One execution attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Execution {
    /// `dry_run` or `apply`.
    pub mode: Option<Mode>,
    /// SHA-256 (hex) of the canonical run request.
    pub router_request_digest: Option<String>,
    /// The run id (the receipt's invocation id).
    pub run_id: Option<String>,
    /// SHA-256 (hex) of the receipt file (of the plan, for dry runs).
    pub response_digest: Option<String>,
    /// The receipt, relative to the workspace.
    pub receipt: Option<String>,
    /// Steps executed.
    pub steps_executed: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The lifecycle of a decision (nexus-attest's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, no policy yet.
    Draft,
    /// Waiting for approvals.
    PendingApproval,
    /// Enough approvals were counted when the last one arrived.
    Approved,
    /// Running.
    Executing,
    /// Ran.
    Completed,
    /// Ran and failed.
    Failed,
}

impl Status {
    /// Upper-case name, as bundles write it.
    pub fn bundle_name(self) -> &'static str {
        match self {
            Status::Draft => "DRAFT",
            Status::PendingApproval => "PENDING_APPROVAL",
            Status::Approved => "APPROVED",
            Status::Executing => "EXECUTING",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
        }
    }
}

/// A decision, replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Its id.
    pub decision_id: String,
    /// What it is for.
    pub goal: String,
    /// Free-text plan.
    pub plan: Option<String>,
    /// The requested mode.
    pub mode: Mode,
    /// Tags.
    pub labels: Vec<String>,
    /// The pipeline file it was made for (attest).
    pub pipeline_file: Option<String>,
    /// The digest of that file when it was made (attest).
    pub pipeline_digest: Option<String>,
    /// Steps to run (empty: all) (attest).
    pub steps: Vec<String>,
    /// When it was created (the first event's time).
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// Its policy, once attached.
    pub policy: Option<Policy>,
    /// The template the policy came from: name and digest.
    pub template: Option<(String, String)>,
    /// Approvals by approver (one entry each; a new grant replaces the old).
    pub approvals: BTreeMap<String, Approval>,
    /// Execution attempts, oldest first.
    pub executions: Vec<Execution>,
    /// Where it is in its lifecycle.
    pub status: Status,
}

impl Decision {
    /// Approvals that count at `now`, by distinct approver; with `signed_only`, only those
    /// for which `trusted(approval)` says the signature is valid and the key trusted.
    pub fn active_approvals(&self, now: Micros, trusted: &dyn Fn(&str, &Approval) -> bool) -> Vec<&Approval> {
        let signed_only = self.policy.as_ref().is_some_and(|p| p.require_signed_approvals);
        self.approvals
            .values()
            .filter(|a| a.active_at(now))
            .filter(|a| !signed_only || trusted(&self.decision_id, a))
            .collect()
    }
}

/// A template, replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Its policy.
    pub policy: Policy,
    /// When it was created.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// Its digest (hex SHA-256, nexus-attest's formula).
    pub digest: String,
}

/// Everything the log says.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GovernanceState {
    /// Templates by name.
    pub templates: BTreeMap<String, Template>,
    /// Decisions by id.
    pub decisions: BTreeMap<String, Decision>,
}

fn text(payload: &Value, key: &str) -> Option<String> {
    payload.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn strings(payload: &Value, key: &str) -> Vec<String> {
    payload
        .get(key)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The policy fields of a `POLICY_ATTACHED` or `TEMPLATE_CREATED` payload.
pub(crate) fn policy_from(payload: &Value) -> Policy {
    Policy {
        min_approvals: payload
            .get("min_approvals")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1),
        allowed_modes: strings(payload, "allowed_modes").iter().filter_map(|m| Mode::parse(m)).collect(),
        require_adapter_capabilities: strings(payload, "require_adapter_capabilities"),
        max_steps: payload.get("max_steps").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()),
        labels: strings(payload, "labels"),
        require_signed_approvals: payload.get("require_signed_approvals").and_then(Value::as_bool).unwrap_or(false),
    }
}

/// Replays `events` (in log order) into the state. Unknown event types and fields are
/// ignored, as nexus-attest does, so newer logs still replay.
pub fn replay(events: &[StoredEvent]) -> GovernanceState {
    let mut state = GovernanceState::default();
    for event in events {
        let p = &event.payload;
        if event.event_type == TEMPLATE_CREATED {
            let Some(name) = text(p, "name") else { continue };
            let description = text(p, "description").unwrap_or_default();
            let policy = policy_from(p);
            let digest = template_digest(&name, &description, &policy, &event.occurred_at, &event.actor);
            state.templates.entry(name.clone()).or_insert_with(|| Template {
                name,
                description,
                policy,
                created_at: event.occurred_at.clone(),
                created_by: event.actor.clone(),
                digest,
            });
            continue;
        }
        let Some(id) = &event.decision_id else { continue };
        if event.event_type == DECISION_CREATED {
            state.decisions.insert(
                id.clone(),
                Decision {
                    decision_id: id.clone(),
                    goal: text(p, "goal").unwrap_or_default(),
                    plan: text(p, "plan"),
                    mode: text(p, "requested_mode").and_then(|m| Mode::parse(&m)).unwrap_or(Mode::DryRun),
                    labels: strings(p, "labels"),
                    pipeline_file: text(p, "pipeline_file"),
                    pipeline_digest: text(p, "pipeline_digest"),
                    steps: strings(p, "steps"),
                    created_at: event.occurred_at.clone(),
                    created_by: event.actor.clone(),
                    policy: None,
                    template: None,
                    approvals: BTreeMap::new(),
                    executions: Vec::new(),
                    status: Status::Draft,
                },
            );
            continue;
        }
        let Some(decision) = state.decisions.get_mut(id) else { continue };
        match event.event_type.as_str() {
            POLICY_ATTACHED => {
                decision.policy = Some(policy_from(p));
                decision.template = text(p, "template_name")
                    .filter(|n| !n.is_empty())
                    .map(|n| (n, text(p, "template_digest").unwrap_or_default()));
                decision.status = Status::PendingApproval;
            }
            APPROVAL_GRANTED => {
                let signature = p.get("signature").and_then(|s| serde_json::from_value(s.clone()).ok());
                decision.approvals.insert(
                    event.actor.clone(),
                    Approval {
                        approver: event.actor.clone(),
                        granted_at: event.occurred_at.clone(),
                        expires_at: text(p, "expires_at"),
                        comment: text(p, "comment"),
                        signature,
                        revoked: None,
                    },
                );
                recount(decision);
            }
            APPROVAL_REVOKED => {
                if let Some(approval) = decision.approvals.get_mut(&event.actor) {
                    approval.revoked = Some((event.occurred_at.clone(), text(p, "reason").unwrap_or_default()));
                }
                recount(decision);
            }
            EXECUTION_REQUESTED => decision.executions.push(Execution {
                mode: Some(if p.get("dry_run").and_then(Value::as_bool).unwrap_or(true) {
                    Mode::DryRun
                } else {
                    Mode::Apply
                }),
                ..Execution::default()
            }),
            EXECUTION_STARTED => {
                if let Some(last) = decision.executions.last_mut() {
                    last.router_request_digest = text(p, "router_request_digest");
                }
                decision.status = Status::Executing;
            }
            EXECUTION_COMPLETED => {
                if let Some(last) = decision.executions.last_mut() {
                    last.run_id = text(p, "run_id");
                    last.response_digest = text(p, "response_digest");
                    last.receipt = text(p, "receipt");
                    last.steps_executed = p.get("steps_executed").and_then(Value::as_u64);
                }
                decision.status = Status::Completed;
            }
            EXECUTION_FAILED => {
                if let Some(last) = decision.executions.last_mut() {
                    last.run_id = text(p, "run_id");
                    last.response_digest = text(p, "response_digest");
                    last.receipt = text(p, "receipt");
                    last.error = Some(format!(
                        "{}: {}",
                        text(p, "error_code").unwrap_or_default(),
                        text(p, "error_message").unwrap_or_default()
                    ));
                }
                decision.status = Status::Failed;
            }
            _ => {}
        }
    }
    state
}

/// nexus-attest's state update after an approval change: counted without expiry (replay
/// has no clock), only while the decision waits for approvals.
fn recount(decision: &mut Decision) {
    if !matches!(decision.status, Status::PendingApproval | Status::Approved) {
        return;
    }
    let needed = decision.policy.as_ref().map_or(1, |p| p.min_approvals) as usize;
    let active = decision.approvals.values().filter(|a| a.revoked.is_none()).count();
    decision.status = if active >= needed { Status::Approved } else { Status::PendingApproval };
}
