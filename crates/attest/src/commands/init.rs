use std::path::Path;

use crate::args::InitArgs;
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::user_error::UserError;

const STARTER: &str = r#"# attest pipeline. Reference: `attest pipeline schema`; check it with `attest pipeline validate`.
version: "0.1"
name: NAME

steps:
  # A step runs `run` with `sh -c` in the workspace root. Its cache key covers the
  # command, its env, the content of its inputs and the outputs of the steps it needs.
  greet:
    description: Writes a file (replace with your build).
    run: mkdir -p dist && echo "hello from attest" > dist/greeting.txt
    inputs: []            # no inputs key = the whole workspace; [] = no files
    outputs: [dist/greeting.txt]

  count:
    description: Uses the output of `greet`.
    run: wc -c < dist/greeting.txt > dist/count.txt
    needs: [greet]
    inputs: [dist/greeting.txt]
    outputs: [dist/count.txt]
"#;

const ATTEST_GITIGNORE: &str =
    "# Local state of attest: the cache, the stat cache, private keys, the lock.\ncache/\nstate/\nkeys/*.key\nlock\n";

const ATTESTIGNORE: &str = "# Files that never count as inputs (gitignore syntax). `.attest/` and `.git/` are always ignored.\n*.swp\n*~\n.DS_Store\n";

const GITIGNORE_LINES: [&str; 3] = ["/.attest/cache/", "/.attest/state/", "/.attest/lock"];

/// `attest init`.
pub(crate) fn init(cwd: &Path, args: &InitArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let pipeline_path = cwd.join("attest.yaml");
    if pipeline_path.exists() && !args.force {
        return Err(UserError::new(format!("`{}` already exists", pipeline_path.display()))
            .hint("keep it, or run `attest init --force` to replace it with the starter")
            .into());
    }
    let name = cwd.file_name().and_then(|n| n.to_str()).filter(|n| !n.is_empty()).unwrap_or("my-project");
    let name = if name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', ""))
    };
    let mut created = Vec::new();
    let write = |path: &Path, text: &str| fs_err::write(path, text).map_err(|e| UserError::new(e.to_string()));
    write(&pipeline_path, &STARTER.replace("NAME", &name))?;
    created.push("attest.yaml");
    let attest_dir = cwd.join(".attest");
    fs_err::create_dir_all(&attest_dir).map_err(|e| UserError::new(e.to_string()))?;
    write(&attest_dir.join(".gitignore"), ATTEST_GITIGNORE)?;
    created.push(".attest/");
    if !cwd.join(".attestignore").exists() {
        write(&cwd.join(".attestignore"), ATTESTIGNORE)?;
        created.push(".attestignore");
    }
    let gitignore = cwd.join(".gitignore");
    let existing = fs_err::read_to_string(&gitignore).unwrap_or_default();
    let missing: Vec<&str> =
        GITIGNORE_LINES.iter().copied().filter(|l| !existing.lines().any(|e| e.trim() == *l)).collect();
    if !missing.is_empty() {
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("# attest\n");
        for line in missing {
            text.push_str(line);
            text.push('\n');
        }
        write(&gitignore, &text)?;
        created.push(".gitignore entries");
    }
    printer.info(&format!("created {}", created.join(", ")));
    printer.info("next: `attest run` runs the pipeline; run it twice to see the cache at work");
    Ok(ExitStatus::Success)
}
