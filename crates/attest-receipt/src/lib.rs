//! Receipts: what ran, on what, producing what, signed so that anyone can check it later.
//!
//! - [`Envelope`]: a DSSE envelope (payload type, base64 payload, signatures over the
//!   DSSE pre-authentication encoding, [`pae`]).
//! - [`KeyPair`] / [`PublicKey`]: Ed25519 keys as PKCS#8 / SPKI PEM, with the keyid that
//!   in-toto and securesystemslib compute ([`keyid`]), so their tools find our keys;
//!   [`KeyStore`]: the workspace's keys, trust store and revocations.
//! - [`Statement`]: an in-toto Statement v1 whose predicate is SLSA provenance v1, built
//!   from a [`RunRecord`] and written by [`write_receipt`].
//! - [`verify`]: every check of a receipt, as a [`Report`]; [`ClassicView`]: the classic
//!   human view.

mod classic_view;
mod dsse;
mod hex32;
mod key_pair;
mod key_store;
mod receipt_file;
mod run_record;
mod statement;
mod timestamp;
mod verification;

pub use classic_view::{ClassicStep, ClassicView, FileHash};
pub use dsse::{Envelope, EnvelopeError, EnvelopeSignature, PAYLOAD_TYPE, decode_base64, pae};
pub use hex32::Hex32;
pub use key_pair::{KeyError, KeyPair, PublicKey, keyid};
pub use key_store::{KeyInfo, KeyStore, KeyStoreError, Revocation};
pub use receipt_file::{
    RECEIPT_SUFFIX, ReceiptParseError, ReceiptWriteError, ReceiptWriter, list_receipts, read_run_statement,
    write_envelopes, write_receipt,
};
pub use run_record::{LogDigest, OutputFile, RunRecord, StepRecord, new_run_id, seconds};
pub use statement::{
    Annotations, BUILD_TYPE, BUILDER_ID, BuildDefinition, BuildMetadata, Builder, ContainerParameters,
    DeterministicRun, DigestSet, EnvironmentSnapshot, ExternalParameters, GitInfo, InternalParameters,
    IsolationParameters, PipelineRef, Provenance, ReproducibilityClaim, ResourceDescriptor, RunDetails, RunInfo,
    SLSA_PROVENANCE, STATEMENT_TYPE, SandboxParameters, Scope, SignerRef, Statement, StepParameters, VmParameters,
};
pub use timestamp::{compact, parse_rfc3339, rfc3339};
pub use verification::{Check, CheckStatus, ReceiptReadError, Report, VerifyOptions, verify};
