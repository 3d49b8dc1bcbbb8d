//! Running a step's command.
//!
//! [`Executor`] is the seam for every isolation level; [`ProcessExecutor`] is the first
//! implementation: `sh -c` (or the step's shell) as a child in its own process group,
//! with exactly the environment it is given, stdin closed, stdout and stderr merged into
//! one captured stream. [`ProcessGroups`] lets the coordinator signal a running step's
//! whole process tree for timeouts and Ctrl-C.

mod exec_request;
mod executor;
mod process_groups;

pub use exec_request::{ExecError, ExecRequest, ExecResult, Exit};
pub use executor::{Executor, ProcessExecutor};
pub use process_groups::{ProcessGroups, Signal};
