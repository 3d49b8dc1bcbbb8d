//! Well-known credential shapes, each a rule with a severity.

use std::sync::LazyLock;

use regex::bytes::Regex;
use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Probably a credential (an assignment of a long value to a suspicious name).
    Medium,
    /// Certainly a credential shape (a private key, a provider's token format).
    High,
}

/// One credential found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule that matched, e.g. `aws-access-key-id`.
    pub rule: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// 1-based line of the match.
    pub line: usize,
    /// Byte range of the secret part within the scanned bytes.
    #[serde(skip)]
    pub range: std::ops::Range<usize>,
    /// The match with the secret part masked, for reports.
    pub excerpt: String,
}

struct Rule {
    name: &'static str,
    severity: Severity,
    /// The capture group holding the secret part (0: the whole match).
    group: usize,
    regex: Regex,
}

fn rule(name: &'static str, severity: Severity, group: usize, pattern: &str) -> Rule {
    Rule { name, severity, group, regex: Regex::new(pattern).expect("credential patterns are valid") }
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        rule(
            "private-key",
            Severity::High,
            0,
            r"(?s-u)-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----.*?(-----END ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----|\z)",
        ),
        rule("aws-access-key-id", Severity::High, 0, r"(?-u)\b(AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
        rule(
            "github-token",
            Severity::High,
            0,
            r"(?-u)\b(gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        ),
        rule("gitlab-token", Severity::High, 0, r"(?-u)\bglpat-[A-Za-z0-9_\-]{20,}"),
        rule("slack-token", Severity::High, 0, r"(?-u)\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
        rule(
            "generic-assignment",
            Severity::Medium,
            3,
            r#"(?i-u)\b([a-z0-9_\-]*(api[_\-]?key|token|secret|password|passwd))["']?\s*[:=]\s*["']?([A-Za-z0-9_\-/+=.~!@#$%^&*]{16,})"#,
        ),
    ]
});

fn masked(bytes: &[u8], whole: std::ops::Range<usize>, secret: &std::ops::Range<usize>) -> String {
    let before = String::from_utf8_lossy(&bytes[whole.start..secret.start]);
    let keep: String = String::from_utf8_lossy(&bytes[secret.start..secret.end]).chars().take(4).collect();
    let first_line = before.lines().next().unwrap_or_default().to_owned();
    if before.contains('\n') {
        return format!("{first_line}…");
    }
    format!("{before}{keep}…")
}

/// Substrings every rule's match contains (lowercase; compared case-insensitively). Text
/// without any of them cannot match, and is passed without compiling the rules.
const TELLS: [&[u8]; 13] = [
    b"private key",
    b"akia",
    b"asia",
    b"agpa",
    b"aida",
    b"aroa",
    b"gh",
    b"glpat-",
    b"xox",
    b"key",
    b"token",
    b"secret",
    b"passw",
];

fn might_hold_credentials(bytes: &[u8]) -> bool {
    TELLS.iter().any(|tell| bytes.windows(tell.len()).any(|window| window.eq_ignore_ascii_case(tell)))
}

/// Every credential shape in `bytes`, in order, overlapping matches of weaker rules dropped.
pub fn scan(bytes: &[u8]) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    if !might_hold_credentials(bytes) {
        return findings;
    }
    for rule in RULES.iter() {
        for captures in rule.regex.captures_iter(bytes) {
            let (Some(whole), Some(secret)) = (captures.get(0), captures.get(rule.group)) else { continue };
            let range = secret.range();
            if findings.iter().any(|f| f.range.start < range.end && range.start < f.range.end) {
                continue;
            }
            findings.push(Finding {
                rule: rule.name,
                severity: rule.severity,
                line: bytes[..whole.start()].iter().filter(|&&b| b == b'\n').count() + 1,
                excerpt: masked(bytes, whole.range(), &range),
                range,
            });
        }
    }
    findings.sort_by_key(|f| f.range.start);
    findings
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<(&'static str, Severity, usize)> {
        scan(text.as_bytes()).into_iter().map(|f| (f.rule, f.severity, f.line)).collect()
    }

    #[test]
    fn finds_the_well_known_shapes() {
        let text = "ok\nAKIAIOSFODNN7EXAMPLE\n\
            token ghp_0123456789abcdefghijABCDEFGHIJ012345 here\n\
            glpat-abcdefghij0123456789\n\
            xoxb-1234567890-abcdef\n\
            API_KEY=\"s3cr3tvalue0123456789\"\n\
            -----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            rules(text),
            [
                ("aws-access-key-id", Severity::High, 2),
                ("github-token", Severity::High, 3),
                ("gitlab-token", Severity::High, 4),
                ("slack-token", Severity::High, 5),
                ("generic-assignment", Severity::Medium, 6),
                ("private-key", Severity::High, 7),
            ]
        );
    }

    #[test]
    fn every_rule_contains_a_tell() {
        for sample in [
            "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----",
            "ASIAIOSFODNN7EXAMPLE",
            "AROAIOSFODNN7EXAMPLE",
            "ghs_0123456789abcdefghijABCDEFGHIJ012345",
            "github_pat_0123456789abcdefghijAB",
            "glpat-abcdefghij0123456789",
            "xoxp-1234567890-abcdef",
            "DB_PASSWD: 'abcdefghijklmnop1234'",
            "client_secret=abcdefghijklmnop1234",
        ] {
            assert!(might_hold_credentials(sample.as_bytes()), "{sample}");
            assert!(!scan(sample.as_bytes()).is_empty(), "{sample}");
        }
        assert!(!might_hold_credentials(b"/usr/local/bin:/usr/bin:/bin"));
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        assert!(rules("token = short\npassword: hunter2\nbuilding AKIA docs\nThe key is in the door.\n").is_empty());
        assert!(rules("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n").is_empty());
    }

    #[test]
    fn excerpts_never_hold_the_secret() {
        let finding = &scan(b"export GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345")[0];
        assert!(!finding.excerpt.contains("0123456789abcdefghij"), "{}", finding.excerpt);
    }
}
