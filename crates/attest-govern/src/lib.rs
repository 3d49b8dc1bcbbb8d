//! Governance: decisions to run a pipeline, policies and templates, N-of-M approvals and
//! execution, all derived from the append-only event log in `.attest/attest.db`, and the
//! audit package v0.6 that binds a decision to the run it authorised (interoperable with
//! nexus-attest; `docs/governance-formats.md`).
//!
//! - [`replay`]: events → [`GovernanceState`] (pure, deterministic).
//! - [`commands`]: checks against the state and returns the events to append.
//! - [`check_execute`]: the named refusal, if any, for executing now.
//! - [`export_bundle`], [`build_package`], [`verify_package`]: the control bundle v0.5 and
//!   the audit package v0.6, their digests and every check.
//! - [`Attestation`], [`verify_package_attestation`]: the signed attestation overlay v0.7
//!   that vouches for a package by its binding digest.
//!
//! Pure: no files, no clock (callers pass `now`), no processes.

mod attestation;
mod audit_package;
pub mod commands;
mod control_bundle;
mod digests;
mod event_types;
mod execute_check;
mod govern_error;
mod import_bundle;
pub mod iso_time;
mod policy;
mod state;

pub use attestation::{
    ATTESTATION_VERSION, Attestation, AttestationMeta, AttestationPayload, Attestor, TrustedKey, attestation_id,
    verify_attestation, verify_package_attestation,
};
pub use audit_package::{
    PACKAGE_VERSION, PackageCheck, PackageReport, RouterSection, binding_digest, build_package, verify_package,
};
pub use commands::{
    ADAPTER_ID, DecisionRequest, ExecutionOutcome, PolicyOverrides, SYSTEM_ACTOR, approval_signing_bytes, approve,
    create_decision, create_template, execution_finished, execution_started, new_uuid, resolve, revoke, run_request,
};
pub use control_bundle::{
    BUNDLE_VERSION, control_digest, export_bundle, link_digest, nexus_event_digest, projection, stored_control_digest,
};
pub use digests::{content_digest, prefixed, unprefixed};
pub use event_types::*;
pub use execute_check::{ExecutionPlan, Refusal, check_execute};
pub use govern_error::GovernError;
pub use import_bundle::{Import, OnConflict, import_bundle};
pub use policy::{Mode, Policy};
pub use state::{Approval, ApprovalSignature, Decision, Execution, GovernanceState, Status, Template, replay};
