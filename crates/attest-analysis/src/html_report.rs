//! [`html_report`]: a [`ReportData`] as one self-contained HTML file: inline CSS, charts as
//! inline SVG made by [`svg_charts`](crate::svg_charts), no script, nothing fetched (a
//! Content-Security-Policy of `default-src 'none'` makes the browser refuse anything that
//! would be). It opens from disk, from a CI artifact or an e-mail, offline, with scripts
//! disabled, and prints.

use std::fmt::Write as _;

use attest_store::RunRow;

use crate::ReportData;
use crate::duration_text::{millis_text, seconds_text};
use crate::html_escape::{html_escape, html_message};
use crate::rate_text::percent_text;
use crate::svg_charts::{by_start, hit_rate_svg, outcome_text, slowest_steps_svg, timeline_svg};
use crate::utc_text::utc_text;

/// How many of the slowest steps the chart shows.
const SLOWEST: usize = 10;

const STYLE: &str = "\
body{margin:0;background:#fff;color:#1f2328;line-height:1.45;\
font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
main{max-width:1000px;margin:0 auto;padding:24px 16px 48px}\
h1{font-size:1.6rem;margin:0 0 4px}\
h2{font-size:1.2rem;margin:32px 0 8px;padding-bottom:4px;border-bottom:1px solid #d0d7de}\
.meta,.note,footer{color:#57606a}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:12px;margin:16px 0 0}\
.card{border:1px solid #d0d7de;border-radius:6px;padding:10px 14px}\
.card dt{color:#57606a;font-size:.85rem}\
.card dd{margin:2px 0 0;font-size:1.5rem;font-weight:600}\
.card dd small{display:block;font-size:.8rem;font-weight:400;color:#57606a}\
svg.chart{display:block;max-width:100%;height:auto}\
table{border-collapse:collapse;width:100%;font-size:.9rem}\
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}\
.num{text-align:right;font-variant-numeric:tabular-nums}\
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;background:#f6f8fa;padding:0 3px;border-radius:3px}\
.empty{color:#57606a;font-style:italic}\
summary{cursor:pointer;margin:8px 0}\
footer{margin-top:40px;font-size:.85rem}\
@media print{h2{break-after:avoid}svg.chart{break-inside:avoid}}";

/// The report as a complete HTML document.
pub fn html_report(report: &ReportData) -> String {
    let analysis = &report.analysis;
    let days = analysis.period_days;
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>attest report: {runs} runs in {days} days</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>attest report</h1>\n<p class=\"meta\">Runs of the last {days} days, generated {at}.</p>\n",
        runs = analysis.runs,
        at = html_escape(&report.generated_at),
    );
    if analysis.runs == 0 {
        let _ = writeln!(
            out,
            "<p class=\"empty\" id=\"no-runs\">No runs in the last {days} days: every <code>attest run</code> is \
             recorded in .attest/attest.db.</p>"
        );
    } else {
        summary(&mut out, report);
        last_run(&mut out, report.last_run.as_ref());
        let _ = write!(
            out,
            "<section id=\"hit-rate\">\n<h2>Cache hit rate per run</h2>\n{}\n</section>\n",
            hit_rate_svg(&report.hit_rate_over_time)
        );
        let _ = write!(
            out,
            "<section id=\"slowest\">\n<h2>Slowest steps</h2>\n<p class=\"note\">Average time when executed \
             (cache hits excluded).</p>\n{}\n</section>\n",
            slowest_steps_svg(&analysis.slowest_steps, SLOWEST)
        );
        opportunities(&mut out, report);
        steps(&mut out, report);
    }
    let _ = write!(
        out,
        "<footer>Made by attest {} from the run history in .attest/attest.db. Times are UTC.</footer>\n\
         </main>\n</body>\n</html>\n",
        html_escape(&report.attest_version)
    );
    out
}

fn summary(out: &mut String, report: &ReportData) {
    let analysis = &report.analysis;
    let d = &analysis.duration;
    let _ = write!(
        out,
        "<section id=\"summary\">\n<h2>Summary</h2>\n<dl class=\"cards\">\n\
         <div class=\"card\"><dt>Runs</dt><dd>{runs}<small>{ok} succeeded, {failed} failed, {int} interrupted</small></dd></div>\n\
         <div class=\"card\"><dt>Success rate</dt><dd>{success}<small>of finished runs</small></dd></div>\n\
         <div class=\"card\"><dt>Duration (p50)</dt><dd>{p50}<small>average {avg}, p95 {p95}</small></dd></div>\n\
         <div class=\"card\"><dt>Cache hit rate</dt><dd>{hits}<small>over every step of every run</small></dd></div>\n\
         </dl>\n</section>\n",
        runs = analysis.runs,
        ok = analysis.succeeded,
        failed = analysis.failed,
        int = analysis.interrupted,
        success = percent_text(analysis.success_rate),
        p50 = seconds_text(d.p50_seconds),
        avg = seconds_text(d.average_seconds),
        p95 = seconds_text(d.p95_seconds),
        hits = percent_text(analysis.cache_hit_rate),
    );
}

fn last_run(out: &mut String, run: Option<&RunRow>) {
    out.push_str("<section id=\"timeline\">\n<h2>Last run</h2>\n");
    let Some(run) = run else {
        out.push_str("<p class=\"empty\">No run of this period has ended yet.</p>\n</section>\n");
        return;
    };
    let took = run.duration_ms().map_or_else(|| "-".to_owned(), millis_text);
    let _ = write!(
        out,
        "<p>Run <code>{id}</code>: {status}, started {start}, took {took}.",
        id = html_escape(&run.run_id),
        status = run.status,
        start = utc_text(run.started_ms),
    );
    let not_started: Vec<String> = run
        .steps
        .iter()
        .filter(|s| s.worker.is_none())
        .map(|s| format!("<code>{}</code> ({})", html_escape(&s.step), html_escape(&s.status)))
        .collect();
    if !not_started.is_empty() {
        let _ = write!(out, " Not started: {}.", not_started.join(", "));
    }
    let _ = write!(out, "</p>\n{}\n", timeline_svg(run));
    out.push_str(
        "<details>\n<summary>Steps of the last run</summary>\n<table>\n<thead><tr><th>Step</th><th>Outcome</th>\
         <th class=\"num\">Worker</th><th class=\"num\">Start</th><th class=\"num\">Duration</th>\
         <th>Cache miss reason or failure</th></tr></thead>\n<tbody>\n",
    );
    for step in by_start(run) {
        let (worker, start, duration) = match step.worker {
            Some(worker) => {
                ((worker + 1).to_string(), format!("+{}", millis_text(step.start_ms)), millis_text(step.duration_ms))
            }
            None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        let why: Vec<&str> = [step.miss_reason.as_deref(), step.detail.as_deref()].into_iter().flatten().collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{worker}</td><td class=\"num\">{start}</td>\
             <td class=\"num\">{duration}</td><td>{}</td></tr>",
            html_escape(&step.step),
            html_escape(outcome_text(step)),
            html_escape(&why.join("; ")),
        );
    }
    out.push_str("</tbody>\n</table>\n</details>\n</section>\n");
}

fn opportunities(out: &mut String, report: &ReportData) {
    out.push_str("<section id=\"opportunities\">\n<h2>Optimization opportunities</h2>\n");
    if report.analysis.opportunities.is_empty() {
        out.push_str("<p class=\"empty\">None found in this period.</p>\n");
    } else {
        out.push_str("<ol>\n");
        for opportunity in &report.analysis.opportunities {
            let _ = writeln!(
                out,
                "<li class=\"opportunity\" data-kind=\"{}\">{}</li>",
                html_escape(opportunity.kind),
                html_message(&opportunity.message)
            );
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</section>\n");
}

fn steps(out: &mut String, report: &ReportData) {
    out.push_str(
        "<section id=\"steps\">\n<h2>Steps</h2>\n<table>\n<thead><tr><th>Step</th><th class=\"num\">Runs</th>\
         <th class=\"num\">Hits</th><th class=\"num\">Misses</th><th class=\"num\">Hit rate</th>\
         <th class=\"num\">Failures</th><th class=\"num\">Average (executed)</th><th class=\"num\">p95 (executed)</th>\
         <th class=\"num\">On critical path</th></tr></thead>\n<tbody>\n",
    );
    for step in &report.analysis.steps {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            html_escape(&step.step),
            step.runs,
            step.hits,
            step.misses,
            percent_text(step.hit_rate),
            step.failures,
            seconds_text(step.executed.average_seconds),
            seconds_text(step.executed.p95_seconds),
            step.on_critical_path,
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_data::tests::{empty_report, sample_report};

    #[test]
    fn one_document_with_three_charts_and_nothing_external() {
        let html = html_report(&sample_report());
        assert!(html.starts_with("<!DOCTYPE html>\n"), "{html}");
        assert!(html.ends_with("</html>\n"));
        for chart in ["<svg class=\"chart timeline\"", "<svg class=\"chart hit-rate\"", "<svg class=\"chart slowest\""]
        {
            assert_eq!(html.matches(chart).count(), 1, "{chart}");
        }
        assert_eq!(html.matches("<rect class=\"bar ").count(), 3, "gen, a<b>&\"c, lint; pack was skipped");
        for external in ["http:", "https:", "<script", "<link", "url(", "@import", "src="] {
            assert!(!html.contains(external), "{external} in\n{html}");
        }
        assert!(html.contains("Not started: <code>pack</code> (skipped)."), "{html}");
        assert!(html.contains("<dt>Runs</dt><dd>3<small>2 succeeded, 1 failed"), "{html}");
    }

    #[test]
    fn step_names_and_reasons_never_appear_unescaped() {
        let html = html_report(&sample_report());
        assert!(!html.contains("a<b>"), "{html}");
        assert!(!html.contains("&\"c"), "{html}");
        assert!(!html.contains("src/<x>"), "{html}");
        assert!(html.contains("<tr><td>a&lt;b&gt;&amp;&quot;c</td><td>executed</td>"), "{html}");
    }

    #[test]
    fn no_runs_is_a_valid_page_that_says_so() {
        let html = html_report(&empty_report());
        assert!(html.contains("id=\"no-runs\">No runs in the last 7 days"), "{html}");
        assert!(!html.contains("<svg"), "{html}");
        assert!(html.ends_with("</html>\n"));
    }
}
