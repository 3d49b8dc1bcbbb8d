//! The governance event log: append-only and hash-chained. Every event stores the digest
//! of the event before it (globally) and of the previous event of its decision, and its own
//! digest over all of that, so an edit or deletion made with any SQLite tool breaks a link
//! that [`Store::verify_log`] names. Triggers refuse `UPDATE` and `DELETE` outright.
//!
//! Digest of an event: `sha256:` + hex SHA-256 of the sorted compact JSON
//! (`attest_hash::sorted_json`) of `{seq, event_id, decision_id, type, occurred_at,
//! actor: {type, id}, payload, prev_digest, prev_decision_digest}`. The first event links to [`GENESIS`].

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Store, StoreError};

/// What the first event links to.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Unique id.
    pub event_id: String,
    /// The decision it belongs to (none for template events).
    pub decision_id: Option<String>,
    /// `DECISION_CREATED`, `APPROVAL_GRANTED`, ...
    pub event_type: String,
    /// RFC 3339 UTC.
    pub occurred_at: String,
    /// `human` or `system`.
    pub actor_type: String,
    /// Who did it.
    pub actor: String,
    /// The event's data (integers, strings, no floats).
    pub payload: Value,
}

/// An event as stored, with its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// Position in the log, from 1.
    pub seq: i64,
    /// Unique id.
    pub event_id: String,
    /// The decision it belongs to.
    pub decision_id: Option<String>,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339 UTC.
    pub occurred_at: String,
    /// `human` or `system`.
    pub actor_type: String,
    /// Who did it.
    pub actor: String,
    /// Its data.
    pub payload: Value,
    /// Digest of the event before it, or [`GENESIS`].
    pub prev_digest: String,
    /// Digest of the previous event of the same decision.
    pub prev_decision_digest: Option<String>,
    /// Its own digest.
    pub digest: String,
}

/// The first broken link of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The event where the chain breaks.
    pub seq: i64,
    /// Its id, when the row is readable.
    pub event_id: String,
    /// What is wrong, for people.
    pub reason: String,
}

/// The result of checking the whole log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogCheck {
    /// Events checked.
    pub events: usize,
    /// Digest of the last event ([`GENESIS`] when empty): record it elsewhere to detect a
    /// log cut short, which no chain can show by itself.
    pub head: String,
    /// The first broken link, if any.
    pub first_break: Option<ChainBreak>,
}

/// The digest of an event from its fields.
pub fn event_digest(event: &StoredEvent) -> Result<String, attest_hash::SortedJsonError> {
    let body = json!({
        "seq": event.seq,
        "event_id": event.event_id,
        "decision_id": event.decision_id,
        "type": event.event_type,
        "occurred_at": event.occurred_at,
        "actor": {"type": event.actor_type, "id": event.actor},
        "payload": event.payload,
        "prev_digest": event.prev_digest,
        "prev_decision_digest": event.prev_decision_digest,
    });
    Ok(attest_hash::sha256_bytes(attest_hash::sorted_json(&body)?.as_bytes()).to_string())
}

fn read_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredEvent, String)> {
    let payload_text: String = row.get(6)?;
    let payload = serde_json::from_str(&payload_text).unwrap_or(Value::Null);
    Ok((
        StoredEvent {
            seq: row.get(0)?,
            event_id: row.get(1)?,
            decision_id: row.get(2)?,
            event_type: row.get(3)?,
            occurred_at: row.get(4)?,
            actor_type: row.get(10)?,
            actor: row.get(5)?,
            payload,
            prev_digest: row.get(7)?,
            prev_decision_digest: row.get(8)?,
            digest: row.get(9)?,
        },
        payload_text,
    ))
}

const SELECT: &str = "SELECT seq, event_id, decision_id, event_type, occurred_at, actor, payload, prev_digest,
                             prev_decision_digest, digest, actor_type
                      FROM governance_events";

