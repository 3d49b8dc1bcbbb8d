//! Governance over a real SQLite log: commands, replay, refusals, packages and their
//! tampering, and replay determinism as a property.
#![allow(clippy::unwrap_used, missing_docs)]

use attest_govern::iso_time::Micros;
use attest_govern::*;
use attest_store::{NewEvent, Store};
use proptest::prelude::*;
use serde_json::{Value, json};

const T0: Micros = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
const HOUR: Micros = 3_600_000_000;

struct Log {
    _dir: tempfile::TempDir,
    store: Store,
}

impl Log {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("attest.db")).unwrap();
        Self { _dir: dir, store }
    }

    fn state(&self) -> GovernanceState {
        replay(&self.store.governance_events().unwrap())
    }

    fn append(&mut self, events: &[NewEvent]) {
        self.store.append_events(events).unwrap();
    }
}

fn request(mode: Mode, template: Option<&str>) -> DecisionRequest {
    DecisionRequest {
        goal: "release 1.4.0 — «prod»".to_owned(),
        plan: None,
        mode,
        template: template.map(str::to_owned),
        overrides: PolicyOverrides::default(),
        labels: None,
        pipeline_file: "attest.yaml".to_owned(),
        pipeline_digest: "blake3:aa".to_owned(),
        steps: vec!["build".to_owned()],
    }
}

fn two_of_two(log: &mut Log) {
    let policy = Policy {
        min_approvals: 2,
        allowed_modes: vec![Mode::DryRun, Mode::Apply],
        require_adapter_capabilities: vec![],
        max_steps: Some(3),
        labels: vec!["prod".to_owned()],
        require_signed_approvals: false,
    };
    let event = create_template(&log.state(), "prod-release", "", &policy, "admin", T0).unwrap();
    log.append(&[event]);
}

fn never_trusted(_: &str, _: &Approval) -> bool {
    false
}

fn plan(mode: Mode, steps: usize) -> ExecutionPlan<'static> {
    ExecutionPlan { mode, pipeline_digest: "blake3:aa", steps }
}

#[test]
fn every_refusal_has_its_name() {
    let mut log = Log::new();
    two_of_two(&mut log);
    let events = create_decision(&log.state(), &request(Mode::Apply, Some("prod-release")), "d1", "alice", T0).unwrap();
    log.append(&events);
    let refuse = |log: &Log, p: &ExecutionPlan<'_>, now: Micros| {
        check_execute(&log.state().decisions["d1"], p, now, &never_trusted).err().map(|r| (r.code, r.details))
    };
    let (code, details) = refuse(&log, &plan(Mode::Apply, 1), T0).unwrap();
    assert_eq!((code, details["missing"].as_u64()), ("MISSING_APPROVALS", Some(2)));
    log.append(&[approve(&log.state(), "d1", "rm", Some("lgtm"), Some(T0 + HOUR), None, T0).unwrap()]);
    log.append(&[approve(&log.state(), "d1", "sec", None, None, None, T0).unwrap()]);
    assert_eq!(refuse(&log, &plan(Mode::Apply, 1), T0 + 1), None, "2 of 2");
    assert_eq!(refuse(&log, &plan(Mode::Apply, 1), T0 + 2 * HOUR).unwrap().0, "APPROVAL_EXPIRED");
    assert_eq!(refuse(&log, &plan(Mode::Apply, 4), T0).unwrap().0, "TOO_MANY_STEPS");
    let changed = ExecutionPlan { mode: Mode::Apply, pipeline_digest: "blake3:bb", steps: 1 };
    assert_eq!(refuse(&log, &changed, T0).unwrap().0, "PIPELINE_CHANGED");

    // MODE_NOT_ALLOWED: a policy narrower than the mode (as an imported log may hold).
    let mut decision = log.state().decisions["d1"].clone();
    decision.policy.as_mut().unwrap().allowed_modes = vec![Mode::DryRun];
    assert_eq!(
        check_execute(&decision, &plan(Mode::Apply, 1), T0, &never_trusted).unwrap_err().code,
        "MODE_NOT_ALLOWED"
    );
    decision.policy = None;
    assert_eq!(check_execute(&decision, &plan(Mode::Apply, 1), T0, &never_trusted).unwrap_err().code, "NO_POLICY");

    // Revocation takes an approval back; it counts again when granted again.
    log.append(&[revoke(&log.state(), "d1", "sec", "found a bug", T0).unwrap()]);
    assert_eq!(refuse(&log, &plan(Mode::Apply, 1), T0).unwrap().0, "MISSING_APPROVALS");
    log.append(&[approve(&log.state(), "d1", "sec", None, None, None, T0).unwrap()]);

    let d = log.state().decisions["d1"].clone();
    log.append(&execution_started(&d, Mode::Apply, T0));
    let outcome = ExecutionOutcome {
        run_id: Some("run1".to_owned()),
        response_digest: Some("ab".repeat(32)),
        receipt: Some(".attest/receipts/r.intoto.jsonl".to_owned()),
        steps_executed: 1,
        error: None,
    };
    log.append(&[execution_finished("d1", &outcome, T0)]);
    assert_eq!(refuse(&log, &plan(Mode::Apply, 1), T0).unwrap().0, "ALREADY_EXECUTED");
    assert_eq!(revoke(&log.state(), "d1", "rm", "", T0).unwrap_err().code, "ALREADY_EXECUTED");
    assert_eq!(approve(&log.state(), "d1", "x", None, None, None, T0).unwrap_err().code, "ALREADY_EXECUTED");
}

