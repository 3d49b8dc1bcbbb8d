//! The control bundle v0.5 (nexus-attest's decision export bundle): a decision, all of its
//! events, its template snapshot and its link to the run, sealed by `canonical_digest`
//! (`docs/governance-formats.md` §3).

use attest_store::StoredEvent;
use serde_json::{Map, Value, json};

use crate::digests::{content_digest, prefixed, unprefixed};
use crate::event_types::{EXECUTION_REQUESTED, POLICY_ATTACHED};
use crate::iso_time::{Micros, iso};
use crate::state::Decision;
use crate::{ADAPTER_ID, GovernError};

/// The bundle format version.
pub const BUNDLE_VERSION: &str = "0.5";

fn sha_err(e: attest_hash::SortedJsonError) -> GovernError {
    GovernError::new("BUNDLE_INVALID_SCHEMA", e.to_string())
}

/// nexus-attest's per-event digest: `H({event_type, payload})`, raw hex.
pub fn nexus_event_digest(event_type: &str, payload: &Value) -> String {
    content_digest(&json!({ "event_type": event_type, "payload": payload })).unwrap_or_default()
}

/// `control_router_link_digest` (raw hex) from raw hex request and result digests.
pub fn link_digest(decision_id: &str, run_id: &str, request: Option<&str>, result: Option<&str>) -> String {
    content_digest(&json!({
        "decision_id": decision_id,
        "run_id": run_id,
        "router_request_digest": request,
        "router_result_digest": result,
    }))
    .unwrap_or_default()
}

/// The bundle of `decision` from its events (in log order), exported at `now`.
pub fn export_bundle(decision: &Decision, events: &[&StoredEvent], now: Micros) -> Result<Value, GovernError> {
    let id = &decision.decision_id;
    let bundle_events: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(seq, e)| {
            json!({
                "event_id": format!("evt_{id}_{seq}"),
                "decision_id": id,
                "seq": seq,
                "type": e.event_type,
                "payload": e.payload,
                "ts": e.occurred_at,
                "actor": { "type": e.actor_type, "id": e.actor },
                "digest": nexus_event_digest(&e.event_type, &e.payload),
            })
        })
        .collect();
    let template_snapshot = match events.iter().rev().find(|e| e.event_type == POLICY_ATTACHED) {
        Some(e) if e.payload.get("template_name").and_then(Value::as_str).is_some_and(|n| !n.is_empty()) => {
            let overrides = e.payload.get("overrides_applied").filter(|o| o.as_object().is_some_and(|m| !m.is_empty()));
            json!({
                "present": true,
                "name": e.payload["template_name"],
                "digest": prefixed(e.payload.get("template_digest").and_then(Value::as_str).unwrap_or_default()),
                "snapshot": e.payload.get("template_snapshot").cloned().unwrap_or(Value::Null),
                "overrides": overrides.cloned().unwrap_or(Value::Null),
            })
        }
        _ => json!({ "present": false }),
    };
    let mut router_link = Map::new();
    if let Some(last) = decision.executions.last() {
        if let Some(run_id) = &last.run_id {
            router_link.insert("run_id".into(), json!(run_id));
        }
        if events.iter().any(|e| e.event_type == EXECUTION_REQUESTED) {
            router_link.insert("adapter_id".into(), json!(ADAPTER_ID));
        }
        if let Some(d) = &last.router_request_digest {
            router_link.insert("router_request_digest".into(), json!(prefixed(d)));
        }
        if let Some(d) = &last.response_digest {
            router_link.insert("router_result_digest".into(), json!(prefixed(d)));
        }
        if let Some(run_id) = &last.run_id {
            let link = link_digest(id, run_id, last.router_request_digest.as_deref(), last.response_digest.as_deref());
            router_link.insert("control_router_link_digest".into(), json!(prefixed(&link)));
        }
    }
    let mut bundle = json!({
        "bundle_version": BUNDLE_VERSION,
        "decision": {
            "decision_id": id,
            "goal": decision.goal,
            "mode": decision.mode.as_str(),
            "created_at": decision.created_at,
            "status": decision.status.bundle_name(),
        },
        "events": bundle_events,
        "template_snapshot": template_snapshot,
        "router_link": Value::Object(router_link),
    });
    let sealed = control_digest(&bundle)?;
    let digest = unprefixed(&sealed).to_owned();
    bundle["integrity"] = json!({ "alg": "sha256", "canonical_digest": sealed });
    bundle["provenance"] = json!({ "records": [{
        "prov_id": format!("prov_{}", &attest_hash::sha256_bytes(format!("{id}:{digest}").as_bytes()).hex()[..12]),
        "method_id": "attest.decision_export_v0_5",
        "inputs": [format!("decision:{id}")],
        "outputs": [format!("bundle:sha256:{digest}")],
    }]});
    bundle["meta"] = json!({ "exported_at": iso(now) });
    Ok(bundle)
}