impl Store {
    /// Appends `events` in order, in one transaction: all or none. Returns them as stored.
    pub fn append_events(&mut self, events: &[NewEvent]) -> Result<Vec<StoredEvent>, StoreError> {
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| crate::store::classify(&path, e);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let mut stored = Vec::with_capacity(events.len());
        {
            let (mut seq, mut prev): (i64, String) = tx
                .query_row("SELECT seq, digest FROM governance_events ORDER BY seq DESC LIMIT 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(sql)?
                .unwrap_or((0, GENESIS.to_owned()));
            let mut decision_heads: BTreeMap<String, String> = BTreeMap::new();
            let mut insert = tx
                .prepare(
                    "INSERT INTO governance_events (seq, event_id, decision_id, event_type, occurred_at, actor,
                                                    payload, prev_digest, prev_decision_digest, digest, actor_type)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(sql)?;
            for event in events {
                let prev_decision_digest = match &event.decision_id {
                    None => None,
                    Some(id) => match decision_heads.get(id) {
                        Some(head) => Some(head.clone()),
                        None => tx
                            .query_row(
                                "SELECT digest FROM governance_events WHERE decision_id = ?1 ORDER BY seq DESC LIMIT 1",
                                [id],
                                |r| r.get(0),
                            )
                            .optional()
                            .map_err(sql)?,
                    },
                };
                seq += 1;
                let mut row = StoredEvent {
                    seq,
                    event_id: event.event_id.clone(),
                    decision_id: event.decision_id.clone(),
                    event_type: event.event_type.clone(),
                    occurred_at: event.occurred_at.clone(),
                    actor_type: event.actor_type.clone(),
                    actor: event.actor.clone(),
                    payload: event.payload.clone(),
                    prev_digest: prev.clone(),
                    prev_decision_digest,
                    digest: String::new(),
                };
                row.digest = event_digest(&row)
                    .map_err(|e| StoreError::Invalid { path: path.clone(), reason: e.to_string() })?;
                let payload = attest_hash::sorted_json(&row.payload)
                    .map_err(|e| StoreError::Invalid { path: path.clone(), reason: e.to_string() })?;
                insert
                    .execute(params![
                        row.seq,
                        row.event_id,
                        row.decision_id,
                        row.event_type,
                        row.occurred_at,
                        row.actor,
                        payload,
                        row.prev_digest,
                        row.prev_decision_digest,
                        row.digest,
                        row.actor_type,
                    ])
                    .map_err(sql)?;
                if let Some(id) = &row.decision_id {
                    decision_heads.insert(id.clone(), row.digest.clone());
                }
                prev = row.digest.clone();
                stored.push(row);
            }
        }
        tx.commit().map_err(sql)?;
        Ok(stored)
    }

    /// Every governance event, in order.
    pub fn governance_events(&self) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self.conn.prepare(&format!("{SELECT} ORDER BY seq")).map_err(|e| self.error(e))?;
        let rows: Vec<(StoredEvent, String)> =
            stmt.query_map([], read_event).and_then(Iterator::collect).map_err(|e| self.error(e))?;
        Ok(rows.into_iter().map(|(event, _)| event).collect())
    }

    /// Checks every link of the log and names the first broken one.
    pub fn verify_log(&self) -> Result<LogCheck, StoreError> {
        let mut stmt = self.conn.prepare(&format!("{SELECT} ORDER BY seq")).map_err(|e| self.error(e))?;
        let rows: Vec<(StoredEvent, String)> =
            stmt.query_map([], read_event).and_then(Iterator::collect).map_err(|e| self.error(e))?;
        let mut previous = GENESIS.to_owned();
        let mut heads: BTreeMap<String, String> = BTreeMap::new();
        let mut first_break = None;
        for (expected_seq, (event, payload_text)) in (1..).zip(rows.iter()) {
            let broken = |reason: String| ChainBreak { seq: event.seq, event_id: event.event_id.clone(), reason };
            let stored_form = attest_hash::sorted_json(&event.payload).ok();
            let reason = if event.seq != expected_seq {
                Some(format!(
                    "expected event {expected_seq} here, found {}: events were deleted or renumbered",
                    event.seq
                ))
            } else if event.prev_digest != previous {
                Some(format!(
                    "its link to the event before does not match ({} recorded, {previous} found): an earlier event was \
                     edited or deleted",
                    event.prev_digest
                ))
            } else if event.prev_decision_digest.as_ref() != event.decision_id.as_ref().and_then(|d| heads.get(d)) {
                Some("its link to the previous event of its decision does not match".to_owned())
            } else if stored_form.as_deref() != Some(payload_text.as_str()) {
                Some("its payload is not the canonical JSON it was written as: it was edited".to_owned())
            } else if event_digest(event).ok().as_deref() != Some(event.digest.as_str()) {
                Some("its content does not match its digest: it was edited".to_owned())
            } else {
                None
            };
            if let Some(reason) = reason {
                first_break = Some(broken(reason));
                break;
            }
            if let Some(id) = &event.decision_id {
                heads.insert(id.clone(), event.digest.clone());
            }
            previous = event.digest.clone();
        }
        Ok(LogCheck { events: rows.len(), head: previous, first_break })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, decision: Option<&str>, kind: &str) -> NewEvent {
        NewEvent {
            event_id: id.to_owned(),
            decision_id: decision.map(str::to_owned),
            event_type: kind.to_owned(),
            occurred_at: "2026-12-01T10:00:00.000001+00:00".to_owned(),
            actor_type: "human".to_owned(),
            actor: "alice".to_owned(),
            payload: json!({"goal": "release 1.4.0", "n": 2}),
        }
    }

