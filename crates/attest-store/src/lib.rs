//! The SQLite store of a workspace, `.attest/attest.db`: run history now, the governance
//! event log later. One file, WAL, migrations as an append-only list keyed by
//! `PRAGMA user_version` (see [`Store::open`]).
//!
//! - [`Store`]: opening, migrating, and the run history ([`Store::begin_run`],
//!   [`Store::finish_run`], [`Store::runs`]).
//! - [`RunRow`], [`StepRow`]: what a run and its steps leave behind.

mod governance_log;
mod migrations;
mod run_history;
mod store;
mod store_error;

pub use governance_log::{ChainBreak, GENESIS, LogCheck, NewEvent, StoredEvent, event_digest};
pub use run_history::{RunEnd, RunQuery, RunRow, RunStart, RunStatus, StepRow};
pub use store::Store;
pub use store_error::StoreError;
