//! One module per verb. Each takes resolved arguments and the [`Printer`] and returns the
//! exit status; the work itself is done by the library crates.
//!
//! [`Printer`]: crate::printer::Printer

mod audit;
mod audit_attestation;
mod audit_package;
mod cache;
mod config;
mod explain;
mod govern;
mod hash;
mod init;
mod keys;
mod pipeline;
mod receipt;
mod run;
mod run_history;
mod scan;
mod signing;
mod verify;
mod watch;

pub(crate) use audit::audit;
pub(crate) use cache::cache;
pub(crate) use config::config;
pub(crate) use explain::explain;
pub(crate) use govern::{approve, decision, template};
pub(crate) use hash::hash;
pub(crate) use init::init;
pub(crate) use keys::keys;
pub(crate) use pipeline::pipeline;
pub(crate) use receipt::receipt;
pub(crate) use run::run;
pub(crate) use scan::scan;
pub(crate) use verify::verify;
pub(crate) use watch::watch;
