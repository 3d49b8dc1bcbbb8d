//! The attest command line: a thin layer that parses arguments, resolves settings, calls
//! the library crates and prints their results.
//!
//! `attest::run` is the whole program; `main.rs` only maps its result to an exit code.

mod args;
mod commands;
mod exit_status;
mod printer;
mod run_reporter;
mod settings;
mod user_error;
mod workspace_config;
mod yaml_text;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::AlreadyReported;
use crate::user_error::UserError;

/// Runs attest with `args` (including the program name) and returns its exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == attest_exec::LANDLOCK_SUBCOMMAND) {
        // Inside a sandbox, before a step's command (see attest_exec's `landlock_rules`).
        Printer.raw_err(&format!("{}\n", attest_exec::landlock_exec(&args[2..])));
        return ExitCode::from(126);
    }
    attest_exec::use_current_exe_as_landlock_helper();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { ExitStatus::Error.into() } else { ExitStatus::Success.into() };
        }
    };
    let printer = Printer;
    match dispatch(cli, printer) {
        Ok(status) => status.into(),
        Err(err) => {
            if err.downcast_ref::<AlreadyReported>().is_some() {
                return ExitStatus::Error.into();
            }
            if let Some(user) = err.downcast_ref::<UserError>() {
                printer.error(&user.message, user.hint.as_deref());
                return user.status.into();
            }
            let mut text = format!("{err}");
            for cause in err.chain().skip(1) {
                text.push_str(&format!("\n  Caused by: {cause}"));
            }
            printer.error(&text, None);
            ExitStatus::Error.into()
        }
    }
}

fn dispatch(cli: Cli, printer: Printer) -> anyhow::Result<ExitStatus> {
    let cwd =
        std::env::current_dir().map_err(|e| UserError::new(format!("failed to read the current directory: {e}")))?;
    let cwd = match &cli.directory {
        Some(dir) => fs_err::canonicalize(cwd.join(dir))
            .map_err(|e| UserError::new(format!("cannot change to `{}`: {e}", dir.display())))?,
        None => cwd,
    };
    match cli.command {
        Command::Init(args) => commands::init(&cwd, &args, printer),
        Command::Run(args) => commands::run(&cwd, &args, printer),
        Command::Explain(args) => commands::explain(&cwd, &args, printer),
        Command::Hash(args) => commands::hash(&cwd, &args, printer),
        Command::Pipeline(command) => commands::pipeline(&cwd, command, printer),
        Command::Cache(command) => commands::cache(&cwd, command, printer),
        Command::Verify(args) => commands::verify(&cwd, &args, printer),
        Command::Receipt(command) => commands::receipt(&cwd, command, printer),
        Command::Keys(command) => commands::keys(&cwd, command, printer),
        Command::Config(command) => commands::config(&cwd, command, printer),
        Command::Template(command) => commands::template(&cwd, command, printer),
        Command::Decision(command) => commands::decision(&cwd, command, printer),
        Command::Approve(args) => commands::approve(&cwd, &args, printer),
        Command::Audit(command) => commands::audit(&cwd, command, printer),
        Command::Scan(args) => commands::scan(&cwd, &args, printer),
        Command::Watch(args) => commands::watch(&cwd, &args, printer),
    }
}