#[test]
fn bad_commands_are_refused_by_name() {
    let mut log = Log::new();
    two_of_two(&mut log);
    let state = log.state();
    assert_eq!(
        create_decision(&state, &request(Mode::Apply, Some("nope")), "d", "a", T0).unwrap_err().code,
        "TEMPLATE_NOT_FOUND"
    );
    let policy = state.templates["prod-release"].policy.clone();
    assert_eq!(
        create_template(&state, "prod-release", "", &policy, "a", T0).unwrap_err().code,
        "TEMPLATE_ALREADY_EXISTS"
    );
    assert_eq!(create_template(&state, "bad name", "", &policy, "a", T0).unwrap_err().code, "INVALID_TEMPLATE");
    let mut dry_only = request(Mode::Apply, None);
    dry_only.overrides.allowed_modes = Some(vec![Mode::DryRun]);
    assert_eq!(create_decision(&state, &dry_only, "d", "a", T0).unwrap_err().code, "MODE_NOT_ALLOWED");
    log.append(&create_decision(&state, &request(Mode::DryRun, None), "d", "a", T0).unwrap());
    let state = log.state();
    assert_eq!(approve(&state, "zzz", "a", None, None, None, T0).unwrap_err().code, "DECISION_NOT_FOUND");
    assert_eq!(approve(&state, "d", "a", None, Some(T0 - 1), None, T0).unwrap_err().code, "EXPIRY_IN_PAST");
    log.append(&[approve(&state, "d", "a", None, None, None, T0).unwrap()]);
    assert_eq!(approve(&log.state(), "d", "a", None, None, None, T0).unwrap_err().code, "ALREADY_APPROVED");
    assert_eq!(revoke(&log.state(), "d", "b", "", T0).unwrap_err().code, "NOT_APPROVED");
}

/// A decision executed and exported as a package, for tampering.
fn package() -> Value {
    let mut log = Log::new();
    two_of_two(&mut log);
    log.append(&create_decision(&log.state(), &request(Mode::Apply, Some("prod-release")), "d1", "alice", T0).unwrap());
    log.append(&[approve(&log.state(), "d1", "rm", None, None, None, T0).unwrap()]);
    log.append(&[approve(&log.state(), "d1", "sec", None, None, None, T0).unwrap()]);
    let d = log.state().decisions["d1"].clone();
    log.append(&execution_started(&d, Mode::Apply, T0));
    let outcome = ExecutionOutcome {
        run_id: Some("run1".to_owned()),
        response_digest: Some("cd".repeat(32)),
        receipt: None,
        steps_executed: 1,
        error: None,
    };
    log.append(&[execution_finished("d1", &outcome, T0)]);
    let events = log.store.governance_events().unwrap();
    let state = replay(&events);
    let of: Vec<&attest_store::StoredEvent> =
        events.iter().filter(|e| e.decision_id.as_deref() == Some("d1")).collect();
    let bundle = export_bundle(&state.decisions["d1"], &of, T0).unwrap();
    build_package(
        bundle,
        RouterSection::Reference { run_id: "run1".to_owned(), digest: prefixed(&"cd".repeat(32)) },
        T0,
    )
    .unwrap()
}

