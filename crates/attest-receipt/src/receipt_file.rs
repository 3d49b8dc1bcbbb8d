//! Receipt files: `.attest/receipts/<UTC time>-<run id>.intoto.jsonl`, JSON Lines of DSSE
//! envelopes (the in-toto bundle convention), written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::dsse::EnvelopeWriter;
use crate::run_record::RunRecord;
use crate::statement::SignerRef;
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
    ReceiptWriter::start(dir, record)?.finish(record, key)
}

/// A receipt written in two parts, so that most of it is on its way to the disk while the
/// run still works out the rest: [`ReceiptWriter::start`] writes the run statement's large
/// part (inputs and steps), which needs nothing but the steps' records, and
/// [`ReceiptWriter::finish`] the rest (the run, its environment, the subject, the
/// signature and any step statements), then syncs and renames the file into place.
pub struct ReceiptWriter {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
    line: EnvelopeWriter<std::io::BufWriter<attest_hash::EarlyWriteback>>,
    /// The run statement's first part (in pieces), for the signature over the whole.
    head: Vec<Vec<u8>>,
}

impl ReceiptWriter {
    /// Creates the receipt of `record` in `dir` and writes its first part. Only the
    /// steps of `record` are read here: its environment may still change before
    /// [`ReceiptWriter::finish`].
    pub fn start(dir: &Path, record: &RunRecord) -> Result<Self, ReceiptWriteError> {
        let path = dir.join(format!("{}-{}{RECEIPT_SUFFIX}", compact(record.started), record.run_id));
        let err = |source| ReceiptWriteError { path: path.clone(), source };
        fs_err::create_dir_all(dir).map_err(err)?;
        let temp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        // Receipts are public records: readable by everyone, unlike the 0600 temp file default.
        std::fs::set_permissions(temp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).map_err(err)?;
        let file = temp.as_file().try_clone().map_err(err)?;
        let out = std::io::BufWriter::with_capacity(1 << 20, attest_hash::EarlyWriteback::new(file));
        let head = record.run_statement_head();
        let mut line = EnvelopeWriter::start(out).map_err(err)?;
        let pieces: Vec<&[u8]> = head.iter().map(Vec::as_slice).collect();
        line.payload_pieces(&pieces).map_err(err)?;
        // The rest waits for the run's last facts: send what is written on to the disk.
        line.get_mut().flush().map_err(err)?;
        line.get_mut().get_mut().start_writeback();
        Ok(Self { path, temp, line, head })
    }

    /// Writes the rest of the receipt of `record`, signed by `key` when given, syncs it
    /// and moves it into place; returns its path.
    pub fn finish(self, record: &RunRecord, key: Option<&KeyPair>) -> Result<PathBuf, ReceiptWriteError> {
        let Self { path, temp, mut line, head } = self;
        let err = |source| ReceiptWriteError { path: path.clone(), source };
        let signer = key.map(signer_ref);
        let tail = record.run_statement_tail(signer.as_ref());
        line.payload(&tail).map_err(err)?;
        // The signature covers the whole payload: joined (once) only for a signed receipt.
        let whole = key.map(|_| head.iter().map(Vec::as_slice).chain([tail.as_slice()]).collect::<Vec<_>>().concat());
        let mut out = line.finish(whole.as_deref().zip(key)).map_err(err)?;
        for payload in record.step_statement_payloads(signer.as_ref()) {
            Envelope::write_line(&mut out, &payload, key).map_err(err)?;
        }
        out.flush().map_err(err)?;
        drop(out);
        temp.as_file().sync_all().map_err(err)?;
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
