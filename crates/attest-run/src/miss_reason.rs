use std::fmt;

use attest_hash::Manifest;
use serde::{Deserialize, Serialize};

use crate::KeyRecord;

/// Why a step's result was not taken from the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum MissReason {
    /// Nothing was ever cached for this key (first run, or evicted).
    NoEntry,
    /// An input file changed, appeared or disappeared.
    InputChanged {
        /// The first changed path.
        path: String,
        /// How many other paths changed.
        more: usize,
    },
    /// A variable that reaches the command changed, appeared or disappeared.
    EnvChanged {
        /// Its name.
        name: String,
    },
    /// A secret's value changed, appeared or disappeared.
    SecretChanged {
        /// Its name.
        name: String,
    },
    /// The command text changed.
    CommandChanged,
    /// The shell or working directory changed.
    ShellChanged,
    /// The declared outputs changed.
    OutputsChanged,
    /// The outputs of a step this one needs changed.
    UpstreamChanged {
        /// That step.
        step: String,
    },
    /// The OS, architecture or key format changed.
    PlatformChanged,
    /// The isolation level (or a sandbox's system paths) changed, e.g. with
    /// `attest run --isolation`.
    IsolationChanged {
        /// The previous level, as in the key (`process`, `sandbox`, `sandbox:/etc/ssl`).
        from: String,
        /// The current one.
        to: String,
    },
    /// `cache: false` on the step, `cache.enabled: false`, or `--no-cache`.
    CacheDisabled,
    /// The cached entry was unusable (a blob missing or corrupt); it was run again.
    EntryDamaged,
}

impl fmt::Display for MissReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissReason::NoEntry => f.write_str("no entry"),
            MissReason::InputChanged { path, more: 0 } => write!(f, "input changed: {path}"),
            MissReason::InputChanged { path, more } => write!(f, "input changed: {path} and {more} more"),
            MissReason::EnvChanged { name } => write!(f, "env changed: {name}"),
            MissReason::SecretChanged { name } => write!(f, "secret changed: {name}"),
            MissReason::CommandChanged => f.write_str("command changed"),
            MissReason::ShellChanged => f.write_str("shell or working directory changed"),
            MissReason::OutputsChanged => f.write_str("declared outputs changed"),
            MissReason::UpstreamChanged { step } => write!(f, "upstream changed: {step}"),
            MissReason::PlatformChanged => f.write_str("platform changed"),
            MissReason::IsolationChanged { from, to } => write!(f, "isolation changed: {from} -> {to}"),
            MissReason::CacheDisabled => f.write_str("cache disabled"),
            MissReason::EntryDamaged => f.write_str("cache entry damaged"),
        }
    }
}

/// Every difference between the last recorded key of a step and the current one, most
/// specific first. Empty when the parts are equal.
pub fn differences(previous: &KeyRecord, current: &KeyRecord) -> Vec<MissReason> {
    let (old, new) = (&previous.parts, &current.parts);
    let mut reasons = Vec::new();
    if old.command != new.command {
        reasons.push(MissReason::CommandChanged);
    }
    if old.shell != new.shell || old.working_dir != new.working_dir {
        reasons.push(MissReason::ShellChanged);
    }
    let names: std::collections::BTreeSet<&String> = old.env.keys().chain(new.env.keys()).collect();
    for name in names {
        if old.env.get(name) != new.env.get(name) {
            reasons.push(MissReason::EnvChanged { name: name.clone() });
        }
    }
    let secrets: std::collections::BTreeSet<&String> = old.secrets.keys().chain(new.secrets.keys()).collect();
    for name in secrets {
        if old.secrets.get(name) != new.secrets.get(name) {
            reasons.push(MissReason::SecretChanged { name: name.clone() });
        }
    }
    for (step, digest) in &current.upstream {
        if previous.upstream.get(step) != Some(digest) {
            reasons.push(MissReason::UpstreamChanged { step: step.clone() });
        }
    }
    if old.inputs != new.inputs {
        reasons.push(input_change(&previous.inputs, &current.inputs));
    }
    if old.outputs != new.outputs {
        reasons.push(MissReason::OutputsChanged);
    }
    if old.isolation != new.isolation {
        reasons.push(MissReason::IsolationChanged { from: old.isolation.clone(), to: new.isolation.clone() });
    }
    if old.platform != new.platform || old.key_version != new.key_version {
        reasons.push(MissReason::PlatformChanged);
    }
    reasons
}

fn input_change(old: &Manifest, new: &Manifest) -> MissReason {
    let changed = old.changed_paths(new);
    match changed.split_first() {
        Some((first, rest)) => MissReason::InputChanged { path: first.to_string(), more: rest.len() },
        None => MissReason::InputChanged { path: "(the input set)".to_owned(), more: 0 },
    }
}