fn failed(package: &Value) -> Vec<&'static str> {
    verify_package(package).checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
}

#[test]
fn an_untouched_package_passes_every_check_and_tampering_fails_the_named_ones() {
    let original = package();
    let report = verify_package(&original);
    assert!(report.ok, "{report:?}");
    assert_eq!(report.total, 7, "5 nexus-attest checks (reference mode) + 2 of attest's");

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("/package_version", vec!["binding_digest"]),
        ("/integrity/binding_digest", vec!["binding_digest"]),
        ("/control_bundle/decision/goal", vec!["control_bundle_digest"]),
        ("/control_bundle/events/2/payload/expires_at", vec!["control_bundle_digest"]),
        ("/control_bundle/events/0/ts", vec!["control_bundle_digest"]),
        ("/control_bundle/integrity/canonical_digest", vec!["control_bundle_digest", "binding_control_match"]),
        ("/binding/control_digest", vec!["binding_digest", "binding_control_match"]),
        ("/binding/router_digest", vec!["binding_digest", "binding_router_match"]),
        ("/binding/control_router_link_digest", vec!["binding_digest", "binding_link_match"]),
        ("/router/ref/digest", vec!["binding_router_match"]),
        ("/router/ref/run_id", vec!["router_run_id_match"]),
        (
            "/control_bundle/router_link/control_router_link_digest",
            vec!["control_bundle_digest", "binding_link_match", "control_router_link_recomputed"],
        ),
        ("/meta/exported_at", vec![]),
        ("/provenance/records/0/prov_id", vec![]),
    ];
    for (pointer, expected) in cases {
        let mut tampered = original.clone();
        let target = tampered.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}"));
        *target = match target {
            Value::String(s) if s.starts_with("sha256:") => json!(format!("sha256:{}", "0".repeat(64))),
            Value::Null => json!("2030-01-01T00:00:00+00:00"),
            _ => json!("tampered"),
        };
        assert_eq!(failed(&tampered), expected, "tampering {pointer}");
    }
}

#[test]
fn the_same_history_gives_the_same_digests() {
    let (a, b) = (package(), package());
    for pointer in ["/binding/control_digest", "/binding/control_router_link_digest"] {
        // Event ids and times are the same (fixed clock), decision ids too.
        assert_eq!(a.pointer(pointer), b.pointer(pointer), "{pointer}");
    }
}

#[test]
fn an_exported_bundle_imports_and_reexports_to_the_same_digest() {
    let original = package();
    let bundle = original["control_bundle"].clone();
    let mut log = Log::new();
    let import = import_bundle(&log.state(), &bundle, OnConflict::Reject, "new").unwrap();
    log.append(&import.events);
    let events = log.store.governance_events().unwrap();
    let state = replay(&events);
    let of: Vec<&attest_store::StoredEvent> = events.iter().collect();
    let again = export_bundle(&state.decisions["d1"], &of, T0).unwrap();
    assert_eq!(again["integrity"], bundle["integrity"]);
    assert_eq!(import_bundle(&log.state(), &bundle, OnConflict::Reject, "x").unwrap_err().code, "DECISION_EXISTS");
    let renamed = import_bundle(&log.state(), &bundle, OnConflict::NewId, "d2").unwrap();
    assert_eq!((renamed.decision_id.as_str(), renamed.original_decision_id.as_deref()), ("d2", Some("d1")));

    // Each field corrupted: refused by name, nothing to append.
    let corruptions: Vec<(&str, Value, &str)> = vec![
        ("/bundle_version", json!("0.4"), "BUNDLE_INVALID_SCHEMA"),
        ("/decision/goal", json!("other"), "INTEGRITY_MISMATCH"),
        ("/integrity/canonical_digest", json!(format!("sha256:{}", "1".repeat(64))), "INTEGRITY_MISMATCH"),
        ("/events/1/payload/min_approvals", json!(1), "INTEGRITY_MISMATCH"),
        ("/events/1/seq", json!(5), "INTEGRITY_MISMATCH"),
    ];
    for (pointer, value, code) in corruptions {
        let mut bad = bundle.clone();
        *bad.pointer_mut(pointer).unwrap() = value;
        assert_eq!(
            import_bundle(&GovernanceState::default(), &bad, OnConflict::Reject, "x").unwrap_err().code,
            code,
            "{pointer}"
        );
    }
    // Re-sealed after an edit, the per-event digest still catches the change.
    let mut resealed = bundle.clone();
    resealed["events"][1]["payload"]["min_approvals"] = json!(1);
    resealed["integrity"]["canonical_digest"] = json!(control_digest(&resealed).unwrap());
    assert_eq!(
        import_bundle(&GovernanceState::default(), &resealed, OnConflict::Reject, "x").unwrap_err().code,
        "EVENT_DIGEST_MISMATCH"
    );
}

