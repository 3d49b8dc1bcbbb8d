//! [`markdown_report`]: a [`ReportData`] as GitHub-flavoured Markdown: headings and tables,
//! for a pull request comment, a wiki page or `$GITHUB_STEP_SUMMARY`. No pictures: the
//! HTML report has those.

use std::fmt::Write as _;

use crate::ReportData;
use crate::duration_text::{millis_text, seconds_text};
use crate::markdown_escape::{markdown_message, markdown_text};
use crate::rate_text::percent_text;
use crate::svg_charts::{by_start, outcome_text};
use crate::utc_text::utc_text;

/// How many of the slowest steps the report lists.
const SLOWEST: usize = 10;

/// The report as Markdown, ending with a newline.
pub fn markdown_report(report: &ReportData) -> String {
    let analysis = &report.analysis;
    let days = analysis.period_days;
    let mut out = String::from("# attest report\n\n");
    let _ = writeln!(
        out,
        "Runs of the last {days} days, generated {} by attest {}.\n",
        markdown_text(&report.generated_at),
        markdown_text(&report.attest_version)
    );
    if analysis.runs == 0 {
        let _ = writeln!(out, "No runs in the last {days} days: every `attest run` is recorded in .attest/attest.db.");
        return out;
    }

    out.push_str("## Summary\n\n| Measure | Value |\n|---|---|\n");
    let _ = writeln!(
        out,
        "| Runs | {}: {} succeeded, {} failed, {} interrupted |",
        analysis.runs, analysis.succeeded, analysis.failed, analysis.interrupted
    );
    let _ = writeln!(out, "| Success rate | {} |", percent_text(analysis.success_rate));
    let d = &analysis.duration;
    let _ = writeln!(
        out,
        "| Duration | average {}, p50 {}, p95 {} |",
        seconds_text(d.average_seconds),
        seconds_text(d.p50_seconds),
        seconds_text(d.p95_seconds)
    );
    let _ = writeln!(out, "| Cache hit rate | {} |", percent_text(analysis.cache_hit_rate));

    out.push_str("\n## Steps\n\n");
    out.push_str("| Step | Runs | Hits | Misses | Hit rate | Failures | Average (executed) | p95 (executed) | On critical path |\n");
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for step in &analysis.steps {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            markdown_text(&step.step),
            step.runs,
            step.hits,
            step.misses,
            percent_text(step.hit_rate),
            step.failures,
            seconds_text(step.executed.average_seconds),
            seconds_text(step.executed.p95_seconds),
            step.on_critical_path
        );
    }

    out.push_str("\n## Slowest steps\n\n");
    if analysis.slowest_steps.is_empty() {
        out.push_str("No step executed in this period: every step was restored from the cache.\n");
    } else {
        out.push_str("| # | Step | Average when executed |\n|--:|---|--:|\n");
        for (i, step) in analysis.slowest_steps.iter().take(SLOWEST).enumerate() {
            let _ = writeln!(out, "| {} | {} | {:.2}s |", i + 1, markdown_text(&step.step), step.seconds);
        }
    }

    out.push_str("\n## Optimization opportunities\n\n");
    if analysis.opportunities.is_empty() {
        out.push_str("None found in this period.\n");
    }
    for (i, opportunity) in analysis.opportunities.iter().enumerate() {
        let _ = writeln!(out, "{}. {}", i + 1, markdown_message(&opportunity.message));
    }

    if let Some(run) = &report.last_run {
        out.push_str("\n## Last run\n\n");
        let took = run.duration_ms().map_or_else(|| "-".to_owned(), millis_text);
        let _ = writeln!(
            out,
            "Run `{}`: {}, started {}, took {took}.\n",
            run.run_id.replace('`', "'"),
            run.status,
            utc_text(run.started_ms)
        );
        out.push_str("| Step | Outcome | Worker | Start | Duration | Cache miss reason or failure |\n");
        out.push_str("|---|---|--:|--:|--:|---|\n");
        for step in by_start(run) {
            let (worker, start) = match step.worker {
                Some(worker) => ((worker + 1).to_string(), format!("+{}", millis_text(step.start_ms))),
                None => ("-".to_owned(), "-".to_owned()),
            };
            let why = [step.miss_reason.as_deref(), step.detail.as_deref()].into_iter().flatten().collect::<Vec<_>>();
            let _ = writeln!(
                out,
                "| {} | {} | {worker} | {start} | {} | {} |",
                markdown_text(&step.step),
                outcome_text(step),
                if step.worker.is_some() { millis_text(step.duration_ms) } else { "-".to_owned() },
                markdown_text(&why.join("; "))
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_data::tests::{empty_report, sample_report};

    #[test]
    fn every_section_is_a_table_or_list() {
        let text = markdown_report(&sample_report());
        for part in [
            "# attest report\n",
            "## Summary\n\n| Measure | Value |\n|---|---|\n| Runs | 3: 2 succeeded, 1 failed, 0 interrupted |",
            "## Steps\n\n| Step | Runs |",
            "| gen | 3 | 2 | 1 | 66.7% | 0 | 1.50s | 1.50s | 0 |",
            "## Slowest steps\n\n| # | Step | Average when executed |\n|--:|---|--:|\n| 1 | gen | 1.50s |",
            "## Optimization opportunities\n\nNone found in this period.",
            "## Last run\n\nRun `run3`: failed, started 1970-01-01 00:50:00 UTC, took 2.00s.",
            "| lint | failed | 1 | +5ms | 400ms | input changed: src/\\<x\\>.c; exit code 1 |",
            "| pack | skipped | - | - | - |  |",
        ] {
            assert!(text.contains(part), "{part:?} in\n{text}");
        }
        // Every table row has as many cells as its header.
        for block in text.split("\n\n").filter(|b| b.starts_with('|')) {
            let cells = |line: &str| line.matches(" | ").count() - line.matches("\\|").count();
            let mut lines = block.lines();
            let header = cells(lines.next().unwrap_or_default());
            for line in lines.skip(1) {
                assert_eq!(cells(line), header, "{line}");
            }
        }
    }

    #[test]
    fn step_names_are_escaped() {
        let text = markdown_report(&sample_report());
        assert!(text.contains(r#"| a\<b\>\&"c | executed | 2 |"#), "{text}");
        assert!(!text.contains("a<b>"), "{text}");
    }

    #[test]
    fn no_runs_is_a_short_valid_report() {
        let text = markdown_report(&empty_report());
        assert!(text.starts_with("# attest report\n"), "{text}");
        assert!(text.contains("No runs in the last 7 days"), "{text}");
        assert!(!text.contains("## Steps"), "{text}");
    }
}
