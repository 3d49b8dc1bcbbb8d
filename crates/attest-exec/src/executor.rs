use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::sandbox::Sandbox;
use crate::{ExecError, ExecRequest, ExecResult, Exit, ProcessGroups};

/// Runs a step's command. Implementations decide how isolated the command is; all of
/// them register what they start in `groups` under `token` so that it can be stopped.
pub trait Executor: Send + Sync {
    /// Runs `request` to completion, passing output chunks to `on_output` as they arrive.
    fn execute(
        &self,
        request: &ExecRequest,
        token: usize,
        groups: &ProcessGroups,
        on_output: &mut dyn FnMut(&[u8]),
    ) -> Result<ExecResult, ExecError>;
}

/// Runs commands as child processes of attest, each in a new process group; a request
/// with a [`SandboxSpec`](crate::SandboxSpec) runs inside bubblewrap (`sandbox` module).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessExecutor;

impl Executor for ProcessExecutor {
    fn execute(
        &self,
        request: &ExecRequest,
        token: usize,
        groups: &ProcessGroups,
        on_output: &mut dyn FnMut(&[u8]),
    ) -> Result<ExecResult, ExecError> {
        if request.argv.is_empty() {
            return Err(ExecError::EmptyCommand);
        }
        let Some(spec) = &request.sandbox else {
            let argv: Vec<OsString> = request.argv.iter().map(OsString::from).collect();
            return run_captured(&argv, &request.cwd, request, token, groups, on_output);
        };
        let sandbox = Sandbox::prepare(request, spec)?;
        // bubblewrap runs from the workspace root: the working directory is inside.
        let result = run_captured(sandbox.argv(), &spec.workspace, request, token, groups, on_output);
        if matches!(result, Ok(ExecResult { exit: Exit::Signal(_), .. })) {
            sandbox.after_signal();
        }
        // Outputs go back to the workspace whether or not the command could run.
        let report = sandbox.finish();
        let mut result = result?;
        let report = report?;
        if spec.vm.is_some() {
            // QEMU exits 0 when the guest powers off; the command's code is the guest's.
            match (report.guest_exit, result.exit) {
                (Some(code), _) => result.exit = Exit::Code(code),
                (None, Exit::Signal(_)) => {}
                (None, _) => {
                    let console = String::from_utf8_lossy(&result.output);
                    let tail: Vec<&str> = console.lines().rev().take(5).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(ExecError::VmUnavailable {
                        message: format!(
                            "the virtual machine stopped before the command finished; its console ended with: {}",
                            if tail.is_empty() { "(nothing)".to_owned() } else { tail.join(" | ") }
                        ),
                    });
                }
            }
        }
        result.sandbox = Some(report);
        Ok(result)
    }
}

/// Spawns `argv` in `cwd` with the request's environment and output limit, in its own
/// process group registered under `token`, and collects its output until every process
/// holding the pipe has exited.
fn run_captured(
    argv: &[OsString],
    cwd: &Path,
    request: &ExecRequest,
    token: usize,
    groups: &ProcessGroups,
    on_output: &mut dyn FnMut(&[u8]),
) -> Result<ExecResult, ExecError> {
    let (program, args) = argv.split_first().ok_or(ExecError::EmptyCommand)?;
    let program = program.to_string_lossy().into_owned();
    let spawn_error = |source| ExecError::Spawn { program: program.clone(), cwd: cwd.to_owned(), source };
    let (mut reader, writer) = std::io::pipe().map_err(spawn_error)?;
    let writer_err = writer.try_clone().map_err(spawn_error)?;
    let started = Instant::now();
    let mut command = Command::new(crate::program_path(&argv[0], cwd, request.env.get("PATH").map(String::as_str)));
    command
        .arg0(&argv[0])
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(&request.env)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err)
        .process_group(0);
    let mut child = command.spawn().map_err(spawn_error)?;
    // The parent's copies of the write end are gone with `command`, so EOF on the
    // reader means every process holding the pipe has exited.
    drop(command);
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    groups.register(token, pid);
    let wait_error = |source| ExecError::Wait { program: program.clone(), source };
    let mut output = Vec::new();
    let mut truncated = false;
    let mut chunk = vec![0u8; 64 * 1024];
    let read_result = loop {
        match reader.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                on_output(&chunk[..n]);
                output.extend_from_slice(&chunk[..n]);
                if output.len() > request.output_limit.saturating_mul(2) {
                    let cut = output.len() - request.output_limit;
                    output.drain(..cut);
                    truncated = true;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => break Err(err),
        }
    };
    let status = child.wait();
    groups.unregister(token);
    read_result.map_err(wait_error)?;
    let status = status.map_err(wait_error)?;
    if output.len() > request.output_limit {
        let cut = output.len() - request.output_limit;
        output.drain(..cut);
        truncated = true;
    }
    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    };
    Ok(ExecResult { exit, output, truncated, duration: started.elapsed(), sandbox: None })
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::Signal;

    fn request(script: &str) -> ExecRequest {
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), "/usr/bin:/bin".to_owned());
        env.insert("GREETING".to_owned(), "hi".to_owned());
        ExecRequest {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env,
            output_limit: 1024,
            sandbox: None,
        }
    }

    #[test]
    fn captures_merged_output_exit_code_and_only_the_given_env() {
        let groups = ProcessGroups::new();
        let result = ProcessExecutor
            .execute(
                &request("echo $GREETING; echo oops >&2; echo \"home=${HOME:-unset}\"; exit 3"),
                0,
                &groups,
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(result.exit, Exit::Code(3));
        assert_eq!(String::from_utf8_lossy(&result.output), "hi\noops\nhome=unset\n");
        assert_eq!(groups.running(), 0);
    }

    #[test]
    fn keeps_the_tail_of_long_output() {
        let result = ProcessExecutor
            .execute(
                &request("i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done"),
                0,
                &ProcessGroups::new(),
                &mut |_| {},
            )
            .unwrap();
        assert!(result.truncated);
        assert_eq!(result.output.len(), 1024);
        assert!(String::from_utf8_lossy(&result.output).ends_with("line1999\n"));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let mut req = request("true");
        req.argv[0] = "/nonexistent/shell".into();
        let err = ProcessExecutor.execute(&req, 0, &ProcessGroups::new(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, ExecError::Spawn { .. }), "{err}");
    }

    #[test]
    fn terminating_the_group_stops_grandchildren_too() {
        let groups = ProcessGroups::new();
        let killer = groups.clone();
        let handle = std::thread::spawn(move || {
            while killer.running() == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50));
            killer.signal(7, Signal::Terminate);
        });
        let started = std::time::Instant::now();
        // The grandchild `sleep` holds the pipe open; only a group kill ends the read.
        let result = ProcessExecutor.execute(&request("sleep 30 & sleep 30; wait"), 7, &groups, &mut |_| {}).unwrap();
        handle.join().unwrap();
        assert_eq!(result.exit, Exit::Signal(15));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