#[derive(Debug, Clone)]
enum Command {
    Approve(u8, bool),
    Revoke(u8),
    Execute,
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (0u8..4, any::<bool>()).prop_map(|(who, expires)| Command::Approve(who, expires)),
        (0u8..4).prop_map(Command::Revoke),
        Just(Command::Execute),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any sequence of commands, replayed, gives the same state and the same digests,
    /// and the state built step by step equals the state replayed from the stored log.
    #[test]
    fn replay_is_deterministic(commands in proptest::collection::vec(command(), 0..12)) {
        let mut log = Log::new();
        two_of_two(&mut log);
        log.append(&create_decision(&log.state(), &request(Mode::Apply, Some("prod-release")), "d1", "alice", T0).unwrap());
        for (i, c) in commands.iter().enumerate() {
            let now = T0 + i as Micros;
            let state = log.state();
            let events = match c {
                Command::Approve(who, expires) => approve(&state, "d1", &format!("a{who}"), None, expires.then_some(T0 + HOUR), None, now).map(|e| vec![e]),
                Command::Revoke(who) => revoke(&state, "d1", &format!("a{who}"), "", now).map(|e| vec![e]),
                Command::Execute => match check_execute(&state.decisions["d1"], &plan(Mode::Apply, 1), now, &never_trusted) {
                    Ok(()) => {
                        let mut e = execution_started(&state.decisions["d1"], Mode::Apply, now);
                        e.push(execution_finished("d1", &ExecutionOutcome { run_id: Some(format!("r{i}")), response_digest: Some("ef".repeat(32)), receipt: None, steps_executed: 1, error: None }, now));
                        Ok(e)
                    }
                    Err(_) => Ok(vec![]),
                },
            };
            if let Ok(events) = events {
                log.append(&events);
            }
        }
        let events = log.store.governance_events().unwrap();
        prop_assert_eq!(replay(&events), replay(&events));
        prop_assert_eq!(replay(&events), log.state());
        let of: Vec<&attest_store::StoredEvent> = events.iter().filter(|e| e.decision_id.is_some()).collect();
        let state = replay(&events);
        let a = export_bundle(&state.decisions["d1"], &of, T0).unwrap();
        let b = export_bundle(&replay(&events).decisions["d1"], &of, T0).unwrap();
        prop_assert_eq!(&a["integrity"], &b["integrity"]);
        prop_assert!(log.store.verify_log().unwrap().first_break.is_none());
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-z:0-9_./-]{0,12}".prop_map(Value::from),
        Just(json!("sha256:")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer of `value` (objects and arrays included).
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| pointers(v, format!("{at}/{k}"), out)),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| pointers(v, format!("{at}/{i}"), out)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Packages and bundles come from outside: any JSON, and any part of a real package
    /// replaced by any JSON, gives a report or an error, never a panic.
    #[test]
    fn foreign_documents_never_panic(garbage in json_value(), pick in any::<proptest::sample::Index>(), replacement in json_value()) {
        let report = verify_package(&garbage);
        prop_assert_eq!(report.total, report.checks.len());
        let _ = import_bundle(&GovernanceState::default(), &garbage, OnConflict::Reject, "x");
        let _ = control_digest(&garbage);

        let mut package = package();
        let mut all = Vec::new();
        pointers(&package, String::new(), &mut all);
        let target = pick.get(&all[1..]).clone();
        *package.pointer_mut(&target).unwrap() = replacement;
        let report = verify_package(&package);
        prop_assert_eq!(report.passed + report.failed, report.total);
        let _ = import_bundle(&GovernanceState::default(), &package["control_bundle"], OnConflict::NewId, "x");
    }
}
