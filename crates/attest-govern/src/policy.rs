//! [`Policy`]: what a decision needs before it may execute, and [`Mode`]. Field names are
//! nexus-attest's (`POLICY_ATTACHED` payloads); `require_signed_approvals` is attest's.

use serde::{Deserialize, Serialize};

/// How a decision runs its pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The plan only (`attest run --dry-run`): what would run, nothing executed.
    DryRun,
    /// The steps for real, with a signed receipt.
    Apply,
}

impl Mode {
    /// `dry_run` or `apply`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DryRun => "dry_run",
            Mode::Apply => "apply",
        }
    }

    /// Parses `dry_run` / `apply` (also `dry-run`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "dry_run" | "dry-run" => Some(Mode::DryRun),
            "apply" => Some(Mode::Apply),
            _ => None,
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules a decision must meet to execute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Distinct, unexpired, unrevoked approvers needed (at least 1).
    pub min_approvals: u32,
    /// Modes the decision may use (never empty).
    pub allowed_modes: Vec<Mode>,
    /// Adapter capabilities (nexus-attest; attest's single adapter has none, kept for
    /// round trips).
    #[serde(default)]
    pub require_adapter_capabilities: Vec<String>,
    /// At most this many steps may run (none: no limit).
    pub max_steps: Option<u32>,
    /// Governance tags.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Count only approvals signed by a trusted key (attest).
    #[serde(default)]
    pub require_signed_approvals: bool,
}

impl Policy {
    /// The defaults nexus-attest applies without a template: one approval, and the
    /// requested mode (apply also allows dry runs).
    pub fn default_for(mode: Mode) -> Self {
        Self {
            min_approvals: 1,
            allowed_modes: match mode {
                Mode::DryRun => vec![Mode::DryRun],
                Mode::Apply => vec![Mode::DryRun, Mode::Apply],
            },
            require_adapter_capabilities: Vec::new(),
            max_steps: None,
            labels: Vec::new(),
            require_signed_approvals: false,
        }
    }
}
