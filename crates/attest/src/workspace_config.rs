//! `.attest/config.yaml`: settings of a workspace that are not part of its pipeline
//! (`attest config get|set|show`). Written atomically; unknown keys are refused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::user_error::UserError;

/// The settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkspaceConfig {
    /// Run every step in deterministic mode (as `attest run --deterministic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) deterministic: Option<bool>,
}

/// The keys `attest config` knows, with what they mean.
pub(crate) const KEYS: &[(&str, &str)] = &[("deterministic", "true or false: run every step in deterministic mode")];

/// The config file of the workspace at `root`.
pub(crate) fn config_path(root: &Path) -> PathBuf {
    root.join(".attest").join("config.yaml")
}

impl WorkspaceConfig {
    /// Reads the config (a missing file is the defaults).
    pub(crate) fn load(root: &Path) -> Result<Self, UserError> {
        let path = config_path(root);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(UserError::new(format!("cannot read {}: {e}", path.display()))),
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(&text).map_err(|e| {
            UserError::new(format!("{}: {e}", path.display()))
                .hint("set values with `attest config set KEY VALUE`; known keys: deterministic")
        })
    }

    /// Writes the config atomically.
    pub(crate) fn save(&self, root: &Path) -> Result<(), UserError> {
        let mut text = String::from("# attest workspace settings (`attest config set KEY VALUE`)\n");
        if let Some(on) = self.deterministic {
            text.push_str(&format!("deterministic: {on}\n"));
        }
        let path = config_path(root);
        attest_hash::write_atomically(&path, text.as_bytes(), attest_hash::Durability::Synced)
            .map_err(|e| UserError::new(format!("cannot write {}: {e}", path.display())))
    }

    /// The value of `key`, as text.
    pub(crate) fn get(&self, key: &str) -> Result<Option<String>, UserError> {
        match key {
            "deterministic" => Ok(self.deterministic.map(|b| b.to_string())),
            _ => Err(unknown(key)),
        }
    }

    /// Sets `key` from text.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<(), UserError> {
        match key {
            "deterministic" => {
                self.deterministic = Some(match value {
                    "true" | "on" | "yes" => true,
                    "false" | "off" | "no" => false,
                    _ => return Err(UserError::new(format!("`{value}` is not true or false"))),
                });
                Ok(())
            }
            _ => Err(unknown(key)),
        }
    }
}

fn unknown(key: &str) -> UserError {
    let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    UserError::new(format!("unknown setting `{key}`")).hint(format!("known settings: {}", known.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_save_load_round_trip_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(WorkspaceConfig::load(dir.path()).expect("defaults"), WorkspaceConfig::default());
        let mut config = WorkspaceConfig::default();
        config.set("deterministic", "true").expect("set");
        config.save(dir.path()).expect("save");
        let loaded = WorkspaceConfig::load(dir.path()).expect("load");
        assert_eq!(loaded.get("deterministic").expect("known"), Some("true".to_owned()));
        assert!(config.set("deterministic", "maybe").is_err());
        assert!(config.set("colour", "red").is_err());
        std::fs::write(config_path(dir.path()), "colour: red\n").expect("write");
        assert!(WorkspaceConfig::load(dir.path()).is_err());
    }
}
