//! Receipt files: `.attest/receipts/<UTC time>-<run id>.intoto.jsonl`, JSON Lines of DSSE
//! envelopes (the in-toto bundle convention), written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use std::time::SystemTime;

use crate::dsse::EnvelopeWriter;
use crate::run_record::{RunRecord, StatementHead, StepRecord};
use crate::statement::{PipelineRef, SignerRef};
use crate::timestamp::compact;
use crate::{Envelope, KeyPair};

/// File name suffix of receipts.
pub const RECEIPT_SUFFIX: &str = ".intoto.jsonl";

/// A receipt that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("failed to write the receipt `{}`", path.display())]
pub struct ReceiptWriteError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn signer_ref(key: &KeyPair) -> SignerRef {
    SignerRef { keyid: key.public().keyid().to_owned(), public_key: key.public().to_pem() }
}

/// Writes the receipt of `record` to `out`, one envelope per line, signed by `key` when
/// given. Streamed: a receipt of a large workspace runs to tens of MB.
pub fn write_envelopes(out: &mut impl Write, record: &RunRecord, key: Option<&KeyPair>) -> std::io::Result<()> {
    let signer = key.map(signer_ref);
    for payload in record.statement_payloads(signer.as_ref()) {
        Envelope::write_line(out, &payload, key)?;
    }
    Ok(())
}

/// Writes the receipt of `record` into `dir` (temp file, fsync, rename) and returns its path.
pub fn write_receipt(dir: &Path, record: &RunRecord, key: Option<&KeyPair>) -> Result<PathBuf, ReceiptWriteError> {
    let (run_id, started) = (&record.run_id, record.started);
    let mut writer =
        ReceiptWriter::create(dir, run_id, started, &record.pipeline, &record.requested_steps, key.is_some())?;
    for step in &record.steps {
        writer.add_step(step)?;
    }
    writer.finish(record, key)
}

/// A receipt written while its run goes, so that little is left to write and sync when
/// the run ends: [`ReceiptWriter::create`] writes the run statement's opening,
/// [`ReceiptWriter::add_step`] each step's input files as the step finishes (in the
/// record's order), [`ReceiptWriter::end_steps`] the step list, and
/// [`ReceiptWriter::finish`] the rest (the run, its environment, the subject, the
/// signature and any step statements), then syncs the file and renames it into place.
/// Until then the receipt is a temporary file, removed when the writer is dropped.
pub struct ReceiptWriter {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
    line: EnvelopeWriter<std::io::BufWriter<attest_hash::SyncedPieces>>,
    /// The statement's first part, until the step list is written.
    head: Option<StatementHead>,
    /// The run statement so far, in the pieces written, for a signature over the whole
    /// (kept only for a receipt to be signed).
    written: Option<Vec<Vec<u8>>>,
    /// Steps added.
    steps: usize,
}

impl ReceiptWriter {
    /// Creates the receipt of the run `run_id` (its name holds `started`) in `dir` and
    /// writes the run statement's opening, which names the pipeline and the steps asked
    /// for. A receipt to be `signed` keeps its statement until [`ReceiptWriter::finish`]
    /// signs it.
    pub fn create(
        dir: &Path,
        run_id: &str,
        started: SystemTime,
        pipeline: &PipelineRef,
        requested_steps: &[String],
        signed: bool,
    ) -> Result<Self, ReceiptWriteError> {
        let path = dir.join(format!("{}-{run_id}{RECEIPT_SUFFIX}", compact(started)));
        let err = |source| ReceiptWriteError { path: path.clone(), source };
        fs_err::create_dir_all(dir).map_err(err)?;
        let temp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        // Receipts are public records: readable by everyone, unlike the 0600 temp file default.
        std::fs::set_permissions(temp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).map_err(err)?;
        let file = temp.as_file().try_clone().map_err(err)?;
        let out =
            std::io::BufWriter::with_capacity(attest_hash::SyncedPieces::PIECE, attest_hash::SyncedPieces::new(file));
        let mut line = EnvelopeWriter::start(out).map_err(err)?;
        let opening = StatementHead::opening(pipeline, requested_steps);
        line.payload(&opening).map_err(err)?;
        let written = signed.then(|| vec![opening]);
        Ok(Self { path, temp, line, head: Some(StatementHead::default()), written, steps: 0 })
    }

