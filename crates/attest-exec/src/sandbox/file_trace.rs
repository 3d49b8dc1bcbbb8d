//! `--explain-sandbox`: which undeclared workspace files a sandboxed step looked for.
//!
//! strace runs *outside* the sandbox, around bubblewrap (`strace -f` follows it into the
//! namespaces), and writes one trace file per process (`-ff`, so calls of different
//! processes never interleave) into the scratch directory, which the step cannot see.
//! Only failed calls are written (`-Z`), only file calls are stopped for
//! (`--seccomp-bpf -e trace=%file`), and file descriptors are printed with their paths
//! (`-y`), so that `openat(AT_FDCWD</work/src>, "a.h", ...)` can be resolved. A path that
//! failed with `ENOENT` below the sandbox root, and that exists in the workspace, is a file
//! the step would have read had it been declared. Calls without a directory descriptor
//! (`access`, `stat`) with a relative path are resolved against the step's working
//! directory.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use super::SANDBOX_ROOT;

/// strace in front of `command` (bubblewrap's command line), tracing into `trace_dir`.
pub(crate) fn strace_argv(strace: &Path, trace_dir: &Path, command: Vec<OsString>) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![strace.into()];
    argv.extend(["-f", "-ff", "--seccomp-bpf", "-qq", "-Z", "-y", "-e", "trace=%file", "-o"].map(OsString::from));
    argv.push(trace_dir.join("trace").into());
    argv.push("--".into());
    argv.extend(command);
    argv
}

/// The workspace-relative paths the traced step failed to find that exist in `workspace`
/// and are not `declared`, sorted.
pub(crate) fn undeclared_reads(
    trace_dir: &Path,
    workspace: &Path,
    working_dir: &str,
    declared: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut found = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(trace_dir) else { return Vec::new() };
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read(entry.path()) else { continue };
        for line in String::from_utf8_lossy(&text).lines() {
            let Some(path) = missing_path(line, working_dir) else { continue };
            if !declared(&path) && std::fs::symlink_metadata(workspace.join(&path)).is_ok() {
                found.insert(path);
            }
        }
    }
    found.into_iter().collect()
}

/// The workspace-relative path of a call that failed with `ENOENT` below the sandbox root.
fn missing_path(line: &str, working_dir: &str) -> Option<String> {
    if !line.contains(" = -1 ENOENT ") {
        return None;
    }
    let args = &line[line.find('(')? + 1..];
    // `AT_FDCWD</work/src>, "name"` or `3</work>, "name"`: the directory, then the name.
    let (base, quoted) = match args.strip_prefix('"') {
        Some(_) => (None, args),
        None => {
            let open = args.find('<')?;
            let close = open + args[open..].find(">, \"")?;
            (Some(&args[open + 1..close]), &args[close + 3..])
        }
    };
    let name = unquote(quoted)?;
    let full = if name.starts_with('/') {
        name
    } else {
        let base = base.map_or_else(|| super::bwrap_argv::inside(working_dir), str::to_owned);
        format!("{base}/{name}")
    };
    let normal = normalise(&full);
    let rest = normal.strip_prefix(SANDBOX_ROOT)?.strip_prefix('/')?;
    (!rest.is_empty()).then(|| rest.to_owned())
}

/// The string strace printed at the start of `text` (C escapes undone).
fn unquote(text: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut chars = text.strip_prefix('"')?.chars();
    loop {
        match chars.next()? {
            '"' => return Some(String::from_utf8_lossy(&bytes).into_owned()),
            '\\' => match chars.next()? {
                'n' => bytes.push(b'\n'),
                't' => bytes.push(b'\t'),
                'r' => bytes.push(b'\r'),
                'v' => bytes.push(0x0b),
                'f' => bytes.push(0x0c),
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    bytes.push(u8::from_str_radix(&hex, 16).ok()?);
                }
                digit @ '0'..='7' => {
                    let mut value = digit.to_digit(8)?;
                    for _ in 0..2 {
                        let next = chars.clone().next().filter(|c| ('0'..='7').contains(c));
                        if let Some(c) = next {
                            value = value * 8 + c.to_digit(8)?;
                            chars.next();
                        }
                    }
                    bytes.push(u8::try_from(value).ok()?);
                }
                other => bytes.extend(other.to_string().as_bytes()),
            },
            other => bytes.extend(other.to_string().as_bytes()),
        }
    }
}

