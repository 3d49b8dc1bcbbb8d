//! Receipts end to end at the library level: build, sign, write, verify, and the tamper
//! matrix (each tampering detected by the right named check).
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use attest_hash::{Digest, EntryKind, Manifest, ManifestEntry, RelPath, sha256_file};
use attest_receipt::{
    CheckStatus, DigestSet, Envelope, EnvironmentSnapshot, Hex32, KeyPair, KeyStore, OutputFile, PipelineRef, Report,
    RunRecord, StepParameters, StepRecord, VerifyOptions, verify, write_envelopes,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

fn blake3_hex(path: &Path) -> Hex32 {
    Hex32::from(&attest_hash::hash_file(path, std::fs::metadata(path).unwrap().len()).unwrap())
}

fn step(name: &str, needs: &[&str], inputs: &[&str], outputs: &[&str], root: &Path) -> StepRecord {
    StepRecord {
        parameters: StepParameters {
            name: name.to_owned(),
            command: format!("make {name}"),
            shell: vec!["sh".to_owned(), "-c".to_owned()],
            working_dir: ".".to_owned(),
            env: BTreeMap::from([("PATH".to_owned(), "/usr/bin".to_owned())]),
            needs: needs.iter().map(|s| (*s).to_owned()).collect(),
            status: "succeeded".to_owned(),
            exit_code: Some(0),
            duration_secs: 0.5,
            cache_hit: false,
            cache_key: Some(format!("blake3:{}", "0".repeat(64))),
            miss_reason: Some("no entry".to_owned()),
            inputs: Vec::new(),
            input_ranges: Vec::new(),
            outputs: Vec::new(),
            reproducibility: None,
            isolation: None,
        },
        inputs: Arc::new(Manifest::new(
            inputs
                .iter()
                .map(|p| ManifestEntry {
                    path: RelPath::new(p).unwrap(),
                    kind: EntryKind::File,
                    executable: false,
                    digest: Some(Digest::blake3(blake3_hex(&root.join(p)).0)),
                    size: 0,
                })
                .collect(),
        )),
        outputs: outputs
            .iter()
            .map(|p| OutputFile {
                path: (*p).to_owned(),
                sha256: Hex32::from(&sha256_file(&root.join(p)).unwrap()),
                blake3: blake3_hex(&root.join(p)),
            })
            .collect(),
        log: None,
    }
}

/// The receipt exactly as `write_receipt` writes it.
fn receipt_text(record: &RunRecord, key: Option<&KeyPair>) -> String {
    let mut out = Vec::new();
    write_envelopes(&mut out, record, key).unwrap();
    String::from_utf8(out).unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
    keys: KeyStore,
    key: KeyPair,
    record: RunRecord,
}

impl Fixture {
    fn new(sign_all_steps: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, content) in
            [("attest.yaml", "version: \"0.1\"\n"), ("src/a.c", "int a;"), ("build/a.o", "A"), ("dist/app", "APP")]
        {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), content).unwrap();
        }
        let keys = KeyStore::new(&root.join(".attest"));
        let key = keys.generate(None).unwrap();
        let record = RunRecord {
            run_id: "0123456789abcdef".to_owned(),
            started: UNIX_EPOCH + Duration::from_secs(1_790_000_000),
            finished: UNIX_EPOCH + Duration::from_secs(1_790_000_002),
            status: "succeeded".to_owned(),
            pipeline: PipelineRef {
                name: "demo".to_owned(),
                path: "attest.yaml".to_owned(),
                digest: DigestSet::sha256(Hex32::from(&sha256_file(&root.join("attest.yaml")).unwrap())),
            },
            requested_steps: Vec::new(),
            environment: EnvironmentSnapshot {
                os: "linux".to_owned(),
                arch: "x86_64".to_owned(),
                attest_version: "0.1.0".to_owned(),
                ..EnvironmentSnapshot::default()
            },
            sign_all_steps,
            deterministic: None,
            steps: vec![
                step("compile", &[], &["src/a.c"], &["build/a.o"], root),
                step("link", &["compile"], &["build/a.o"], &["dist/app"], root),
            ],
        };
        Self { dir, keys, key, record }
    }

    fn text(&self) -> String {
        receipt_text(&self.record, Some(&self.key))
    }

    fn verify(&self, text: &str, options: VerifyOptions) -> Report {
        verify(text, self.dir.path(), &self.keys, options).unwrap()
    }
}

fn failed(report: &Report) -> Vec<&'static str> {
    let mut names: Vec<&str> = report.checks.iter().filter(|c| c.status == CheckStatus::Fail).map(|c| c.name).collect();
    names.dedup();
    names
}

