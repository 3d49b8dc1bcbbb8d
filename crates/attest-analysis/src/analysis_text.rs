//! [`analysis_text`]: a [`RunAnalysis`] as text for a terminal.

use std::fmt::Write as _;

use crate::RunAnalysis;
use crate::duration_text::seconds_text as secs;
use crate::line_wrap::wrap_words;
use crate::rate_text::percent_text as percent;

/// `text` wrapped at spaces to `width`, continuation lines indented by `indent` spaces;
/// each line ends with a newline.
fn wrap(text: &str, width: usize, indent: usize) -> String {
    let start = text.len() - text.trim_start().len();
    let mut words = text[start..].split(' ').filter(|w| !w.is_empty());
    let first = format!("{}{}", &text[..start], words.next().unwrap_or(""));
    let rest: Vec<&str> = words.collect();
    let mut out = wrap_words(&first, &rest, indent, width).join("\n");
    out.push('\n');
    out
}

/// The report of `attest audit analyze`, at most `width` columns wide.
pub fn analysis_text(analysis: &RunAnalysis, width: usize) -> String {
    let mut out = String::new();
    let days = analysis.period_days;
    if analysis.runs == 0 {
        let _ = writeln!(out, "No runs in the last {days} days: every `attest run` is recorded in .attest/attest.db.");
        return out;
    }
    let _ = writeln!(out, "Runs in the last {days} days: {}", analysis.runs);
    let _ = writeln!(
        out,
        "  succeeded {}, failed {}, interrupted {}; success rate {}",
        analysis.succeeded,
        analysis.failed,
        analysis.interrupted,
        percent(analysis.success_rate)
    );
    let d = &analysis.duration;
    let _ = writeln!(
        out,
        "  duration: average {}, p50 {}, p95 {}",
        secs(d.average_seconds),
        secs(d.p50_seconds),
        secs(d.p95_seconds)
    );
    let _ = writeln!(out, "  cache hit rate: {}", percent(analysis.cache_hit_rate));

    let _ = writeln!(out, "\nSteps");
    let name_width = analysis.steps.iter().map(|s| s.step.len()).max().unwrap_or(4).clamp(4, 24);
    let _ = writeln!(
        out,
        "  {:<name_width$}  {:>4}  {:>8}  {:>9}  {:>9}  {:>8}",
        "STEP", "RUNS", "HIT RATE", "AVG (RAN)", "P95 (RAN)", "CRITICAL"
    );
    for step in &analysis.steps {
        let name: String = step.step.chars().take(name_width).collect();
        let _ = writeln!(
            out,
            "  {name:<name_width$}  {:>4}  {:>8}  {:>9}  {:>9}  {:>8}",
            step.runs,
            percent(step.hit_rate),
            secs(step.executed.average_seconds),
            secs(step.executed.p95_seconds),
            step.on_critical_path
        );
    }

    if !analysis.slowest_steps.is_empty() {
        let list: Vec<String> =
            analysis.slowest_steps.iter().take(5).map(|s| format!("{} {:.2}s", s.step, s.seconds)).collect();
        out.push('\n');
        out.push_str(&wrap(&format!("Slowest steps (average when executed): {}", list.join(", ")), width, 2));
    }
    if !analysis.critical_path_steps.is_empty() {
        let list: Vec<String> = analysis
            .critical_path_steps
            .iter()
            .take(5)
            .map(|s| format!("{} ({} of {} runs)", s.step, s.count, analysis.runs))
            .collect();
        out.push_str(&wrap(&format!("Most often on the critical path: {}", list.join(", ")), width, 2));
    }

    out.push_str("\nOptimization opportunities\n");
    if analysis.opportunities.is_empty() {
        out.push_str("  none found in this period\n");
    }
    for (i, opportunity) in analysis.opportunities.iter().enumerate() {
        out.push_str(&wrap(&format!("  {}. {}", i + 1, opportunity.message), width, 5));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DurationStats, NamedSeconds, Opportunity, StepStats};

    #[test]
    fn fits_the_width_and_names_every_section() {
        let analysis = RunAnalysis {
            period_days: 30,
            runs: 12,
            succeeded: 10,
            failed: 1,
            interrupted: 1,
            success_rate: Some(10.0 / 11.0),
            duration: DurationStats {
                count: 11,
                average_seconds: Some(2.5),
                p50_seconds: Some(2.0),
                p95_seconds: Some(6.0),
            },
            cache_hit_rate: Some(0.75),
            steps: vec![StepStats {
                step: "compile-with-a-rather-long-name-indeed".to_owned(),
                runs: 12,
                hits: 9,
                misses: 3,
                hit_rate: Some(0.75),
                failures: 0,
                executed: DurationStats::of_millis(vec![1000, 2000, 3000]),
                on_critical_path: 12,
            }],
            slowest_steps: vec![NamedSeconds { step: "compile".to_owned(), seconds: 2.0 }],
            critical_path_steps: Vec::new(),
            opportunities: vec![Opportunity {
                kind: "never_hits_cache",
                step: Some("stamp".to_owned()),
                value: 12.0,
                message: "`stamp` missed the cache in all 12 runs; 12 of them because `src/version.h` changed: an \
                          input that changes on every run defeats the cache"
                    .to_owned(),
                saving_seconds: Some(1.0),
            }],
        };
        let text = analysis_text(&analysis, 80);
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "too wide: {line:?}");
        }
        for part in [
            "Runs in the last 30 days: 12",
            "success rate 90.9%",
            "cache hit rate: 75.0%",
            "p95 6.00s",
            "Optimization opportunities",
            "  1. `stamp` missed",
        ] {
            assert!(text.contains(part), "{part:?} in\n{text}");
        }
    }
}
