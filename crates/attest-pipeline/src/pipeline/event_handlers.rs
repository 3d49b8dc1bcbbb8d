//! `events.handlers`: where run events go, checked.

use std::time::Duration;

use attest_hash::RelPath;
use serde::{Deserialize, Serialize};

use super::{Semantics, key, valid_env_name};
use crate::did_you_mean::did_you_mean;
use crate::node::PathPart;
use crate::raw_pipeline::{HandlerKind, RawHandler, RawPipeline};
use crate::units::parse_duration;

/// Every event type a run emits.
pub const EVENT_TYPES: &[&str] = &[
    "pipeline.started",
    "pipeline.completed",
    "pipeline.failed",
    "step.started",
    "step.completed",
    "step.failed",
    "cache.hit",
    "cache.miss",
    "signature.created",
    "verification.completed",
];

/// A webhook attempt gives up after this long, unless the handler sets `timeout`.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts after the first, unless the handler sets `retries`.
pub const DEFAULT_WEBHOOK_RETRIES: u32 = 3;

/// Where a handler delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HandlerTarget {
    /// JSON Lines appended to a file in the workspace.
    File {
        /// The file.
        path: RelPath,
    },
    /// An HTTP POST of each event's JSON.
    Webhook {
        /// `http://` or `https://` URL.
        url: String,
    },
}

/// A checked event handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventHandler {
    /// Where it delivers.
    pub target: HandlerTarget,
    /// The event types it wants: `*`, `step.*` or exact types.
    pub events: Vec<String>,
    /// The variable holding the HMAC key for `X-Attest-Signature` (webhooks).
    pub secret_env: Option<String>,
    /// Time limit of one delivery attempt.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// Whether a failed delivery fails the run (otherwise it is a warning).
    pub required: bool,
}

impl EventHandler {
    /// Whether this handler wants events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|pattern| matches(pattern, event_type))
    }
}

/// `*` matches everything, `step.*` every `step.` type, anything else itself.
fn matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix(".*") {
        _ if pattern == "*" => true,
        Some(prefix) => event_type.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
        None => pattern == event_type,
    }
}

fn known_pattern(pattern: &str) -> bool {
    pattern == "*"
        || EVENT_TYPES.contains(&pattern)
        || pattern
            .strip_suffix(".*")
            .is_some_and(|prefix| EVENT_TYPES.iter().any(|t| t.starts_with(&format!("{prefix}."))))
}

impl Semantics<'_> {
    /// The checked `events.handlers`; problems are pushed as errors.
    pub(super) fn event_handlers(&mut self, raw: &RawPipeline) -> Vec<EventHandler> {
        let Some(events) = &raw.events else { return Vec::new() };
        events.handlers.iter().enumerate().filter_map(|(i, handler)| self.event_handler(i, handler)).collect()
    }

    fn event_handler(&mut self, i: usize, raw: &RawHandler) -> Option<EventHandler> {
        let path = [key("events"), key("handlers"), PathPart::Index(i)];
        let field = |name: &str| [&path[..], &[key(name)]].concat();
        let errors_before = self.errors.len();
        let target = match raw.kind {
            HandlerKind::File => match &raw.path {
                None => {
                    self.push(
                        self.at(&path),
                        "a file handler needs `path`".to_owned(),
                        Some("add `path: attest-events.log`".to_owned()),
                    );
                    None
                }
                Some(p) => match RelPath::new(p) {
                    Ok(path) => Some(HandlerTarget::File { path }),
                    Err(e) => {
                        self.push(self.at(&field("path")), e.to_string(), None);
                        None
                    }
                },
            },
            HandlerKind::Webhook => match &raw.url {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                    Some(HandlerTarget::Webhook { url: url.clone() })
                }
                _ => {
                    self.push(
                        self.at(&path),
                        "a webhook handler needs an http(s) `url`".to_owned(),
                        Some("add `url: https://example.com/hook`".to_owned()),
                    );
                    None
                }
            },
        };
        for (j, pattern) in raw.events.iter().enumerate() {
            if !known_pattern(pattern) {
                let hint = match did_you_mean(pattern, EVENT_TYPES) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("use `*`, a group such as `step.*`, or one of: {}", EVENT_TYPES.join(", ")),
                };
                self.push(
                    self.at(&[&field("events")[..], &[PathPart::Index(j)]].concat()),
                    format!("unknown event type `{pattern}`"),
                    Some(hint),
                );
            }
        }
        let webhook_only = |s: &mut Self, name: &str, set: bool| {
            if set && raw.kind == HandlerKind::File {
                s.push(
                    s.key_at(&path, name),
                    format!("`{name}` applies to webhook handlers only"),
                    Some(format!("remove `{name}` from this file handler")),
                );
            }
        };
        webhook_only(self, "secret_env", raw.secret_env.is_some());
        webhook_only(self, "timeout", raw.timeout.is_some());
        webhook_only(self, "retries", raw.retries.is_some());
        if let Some(var) = &raw.secret_env
            && !valid_env_name(var)
        {
            self.push(
                self.at(&field("secret_env")),
                format!("`{var}` is not a valid variable name in `secret_env`"),
                Some("name the host variable that holds the HMAC key, e.g. `ATTEST_WEBHOOK_SECRET`".to_owned()),
            );
        }
        let timeout = match raw.timeout.as_deref().map(parse_duration) {
            None => DEFAULT_WEBHOOK_TIMEOUT,
            Some(Ok(d)) if !d.is_zero() => d,
            Some(Ok(_)) => {
                self.push(self.at(&field("timeout")), "`timeout` must be longer than zero".to_owned(), None);
                DEFAULT_WEBHOOK_TIMEOUT
            }
            Some(Err(message)) => {
                self.push(
                    self.at(&field("timeout")),
                    format!("`timeout` of an event handler: {message}"),
                    Some("write a duration such as `5s` or `1m`".to_owned()),
                );
                DEFAULT_WEBHOOK_TIMEOUT
            }
        };
        let target = target?;
        (self.errors.len() == errors_before).then(|| EventHandler {
            target,
            events: if raw.events.is_empty() { vec!["*".to_owned()] } else { raw.events.clone() },
            secret_env: raw.secret_env.clone(),
            timeout,
            retries: raw.retries.unwrap_or(DEFAULT_WEBHOOK_RETRIES),
            required: raw.required.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exact_types_groups_and_everything() {
        assert!(matches("*", "cache.hit"));
        assert!(matches("step.*", "step.failed"));
        assert!(!matches("step.*", "steps.failed"));
        assert!(!matches("step.*", "pipeline.failed"));
        assert!(matches("cache.miss", "cache.miss"));
        assert!(!matches("cache.miss", "cache.hit"));
        assert!(known_pattern("verification.*"));
        assert!(!known_pattern("deploy.*"));
        assert!(!known_pattern("step.finished"));
    }
}