#[test]
fn an_untouched_receipt_passes_every_check() {
    for sign_all in [false, true] {
        let f = Fixture::new(sign_all);
        let report = f.verify(&f.text(), VerifyOptions { trusted_only: true, ..VerifyOptions::default() });
        assert!(report.ok, "{report:#?}");
        assert_eq!(report.failed, 0);
        assert_eq!(report.skipped, 0);
        let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
        for name in [
            "format",
            "payload_type",
            "signature",
            "trust",
            "revocation",
            "pipeline_digest",
            "inputs",
            "outputs",
            "step_chain",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        let signatures = report.checks.iter().filter(|c| c.name == "signature").count();
        assert_eq!(signatures, if sign_all { 3 } else { 1 });
    }
}

#[test]
fn flipping_any_byte_of_any_line_is_detected() {
    let f = Fixture::new(true);
    let text = f.text();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        // Every byte of the short lines; a stride through the long ones keeps the test fast.
        let stride = (line.len() / 400).max(1);
        for position in (0..line.len()).step_by(stride) {
            let mut bytes = line.as_bytes().to_vec();
            bytes[position] ^= 0x01;
            let tampered_line = String::from_utf8_lossy(&bytes).into_owned();
            let mut tampered: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            tampered[index] = tampered_line;
            let report = f.verify(&(tampered.join("\n") + "\n"), VerifyOptions::default());
            let failed = failed(&report);
            assert!(!report.ok, "line {} byte {position} flipped went undetected", index + 1);
            assert!(
                failed.iter().any(|n| ["format", "signature", "payload_type"].contains(n)),
                "line {} byte {position}: failed {failed:?}",
                index + 1
            );
        }
    }
}

#[test]
fn a_changed_output_or_input_is_named_by_path() {
    let f = Fixture::new(false);
    let text = f.text();
    std::fs::write(f.dir.path().join("dist/app"), "APP2").unwrap();
    let report = f.verify(&text, VerifyOptions::default());
    assert_eq!(failed(&report), ["outputs"]);
    let outputs = report.checks.iter().find(|c| c.name == "outputs").unwrap();
    assert!(outputs.detail.contains("dist/app"), "{outputs:?}");

    std::fs::write(f.dir.path().join("src/a.c"), "int b;").unwrap();
    std::fs::remove_file(f.dir.path().join("build/a.o")).unwrap();
    let report = f.verify(&text, VerifyOptions::default());
    assert_eq!(failed(&report), ["inputs", "outputs"]);
    let inputs = report.checks.iter().find(|c| c.name == "inputs").unwrap();
    assert!(inputs.detail.contains("src/a.c: recorded blake3:"), "{inputs:?}");
    assert!(inputs.detail.contains("build/a.o: missing"), "{inputs:?}");

    std::fs::write(f.dir.path().join("attest.yaml"), "version: \"0.2\"\n").unwrap();
    let report = f.verify(&text, VerifyOptions::default());
    assert!(failed(&report).contains(&"pipeline_digest"));
}

#[test]
fn another_key_is_caught_by_signature_or_trust() {
    let f = Fixture::new(false);
    let intruder = KeyPair::generate().unwrap();
    // Same payload, signature replaced by another (unknown) key's.
    let mut envelope = Envelope::parse(f.text().lines().next().unwrap()).unwrap();
    let resigned = Envelope::new(&envelope.payload_bytes().unwrap(), Some(&intruder));
    envelope.signatures = resigned.signatures;
    let report = f.verify(&(envelope.to_line() + "\n"), VerifyOptions::default());
    assert_eq!(failed(&report), ["signature"]);

    // The intruder re-signs everything and declares itself: the signature holds, trust does not.
    let text = receipt_text(&f.record, Some(&intruder));
    let report = f.verify(&text, VerifyOptions::default());
    assert!(report.ok, "without --trusted-only an untrusted signer is a warning");
    assert!(report.checks.iter().any(|c| c.name == "trust" && c.status == CheckStatus::Warn));
    let report = f.verify(&text, VerifyOptions { trusted_only: true, ..VerifyOptions::default() });
    assert_eq!(failed(&report), ["trust"]);
}

#[test]
fn removed_or_reordered_step_statements_break_the_step_chain() {
    let f = Fixture::new(true);
    let text = f.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let removed = format!("{}\n{}\n", lines[0], lines[2]);
    assert_eq!(failed(&f.verify(&removed, VerifyOptions::default())), ["step_chain"]);
    let reordered = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[1]);
    assert_eq!(failed(&f.verify(&reordered, VerifyOptions::default())), ["step_chain"]);
    // A run line moved down is no longer a run statement.
    let swapped = format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]);
    assert!(failed(&f.verify(&swapped, VerifyOptions::default())).contains(&"format"));
}

