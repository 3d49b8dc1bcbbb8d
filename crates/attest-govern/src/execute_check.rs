//! Whether a decision may execute now: the first refusal, by name, or nothing.

use serde::Serialize;
use serde_json::{Value, json};

use crate::Mode;
use crate::iso_time::Micros;
use crate::state::{Approval, Decision, Status};

/// A named reason not to execute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// `NO_POLICY`, `ALREADY_EXECUTED`, `PIPELINE_CHANGED`, `MODE_NOT_ALLOWED`,
    /// `TOO_MANY_STEPS`, `APPROVAL_EXPIRED` or `MISSING_APPROVALS`.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// The numbers behind it.
    pub details: Value,
}

/// What execution would do, as the caller found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionPlan<'a> {
    /// The mode it would run in.
    pub mode: Mode,
    /// The digest of attest.yaml now.
    pub pipeline_digest: &'a str,
    /// How many steps would run (the selection and what it needs).
    pub steps: usize,
}

/// The first refusal for executing `decision` at `now` as `plan` says, checked in this
/// order: NO_POLICY, ALREADY_EXECUTED, PIPELINE_CHANGED, MODE_NOT_ALLOWED, TOO_MANY_STEPS,
/// APPROVAL_EXPIRED, MISSING_APPROVALS. `trusted(decision_id, approval)` says whether a
/// signed approval verifies against a trusted key (used when the policy requires it).
pub fn check_execute(
    decision: &Decision,
    plan: &ExecutionPlan<'_>,
    now: Micros,
    trusted: &dyn Fn(&str, &Approval) -> bool,
) -> Result<(), Refusal> {
    let Some(policy) = &decision.policy else {
        return Err(Refusal {
            code: "NO_POLICY",
            message: format!("decision `{}` has no policy attached", decision.decision_id),
            details: json!({}),
        });
    };
    if matches!(decision.status, Status::Executing | Status::Completed | Status::Failed) {
        let run_id = decision.executions.last().and_then(|e| e.run_id.clone());
        return Err(Refusal {
            code: "ALREADY_EXECUTED",
            message: format!(
                "decision `{}` was already executed{}; make a new decision to run again",
                decision.decision_id,
                run_id.as_deref().map(|r| format!(" (run {r})")).unwrap_or_default()
            ),
            details: json!({ "status": decision.status, "run_id": run_id }),
        });
    }
    if decision.pipeline_digest.as_deref().is_some_and(|d| d != plan.pipeline_digest) {
        return Err(Refusal {
            code: "PIPELINE_CHANGED",
            message: "the pipeline file changed since the decision was made: its approvals are for another pipeline"
                .to_owned(),
            details: json!({ "decided": decision.pipeline_digest, "now": plan.pipeline_digest }),
        });
    }
    if !policy.allowed_modes.contains(&plan.mode) {
        return Err(Refusal {
            code: "MODE_NOT_ALLOWED",
            message: format!("mode `{}` is not allowed by the policy", plan.mode),
            details: json!({ "mode": plan.mode, "allowed_modes": policy.allowed_modes }),
        });
    }
    if let Some(max) = policy.max_steps
        && plan.steps > max as usize
    {
        return Err(Refusal {
            code: "TOO_MANY_STEPS",
            message: format!("{} steps would run, the policy allows at most {max}", plan.steps),
            details: json!({ "steps": plan.steps, "max_steps": max }),
        });
    }
    let required = policy.min_approvals as usize;
    let current = decision.active_approvals(now, trusted).len();
    if current < required {
        let signed_only = policy.require_signed_approvals;
        let counts = |a: &&Approval| a.revoked.is_none() && (!signed_only || trusted(&decision.decision_id, a));
        let expired = decision.approvals.values().filter(counts).filter(|a| a.expired_at(now)).count();
        if expired > 0 && current + expired >= required {
            return Err(Refusal {
                code: "APPROVAL_EXPIRED",
                message: format!(
                    "{expired} approval(s) expired; {current} of {required} still count: ask for them again"
                ),
                details: json!({ "expired_count": expired, "current_valid": current, "required": required }),
            });
        }
        let unsigned = if signed_only {
            let not_trusted = decision.approvals.values().filter(|a| a.active_at(now)).count() - current;
            if not_trusted > 0 {
                format!(" ({not_trusted} more are not signed by a trusted key)")
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        return Err(Refusal {
            code: "MISSING_APPROVALS",
            message: format!("{} more approval(s) needed: {current} of {required}{unsigned}", required - current),
            details: json!({ "required": required, "current": current, "missing": required - current }),
        });
    }
    Ok(())
}