/// `/work/a/../b/./c` -> `/work/b/c` (lexically, as the kernel would without symlinks).
fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn failed_calls_below_the_root_are_resolved() {
        let cases = [
            (
                r#"openat(AT_FDCWD</work>, "secret.txt", O_RDONLY) = -1 ENOENT (No such file or directory)"#,
                Some("secret.txt"),
            ),
            (
                r#"openat(AT_FDCWD</work/src>, "../inc/a.h", O_RDONLY) = -1 ENOENT (No such file or directory)"#,
                Some("inc/a.h"),
            ),
            (
                r#"newfstatat(3</work/src>, "x y\"z", 0x7ffc, 0) = -1 ENOENT (No such file or directory)"#,
                Some("src/x y\"z"),
            ),
            (
                r#"execve("/work/tools/gen", ["gen"], 0x5 /* 3 vars */) = -1 ENOENT (No such file or directory)"#,
                Some("tools/gen"),
            ),
            (r#"access("notes/\303\244.txt", R_OK) = -1 ENOENT (No such file or directory)"#, Some("sub/notes/ä.txt")),
            (
                r#"openat(AT_FDCWD</work>, "/usr/lib/locale/C.UTF-8/LC_CTYPE", O_RDONLY) = -1 ENOENT (No such file or directory)"#,
                None,
            ),
            (r#"newfstatat(AT_FDCWD</>, "/newroot/work", 0x7ff, 0) = -1 ENOENT (No such file or directory)"#, None),
            (r#"openat(AT_FDCWD</work>, "x", O_WRONLY|O_CREAT, 0666) = -1 EROFS (Read-only file system)"#, None),
            (r#"openat(AT_FDCWD</work>, "..", O_RDONLY) = -1 ENOENT (No such file or directory)"#, None),
        ];
        for (line, expected) in cases {
            assert_eq!(missing_path(line, "sub").as_deref(), expected, "{line}");
        }
    }

    #[test]
    fn only_existing_undeclared_workspace_files_are_reported() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("secret.txt"), "s").unwrap();
        std::fs::write(ws.path().join("declared.txt"), "d").unwrap();
        let traces = tempfile::tempdir().unwrap();
        std::fs::write(
            traces.path().join("trace.7"),
            [
                r#"openat(AT_FDCWD</work>, "secret.txt", O_RDONLY) = -1 ENOENT (No such file or directory)"#,
                r#"openat(AT_FDCWD</work>, "secret.txt", O_RDONLY) = -1 ENOENT (No such file or directory)"#,
                r#"openat(AT_FDCWD</work>, "declared.txt", O_RDONLY) = -1 ENOENT (No such file or directory)"#,
                r#"openat(AT_FDCWD</work>, "nowhere.h", O_RDONLY) = -1 ENOENT (No such file or directory)"#,
            ]
            .join("\n"),
        )
        .unwrap();
        let found = undeclared_reads(traces.path(), ws.path(), "", &|p| p == "declared.txt");
        assert_eq!(found, ["secret.txt"]);
    }

    #[test]
    fn strace_follows_bubblewrap_and_writes_per_process_files() {
        let argv = strace_argv(Path::new("/usr/bin/strace"), Path::new("/s/trace"), vec!["bwrap".into()]);
        let text: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            text.join(" "),
            "/usr/bin/strace -f -ff --seccomp-bpf -qq -Z -y -e trace=%file -o /s/trace/trace -- bwrap"
        );
    }
}