#[test]
fn a_downstream_input_that_is_not_the_upstream_output_breaks_the_chain() {
    let mut f = Fixture::new(false);
    let mut inputs = f.record.steps[1].inputs.entries().to_vec();
    inputs[0].digest = Some(Digest::blake3([0xff; 32]));
    f.record.steps[1].inputs = Arc::new(Manifest::new(inputs));
    let report = f.verify(&f.text(), VerifyOptions::default());
    assert!(failed(&report).contains(&"step_chain"), "{report:#?}");
}

#[test]
fn unsigned_receipts_fail_unless_signatures_are_skipped() {
    let f = Fixture::new(false);
    let text = receipt_text(&f.record, None);
    assert_eq!(failed(&f.verify(&text, VerifyOptions::default())), ["signature"]);
    let report = f.verify(&text, VerifyOptions { no_signatures: true, ..VerifyOptions::default() });
    assert!(report.ok);
    assert!(report.checks.iter().any(|c| c.name == "signature" && c.status == CheckStatus::Skip));
}

#[test]
fn revocation_after_signing_warns_before_signing_fails() {
    let f = Fixture::new(false);
    let text = f.text(); // signed "in 2026", revoked now: after
    f.keys.revoke(f.key.public().keyid(), Some("rotated")).unwrap();
    let report = f.verify(&text, VerifyOptions::default());
    assert!(report.ok);
    assert!(report.checks.iter().any(|c| c.name == "revocation" && c.status == CheckStatus::Warn));

    let mut later = Fixture::new(false);
    later.record.finished = std::time::SystemTime::now() + Duration::from_secs(3600);
    later.keys.revoke(later.key.public().keyid(), None).unwrap();
    assert_eq!(failed(&later.verify(&later.text(), VerifyOptions::default())), ["revocation"]);
}

#[test]
fn url_safe_and_unpadded_base64_envelopes_verify() {
    let f = Fixture::new(false);
    let envelope = Envelope::parse(f.text().lines().next().unwrap()).unwrap();
    let payload = envelope.payload_bytes().unwrap();
    let mut other = envelope.clone();
    other.payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
    let sig = STANDARD.decode(&envelope.signatures[0].sig).unwrap();
    other.signatures[0].sig = base64::engine::general_purpose::URL_SAFE.encode(sig);
    assert!(f.verify(&(other.to_line() + "\n"), VerifyOptions::default()).ok);
}

#[test]
fn paths_in_a_receipt_cannot_leave_the_workspace() {
    let mut f = Fixture::new(false);
    f.record.pipeline.path = "/etc/passwd".to_owned();
    // attest never writes such an input name: forge it into the statement and sign that.
    let envelope = Envelope::parse(f.text().lines().next().unwrap()).unwrap();
    let payload = String::from_utf8(envelope.payload_bytes().unwrap()).unwrap();
    assert!(payload.contains("\"src/a.c\""));
    let forged = payload.replace("\"src/a.c\"", "\"../outside\"");
    let text = Envelope::new(forged.as_bytes(), Some(&f.key)).to_line() + "\n";
    let report = f.verify(&text, VerifyOptions::default());
    let inputs = report.checks.iter().find(|c| c.name == "inputs").unwrap();
    assert!(inputs.detail.contains("../outside: not a path inside the workspace"), "{inputs:?}");
    assert!(failed(&report).contains(&"pipeline_digest"));
}

/// A step whose input ranges point past the dependency list fails the step chain, named.
#[test]
fn input_ranges_outside_the_dependencies_break_the_chain() {
    let f = Fixture::new(false);
    let text = receipt_text(&f.record, None);
    let (_, mut statement) = attest_receipt::read_run_statement(&text).unwrap();
    let count = statement.predicate.build_definition.resolved_dependencies.len();
    statement.predicate.build_definition.internal_parameters.steps[1].input_ranges = vec![[0, count + 1]];
    let line = Envelope::new(&serde_json::to_vec(&statement).unwrap(), None).to_line();
    let report = f.verify(&format!("{line}\n"), VerifyOptions { no_signatures: true, ..VerifyOptions::default() });
    assert_eq!(failed(&report), ["step_chain"]);
    let chain = report.checks.iter().find(|c| c.name == "step_chain").unwrap();
    assert!(chain.detail.contains("names inputs outside the"), "{chain:?}");
}
