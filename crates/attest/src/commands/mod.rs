//! One module per verb. Each takes resolved arguments and the [`Printer`] and returns the
//! exit status; the work itself is done by the library crates.
//!
//! [`Printer`]: crate::printer::Printer

mod cache;
mod explain;
mod hash;
mod init;
mod pipeline;
mod run;

pub(crate) use cache::cache;
pub(crate) use explain::explain;
pub(crate) use hash::hash;
pub(crate) use init::init;
pub(crate) use pipeline::pipeline;
pub(crate) use run::run;