fn field<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// The projection the control digest is computed over, re-read the way nexus-attest
/// re-reads a bundle (§3.3): known keys only, defaults filled in, null link entries left
/// out. Works on any bundle, ours or foreign.
pub fn projection(bundle: &Value) -> Value {
    let empty = json!({});
    let decision = bundle.get("decision").unwrap_or(&empty);
    let events: Vec<Value> = bundle
        .get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    json!({
                        "event_id": e.get("event_id").cloned().unwrap_or(Value::Null),
                        "decision_id": e.get("decision_id").cloned().unwrap_or(Value::Null),
                        "seq": e.get("seq").cloned().unwrap_or(Value::Null),
                        "type": e.get("type").cloned().unwrap_or(Value::Null),
                        "payload": field(e, "payload").cloned().unwrap_or_else(|| json!({})),
                        "ts": e.get("ts").cloned().unwrap_or(Value::Null),
                        "actor": field(e, "actor").cloned().unwrap_or_else(|| json!({})),
                        "digest": field(e, "digest").cloned().unwrap_or_else(|| json!("")),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let snapshot = bundle.get("template_snapshot").unwrap_or(&empty);
    let template_snapshot = if snapshot.get("present") == Some(&Value::Bool(true)) {
        json!({
            "present": true,
            "name": snapshot.get("name").cloned().unwrap_or(Value::Null),
            "digest": snapshot.get("digest").cloned().unwrap_or(Value::Null),
            "snapshot": snapshot.get("snapshot").cloned().unwrap_or(Value::Null),
            "overrides": snapshot.get("overrides").cloned().unwrap_or(Value::Null),
        })
    } else {
        json!({ "present": false })
    };
    let link = bundle.get("router_link").unwrap_or(&empty);
    let mut router_link = Map::new();
    for key in ["run_id", "adapter_id", "router_request_digest", "router_result_digest", "control_router_link_digest"] {
        if let Some(value) = field(link, key) {
            router_link.insert(key.into(), value.clone());
        }
    }
    json!({
        "bundle_version": field(bundle, "bundle_version").cloned().unwrap_or_else(|| json!(BUNDLE_VERSION)),
        "decision": {
            "decision_id": decision.get("decision_id").cloned().unwrap_or(Value::Null),
            "goal": decision.get("goal").cloned().unwrap_or(Value::Null),
            "mode": field(decision, "mode").cloned().unwrap_or_else(|| json!("dry_run")),
            "created_at": decision.get("created_at").cloned().unwrap_or(Value::Null),
            "status": decision.get("status").cloned().unwrap_or(Value::Null),
        },
        "events": events,
        "template_snapshot": template_snapshot,
        "router_link": Value::Object(router_link),
    })
}

/// The control digest of `bundle` (`sha256:`-prefixed), recomputed.
pub fn control_digest(bundle: &Value) -> Result<String, GovernError> {
    Ok(prefixed(&content_digest(&projection(bundle)).map_err(sha_err)?))
}

/// The stored `integrity.canonical_digest`, prefix stripped.
pub fn stored_control_digest(bundle: &Value) -> Option<&str> {
    bundle.get("integrity")?.get("canonical_digest")?.as_str().map(unprefixed)
}
