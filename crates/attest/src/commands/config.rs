use std::path::Path;

use serde_json::json;

use crate::args::{ConfigCommand, Format};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::settings::workspace_root;
use crate::workspace_config::{KEYS, WorkspaceConfig, config_path};

/// `attest config get|set|show`.
pub(crate) fn config(cwd: &Path, command: ConfigCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    let root = workspace_root(cwd);
    let mut config = WorkspaceConfig::load(&root)?;
    match command {
        ConfigCommand::Get { key } => {
            match config.get(&key)? {
                Some(value) => printer.data(&value),
                None => printer.info(&format!("`{key}` is not set")),
            }
            Ok(ExitStatus::Success)
        }
        ConfigCommand::Set { key, value } => {
            config.set(&key, &value)?;
            config.save(&root)?;
            printer.info(&format!("{key} = {value} (in {})", config_path(&root).display()));
            Ok(ExitStatus::Success)
        }
        ConfigCommand::Show { format } => {
            match format {
                Format::Json => printer
                    .data(&json!({ "file": config_path(&root).display().to_string(), "settings": config }).to_string()),
                Format::Human => {
                    for (key, meaning) in KEYS {
                        let value = config.get(key)?.unwrap_or_else(|| "(not set)".to_owned());
                        printer.info(&format!("{key} = {value}    # {meaning}"));
                    }
                }
            }
            Ok(ExitStatus::Success)
        }
    }
}
