//! Redaction of step output before it is stored, shown or referenced by a receipt.

use crate::credential_rules::scan;

/// Replaces declared secret values with `[REDACTED:NAME]` and masks credential shapes
/// with `[REDACTED:<rule>]`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// (name, value), longest value first so that a secret containing another is
    /// replaced whole.
    secrets: Vec<(String, Vec<u8>)>,
}

/// Values shorter than this are not redacted: they would mangle ordinary output.
const MIN_SECRET_LEN: usize = 4;

impl Redactor {
    /// A redactor for `secrets` (name, value); short and empty values are ignored.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut secrets: Vec<(String, Vec<u8>)> = secrets
            .into_iter()
            .filter(|(_, value)| value.len() >= MIN_SECRET_LEN)
            .map(|(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
            .collect();
        secrets.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        Self { secrets }
    }

    /// `bytes` with every secret value and credential shape replaced.
    pub fn redact(&self, bytes: &[u8]) -> Vec<u8> {
        let mut text = bytes.to_vec();
        for (name, value) in &self.secrets {
            text = replace_all(&text, value, format!("[REDACTED:{name}]").as_bytes());
        }
        let findings = scan(&text);
        if findings.is_empty() {
            return text;
        }
        let mut out = Vec::with_capacity(text.len());
        let mut at = 0;
        for finding in findings {
            out.extend_from_slice(&text[at..finding.range.start]);
            out.extend_from_slice(format!("[REDACTED:{}]", finding.rule).as_bytes());
            at = finding.range.end;
        }
        out.extend_from_slice(&text[at..]);
        out
    }
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut at = 0;
    while let Some(offset) = haystack[at..].windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&haystack[at..at + offset]);
        out.extend_from_slice(with);
        at += offset + needle.len();
    }
    out.extend_from_slice(&haystack[at..]);
    out
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn replaces_values_and_shapes() {
        let redactor = Redactor::new([("DB_PASSWORD", "hunter2hunter2"), ("SHORT", "ab")]);
        let out = redactor.redact(b"connecting with hunter2hunter2 (ab)\nAKIAIOSFODNN7EXAMPLE\n");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "connecting with [REDACTED:DB_PASSWORD] (ab)\n[REDACTED:aws-access-key-id]\n"
        );
    }

    proptest! {
        /// Whatever surrounds it, a declared secret never survives redaction.
        #[test]
        fn a_secret_never_survives(secret in "[a-zA-Z0-9]{4,24}", before in ".{0,40}", after in ".{0,40}") {
            let redactor = Redactor::new([("S", secret.as_str())]);
            let text = format!("{before}{secret}{after}{secret}");
            let out = String::from_utf8_lossy(&redactor.redact(text.as_bytes())).into_owned();
            // Markers separate what is left; no piece of the rest may hold the secret.
            let marker = regex::Regex::new(r"\[REDACTED:[A-Za-z0-9_\-]+\]").unwrap();
            for piece in marker.split(&out) {
                prop_assert!(!piece.contains(&secret), "{out:?}");
            }
        }
    }
}
