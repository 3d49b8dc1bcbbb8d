//! Secrets in step output: [`Redactor`] replaces the values of declared secrets with
//! `[REDACTED:NAME]` and masks well-known credential shapes; [`scan`] reports such shapes
//! in any bytes (`attest scan`, `attestation.scan_outputs`).

mod credential_rules;
mod redactor;

pub use credential_rules::{Finding, Severity, scan};
pub use redactor::Redactor;
