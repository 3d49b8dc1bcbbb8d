//! `attest watch`: the workspace's file-system watcher, in the foreground or detached, and
//! its status.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use attest_run::{WatchStatus, Watcher, Workspace};

use crate::args::{Format, WatchArgs};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::find_pipeline;
use crate::user_error::UserError;

/// How long `--background` waits for the new watcher to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `attest watch [--background | --status | --stop]`.
pub(crate) fn watch(cwd: &Path, args: &WatchArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let pipeline = find_pipeline(cwd, &args.file)?;
    let root = pipeline.parent().map_or_else(|| cwd.to_owned(), Path::to_path_buf);
    let root =
        fs_err::canonicalize(&root).map_err(|e| UserError::new(format!("failed to resolve the workspace: {e}")))?;
    let workspace = Workspace::new(&root);
    if args.status {
        return status(&workspace, args.format, printer);
    }
    if args.stop {
        return match attest_run::stop_watcher(&workspace).map_err(UserError::new)? {
            true => {
                printer.info(&format!("stopped the watcher of `{}`", root.display()));
                Ok(ExitStatus::Success)
            }
            false => {
                printer.info(&format!("no watcher runs for `{}`", root.display()));
                Ok(ExitStatus::Success)
            }
        };
    }
    if args.background {
        return start_detached(&workspace, &pipeline, printer);
    }
    // The socket file goes when `socket` is dropped, if it is still this watcher's.
    let socket = attest_run::bind(&workspace).map_err(|e| UserError::new(e.to_string()))?;
    let watcher = Watcher::start(&root).map_err(|e| UserError::new(e.to_string()))?;
    let directories = watcher.status().directories;
    printer.info(&format!(
        "watching `{}`: {directories} directories (stop with Ctrl-C or `attest watch --stop`)",
        root.display()
    ));
    watcher.serve(&socket);
    Ok(ExitStatus::Success)
}

fn status(workspace: &Workspace, format: Format, printer: Printer) -> anyhow::Result<ExitStatus> {
    let status = attest_run::watch_status(workspace).map_err(UserError::new)?;
    match (format, &status) {
        (Format::Json, _) => printer.data(&serde_json::to_string(&status)?),
        (Format::Human, Some(status)) => printer.info(&describe(status)),
        (Format::Human, None) => printer.info(&format!("no watcher runs for `{}`", workspace.root.display())),
    }
    Ok(if status.is_some() { ExitStatus::Success } else { ExitStatus::Failure })
}

fn describe(status: &WatchStatus) -> String {
    let mut text = format!("watching `{}` (pid {}): {} directories", status.root, status.pid, status.directories);
    if let Some(why) = &status.incomplete {
        text.push_str(&format!("; runs check every file: {why}"));
    }
    text
}

/// Starts `attest watch` detached (its own process group, output to .attest/watch.log)
/// and waits until it answers.
fn start_detached(workspace: &Workspace, pipeline: &Path, printer: Printer) -> anyhow::Result<ExitStatus> {
    if let Some(status) = attest_run::watch_status(workspace).map_err(UserError::new)? {
        printer.info(&format!("already {}", describe(&status)));
        return Ok(ExitStatus::Success);
    }
    let attest_dir = workspace.attest_dir();
    fs_err::create_dir_all(&attest_dir).map_err(|e| UserError::new(e.to_string()))?;
    let log: PathBuf = attest_dir.join("watch.log");
    let log_file = fs_err::File::create(&log).map_err(|e| UserError::new(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| UserError::new(format!("cannot find the attest binary: {e}")))?;
    let mut child = std::process::Command::new(exe)
        .arg("watch")
        .arg("--file")
        .arg(pipeline)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file.into_parts().0))
        // Its own process group: Ctrl-C in this terminal does not reach it.
        .process_group(0)
        .spawn()
        .map_err(|e| UserError::new(format!("failed to start the watcher: {e}")))?;
    let started = Instant::now();
    loop {
        if let Some(status) = attest_run::watch_status(workspace).ok().flatten() {
            printer.info(&format!("{}; stop it with `attest watch --stop`", describe(&status)));
            return Ok(ExitStatus::Success);
        }
        if let Ok(Some(exit)) = child.try_wait() {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(UserError::new(format!("the watcher exited ({exit}): {}", said.trim())).into());
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(UserError::new(format!(
                "the watcher did not answer within {}s (see `{}`)",
                START_TIMEOUT.as_secs(),
                log.display()
            ))
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
