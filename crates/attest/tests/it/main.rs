//! End-to-end tests: the real `attest` binary in fresh temp directories.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr, missing_docs, unreachable_pub)]

mod attestation;
mod cache;
mod container;
mod context;
mod deterministic;
mod events;
mod governance;
mod hash_contract;
mod history;
mod init;
mod interop;
mod metrics;
mod pipeline;
mod receipts;
mod report;
mod reproducibility;
mod run;
mod sandbox;
mod signals;
mod vm;
mod watch;