    fn store_with_log() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::open(&dir.path().join("attest.db")).expect("open");
        store
            .append_events(&[event("e1", None, "TEMPLATE_CREATED"), event("e2", Some("d1"), "DECISION_CREATED")])
            .expect("append");
        store.append_events(&[event("e3", Some("d2"), "DECISION_CREATED")]).expect("append");
        store.append_events(&[event("e4", Some("d1"), "APPROVAL_GRANTED")]).expect("append");
        (dir, store)
    }

    /// Tampering needs the triggers out of the way first, as an attacker would do.
    fn tamper(store: &Store, sql: &str) {
        store
            .conn
            .execute_batch(&format!(
                "DROP TRIGGER governance_events_no_update; DROP TRIGGER governance_events_no_delete; {sql}"
            ))
            .expect("tamper");
    }

    #[test]
    fn links_chain_globally_and_per_decision() {
        let (_dir, store) = store_with_log();
        let events = store.governance_events().expect("events");
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(events[0].prev_digest, GENESIS);
        assert_eq!(events[3].prev_digest, events[2].digest);
        assert_eq!(events[3].prev_decision_digest.as_ref(), Some(&events[1].digest));
        assert_eq!(events[2].prev_decision_digest, None);
        let check = store.verify_log().expect("check");
        assert_eq!(check.first_break, None);
        assert_eq!((check.events, check.head.as_str()), (4, events[3].digest.as_str()));
    }

    #[test]
    fn updates_and_deletes_are_refused_by_the_database() {
        let (_dir, store) = store_with_log();
        let err = store.conn.execute("UPDATE governance_events SET actor = 'mallory'", []).expect_err("refused");
        assert!(err.to_string().contains("append-only"), "{err}");
        assert!(store.conn.execute("DELETE FROM governance_events WHERE seq = 2", []).is_err());
    }

    #[test]
    fn an_edited_payload_names_its_event() {
        let (_dir, store) = store_with_log();
        tamper(&store, "UPDATE governance_events SET payload = '{\"goal\":\"release 9\",\"n\":2}' WHERE seq = 2;");
        let found = store.verify_log().expect("check").first_break.expect("broken");
        assert_eq!((found.seq, found.event_id.as_str()), (2, "e2"));
        assert!(found.reason.contains("does not match its digest"), "{}", found.reason);
    }

    #[test]
    fn a_deleted_event_breaks_the_next_link() {
        let (_dir, store) = store_with_log();
        tamper(&store, "DELETE FROM governance_events WHERE seq = 3;");
        let found = store.verify_log().expect("check").first_break.expect("broken");
        assert_eq!(found.seq, 4);
        assert!(found.reason.contains("deleted"), "{}", found.reason);
    }

    #[test]
    fn a_rewritten_and_rehashed_event_still_breaks_the_chain_after_it() {
        let (_dir, store) = store_with_log();
        // Edit event 2 and recompute its own digest: event 3 still links to the old one.
        let mut events = store.governance_events().expect("events");
        events[1].actor = "mallory".to_owned();
        let forged = event_digest(&events[1]).expect("digest");
        tamper(&store, &format!("UPDATE governance_events SET actor = 'mallory', digest = '{forged}' WHERE seq = 2;"));
        let found = store.verify_log().expect("check").first_break.expect("broken");
        assert_eq!(found.seq, 3);
    }

    #[test]
    fn a_failed_batch_appends_nothing() {
        let (_dir, mut store) = store_with_log();
        let duplicate = [event("e5", Some("d1"), "APPROVAL_GRANTED"), event("e1", None, "TEMPLATE_CREATED")];
        assert!(store.append_events(&duplicate).is_err(), "e1 exists");
        assert_eq!(store.governance_events().expect("events").len(), 4);
        let float = NewEvent { payload: json!({"x": 0.5}), ..event("e6", None, "TEMPLATE_CREATED") };
        assert!(matches!(store.append_events(&[float]), Err(StoreError::Invalid { .. })));
    }
}
