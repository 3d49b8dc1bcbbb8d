//! Importing a control bundle (`attest decision import`): every check first, then the
//! events to append in one transaction, or an error and nothing (§3.4 of
//! `docs/governance-formats.md`, stricter where nexus-attest is lenient: per-event
//! digests are checked too).

use attest_store::{NewEvent, StoredEvent};
use serde_json::Value;

use crate::GovernError;
use crate::control_bundle::{control_digest, nexus_event_digest, stored_control_digest};
use crate::digests::unprefixed;
use crate::event_types::DECISION_CREATED;
use crate::state::{GovernanceState, replay};

/// What to do when the bundle's decision id already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Refuse (`DECISION_EXISTS`).
    Reject,
    /// Import under a fresh id.
    NewId,
    /// The imported history supersedes the existing one. The log stays append-only: the old
    /// events remain (and stay verifiable); replay and export use the newest history.
    Overwrite,
}

impl OnConflict {
    /// `reject`, `new-id`, `overwrite` (nexus-attest's spellings also accepted).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "reject" | "reject_on_conflict" => Some(Self::Reject),
            "new-id" | "new_id" | "new_decision_id" => Some(Self::NewId),
            "overwrite" => Some(Self::Overwrite),
            _ => None,
        }
    }
}

/// A checked import: the decision id it lands under and the events to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The decision id in this log.
    pub decision_id: String,
    /// The id in the bundle, when it was changed (`new-id`).
    pub original_decision_id: Option<String>,
    /// The events, in order.
    pub events: Vec<NewEvent>,
}

fn invalid(message: impl Into<String>) -> GovernError {
    GovernError::new("BUNDLE_INVALID_SCHEMA", message)
}

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => !(n.is_i64() || n.is_u64()),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

/// Checks `bundle` and returns what to append. `new_id` is used for `new-id` conflicts.
pub fn import_bundle(
    state: &GovernanceState,
    bundle: &Value,
    on_conflict: OnConflict,
    new_id: &str,
) -> Result<Import, GovernError> {
    let version = bundle.get("bundle_version").and_then(Value::as_str).ok_or_else(|| invalid("no `bundle_version`"))?;
    if version != crate::BUNDLE_VERSION {
        return Err(invalid(format!(
            "bundle_version `{version}` is not supported; this attest reads `{}`",
            crate::BUNDLE_VERSION
        )));
    }
    let decision = bundle.get("decision").filter(|d| d.is_object()).ok_or_else(|| invalid("no `decision` object"))?;
    let id = decision
        .get("decision_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("no `decision.decision_id`"))?;
    for key in ["created_at", "status"] {
        if decision.get(key).is_none() {
            return Err(invalid(format!("no `decision.{key}`")));
        }
    }
    let events = bundle.get("events").and_then(Value::as_array).ok_or_else(|| invalid("no `events` array"))?;
    let stored = stored_control_digest(bundle).ok_or_else(|| invalid("no `integrity.canonical_digest`"))?;
    if has_float(bundle.get("events").unwrap_or(&Value::Null)) {
        return Err(invalid(
            "an event payload holds a non-integer number: attest cannot reproduce its digest byte for byte",
        ));
    }
    let recomputed = control_digest(bundle)?;
    if unprefixed(&recomputed) != stored {
        return Err(GovernError::new(
            "INTEGRITY_MISMATCH",
            format!("the bundle's digest is sha256:{stored} but its content hashes to {recomputed}: it was changed"),
        ));
    }
    let mut parsed = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let field = |key: &str| event.get(key).ok_or_else(|| invalid(format!("event {i} has no `{key}`")));
        let kind = field("type")?.as_str().ok_or_else(|| invalid(format!("event {i}: `type` is not a string")))?;
        let seq = field("seq")?.as_u64().ok_or_else(|| invalid(format!("event {i}: `seq` is not a number")))?;
        let ts = field("ts")?.as_str().ok_or_else(|| invalid(format!("event {i}: `ts` is not a string")))?;
        field("event_id")?;
        if seq != i as u64 {
            return Err(GovernError::new(
                "REPLAY_INVALID",
                format!("event {i} has seq {seq}: events must be numbered 0, 1, 2, ... without gaps"),
            ));
        }
        if event.get("decision_id").and_then(Value::as_str) != Some(id) {
            return Err(GovernError::new("REPLAY_INVALID", format!("event {i} belongs to another decision")));
        }
        if crate::iso_time::parse_iso(ts).is_none() {
            return Err(invalid(format!("event {i}: `ts` `{ts}` is not an ISO 8601 time with an offset")));
        }
        let payload = event.get("payload").cloned().unwrap_or_else(|| Value::Object(Default::default()));
        let digest = event.get("digest").and_then(Value::as_str).unwrap_or_default();
        if digest != nexus_event_digest(kind, &payload) {
            return Err(GovernError::new(
                "EVENT_DIGEST_MISMATCH",
                format!("event {i} ({kind}): its digest does not match its type and payload"),
            ));
        }
        let actor = event.get("actor");
        parsed.push((
            kind.to_owned(),
            ts.to_owned(),
            actor.and_then(|a| a.get("type")).and_then(Value::as_str).unwrap_or("human").to_owned(),
            actor.and_then(|a| a.get("id")).and_then(Value::as_str).unwrap_or("unknown").to_owned(),
            payload,
        ));
    }
    if parsed.first().map(|p| p.0.as_str()) != Some(DECISION_CREATED) {
        return Err(GovernError::new("REPLAY_INVALID", "the first event must be DECISION_CREATED"));
    }
    let (decision_id, original) = match (state.decisions.contains_key(id), on_conflict) {
        (false, _) | (true, OnConflict::Overwrite) => (id.to_owned(), None),
        (true, OnConflict::Reject) => {
            return Err(GovernError::new(
                "DECISION_EXISTS",
                format!("decision `{id}` exists here; use --on-conflict new-id or overwrite"),
            ));
        }
        (true, OnConflict::NewId) => (new_id.to_owned(), Some(id.to_owned())),
    };
    let new_events: Vec<NewEvent> = parsed
        .into_iter()
        .map(|(event_type, ts, actor_type, actor, payload)| NewEvent {
            event_id: format!("evt_{}", crate::new_uuid()),
            decision_id: Some(decision_id.clone()),
            event_type,
            occurred_at: ts,
            actor_type,
            actor,
            payload,
        })
        .collect();
    // Replay the imported history alone: it must make a decision.
    let as_stored: Vec<StoredEvent> = new_events
        .iter()
        .enumerate()
        .map(|(i, e)| StoredEvent {
            seq: i64::try_from(i).unwrap_or(i64::MAX) + 1,
            event_id: e.event_id.clone(),
            decision_id: e.decision_id.clone(),
            event_type: e.event_type.clone(),
            occurred_at: e.occurred_at.clone(),
            actor_type: e.actor_type.clone(),
            actor: e.actor.clone(),
            payload: e.payload.clone(),
            prev_digest: String::new(),
            prev_decision_digest: None,
            digest: String::new(),
        })
        .collect();
    if !replay(&as_stored).decisions.contains_key(&decision_id) {
        return Err(GovernError::new("REPLAY_INVALID", "the events do not replay into a decision"));
    }
    Ok(Import { decision_id, original_decision_id: original, events: new_events })
}