    fn error(&self, source: std::io::Error) -> ReceiptWriteError {
        ReceiptWriteError { path: self.path.clone(), source }
    }

    /// Writes the input files `step` adds to the receipt; the steps are added in the
    /// order of the record [`ReceiptWriter::finish`] is given.
    pub fn add_step(&mut self, step: &StepRecord) -> Result<(), ReceiptWriteError> {
        let Some(head) = &mut self.head else {
            return Err(self.error(std::io::Error::other("a step was added after the step list")));
        };
        let part = head.add_step(step);
        self.line.payload(&part).map_err(|e| self.error(e))?;
        if let Some(written) = &mut self.written {
            written.push(part);
        }
        self.steps += 1;
        Ok(())
    }

    /// Writes the step list, once every step is added (else [`ReceiptWriter::finish`]
    /// does).
    pub fn end_steps(&mut self) -> Result<(), ReceiptWriteError> {
        if let Some(head) = self.head.take() {
            let list = head.close();
            self.line.payload(&list).map_err(|e| self.error(e))?;
            if let Some(written) = &mut self.written {
                written.push(list);
            }
        }
        Ok(())
    }

    /// Writes the rest of the receipt of `record`, whose steps are those added, signed by
    /// `key` when given (the receipt was created `signed`), syncs it and moves it into
    /// place; returns its path.
    pub fn finish(mut self, record: &RunRecord, key: Option<&KeyPair>) -> Result<PathBuf, ReceiptWriteError> {
        if self.steps != record.steps.len() {
            let message = format!("{} steps were written for a run of {}", self.steps, record.steps.len());
            return Err(self.error(std::io::Error::other(message)));
        }
        if key.is_some() && self.written.is_none() {
            return Err(self.error(std::io::Error::other("the receipt was not created to be signed")));
        }
        self.end_steps()?;
        let Self { path, temp, mut line, written, .. } = self;
        let err = |source| ReceiptWriteError { path: path.clone(), source };
        let signer = key.map(signer_ref);
        let tail = record.run_statement_tail(signer.as_ref());
        line.payload(&tail).map_err(err)?;
        // The signature covers the whole payload: joined only for a signed receipt.
        let whole = key.and(written).map(|mut written| {
            written.push(tail);
            written.concat()
        });
        let mut out = line.finish(whole.as_deref().zip(key)).map_err(err)?;
        for payload in record.step_statement_payloads(signer.as_ref()) {
            Envelope::write_line(&mut out, &payload, key).map_err(err)?;
        }
        let file = out.into_inner().map_err(|e| err(e.into_error()))?;
        file.sync_all().map_err(err)?;
        temp.persist(&path).map_err(|e| err(e.error))?;
        Ok(path)
    }
}

/// The receipts in `dir`, oldest first: by modification time, then name (names start
/// with the UTC time to the second, so runs within one second need the mtime).
pub fn list_receipts(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut receipts: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(RECEIPT_SUFFIX)))
            .collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err),
    };
    let mut timed: Vec<(Option<std::time::SystemTime>, PathBuf)> =
        receipts.drain(..).map(|p| (std::fs::metadata(&p).and_then(|m| m.modified()).ok(), p)).collect();
    timed.sort();
    Ok(timed.into_iter().map(|(_, p)| p).collect())
}

/// A receipt whose run statement could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptParseError {
    /// No line at all.
    #[error("the receipt is empty")]
    Empty,
    /// Line 1 is not an envelope of an attest statement.
    #[error("line 1 is not an attest run statement: {0}")]
    Invalid(String),
}

/// The run statement (line 1) of a receipt and its envelope.
pub fn read_run_statement(text: &str) -> Result<(Envelope, crate::Statement), ReceiptParseError> {
    let line = text.lines().find(|l| !l.trim().is_empty()).ok_or(ReceiptParseError::Empty)?;
    let envelope = Envelope::parse(line).map_err(|e| ReceiptParseError::Invalid(e.to_string()))?;
    let payload = envelope.payload_bytes().map_err(|e| ReceiptParseError::Invalid(e.to_string()))?;
    let statement = serde_json::from_slice(&payload).map_err(|e| ReceiptParseError::Invalid(e.to_string()))?;
    Ok((envelope, statement))
}
