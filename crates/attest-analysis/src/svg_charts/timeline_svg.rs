//! [`timeline_svg`]: one run as a Gantt chart: a lane per worker, a bar per step from its
//! start to its end, coloured by what happened to it (executed, restored from the cache,
//! failed, cancelled). Steps that never started (skipped) have no bar.
//!
//! Each bar is `<rect class="bar OUTCOME" data-step="NAME" data-worker="N">`, each lane
//! `<rect class="lane" data-worker="N">`: stable marks for tests and for people who script
//! the report.

use std::fmt::Write as _;

use attest_store::{RunRow, StepRow};

use super::{SVG_FONT, WIDTH, coordinate, text_width, tick_step};
use crate::duration_text::millis_text;
use crate::html_escape::html_escape;

const LEGEND: f64 = 28.0;
const LANE: f64 = 30.0;
const BAR: f64 = 20.0;
const AXIS: f64 = 30.0;
const LABELS: f64 = 80.0;
const RIGHT: f64 = 20.0;
/// Narrower bars would vanish: a step restored in 0 ms still shows.
const MIN_BAR: f64 = 3.0;

/// What happened to a step, as its bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Executed,
    CacheHit,
    Failed,
    Cancelled,
}

impl Outcome {
    pub(crate) const ALL: [Outcome; 4] = [Outcome::Executed, Outcome::CacheHit, Outcome::Failed, Outcome::Cancelled];

    pub(crate) fn of(step: &StepRow) -> Self {
        match step.status.as_str() {
            "failed" => Outcome::Failed,
            "succeeded" if step.cache_hit() => Outcome::CacheHit,
            "succeeded" => Outcome::Executed,
            _ => Outcome::Cancelled,
        }
    }

    /// Its CSS class.
    pub(crate) fn class(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::CacheHit => "hit",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// Its name for people.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::CacheHit => "cache hit",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// Fill, outline and dashes: a cache hit is pale and dashed, so it differs from an
    /// execution in grey print and for colour-blind readers too.
    fn paint(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Outcome::Executed => ("#4e79a7", "#2f4b68", ""),
            Outcome::CacheHit => ("#b6dfa8", "#3f7d35", r#" stroke-dasharray="4 2""#),
            Outcome::Failed => ("#e15759", "#8f1d1f", ""),
            Outcome::Cancelled => ("#d7d2cf", "#7a716c", r#" stroke-dasharray="1 2""#),
        }
    }

    /// Label colour on the bar's fill.
    fn ink(self) -> &'static str {
        match self {
            Outcome::Executed | Outcome::Failed => "#ffffff",
            Outcome::CacheHit | Outcome::Cancelled => "#1f2328",
        }
    }
}

/// What happened to a step, in words: its outcome when it started, else its status
/// (`skipped`).
pub(crate) fn outcome_text(step: &StepRow) -> &str {
    if step.worker.is_some() { Outcome::of(step).label() } else { &step.status }
}

/// The steps of a run in the order they started; those that never started last.
pub(crate) fn by_start(run: &RunRow) -> Vec<&StepRow> {
    let mut steps: Vec<&StepRow> = run.steps.iter().collect();
    steps.sort_by(|a, b| (a.worker.is_none(), a.start_ms, &a.step).cmp(&(b.worker.is_none(), b.start_ms, &b.step)));
    steps
}

/// The tooltip of a step's bar: name, outcome, duration, worker, start, and why it missed
/// or failed.
fn tooltip(step: &StepRow, worker: u32) -> String {
    let mut text = format!(
        "{}: {}, {} (worker {}, started at +{})",
        step.step,
        Outcome::of(step).label(),
        millis_text(step.duration_ms),
        worker + 1,
        millis_text(step.start_ms)
    );
    if let Some(reason) = &step.miss_reason {
        let _ = write!(text, "\ncache miss: {reason}");
    }
    if let Some(detail) = &step.detail {
        let _ = write!(text, "\n{detail}");
    }
    text
}

/// The Gantt chart of `run`'s steps, in SVG.
pub(crate) fn timeline_svg(run: &RunRow) -> String {
    let mut bars: Vec<(&StepRow, u32)> = run.steps.iter().filter_map(|s| Some((s, s.worker?))).collect();
    bars.sort_by(|a, b| (a.1, a.0.start_ms, &a.0.step).cmp(&(b.1, b.0.start_ms, &b.0.step)));
    let mut workers: Vec<u32> = bars.iter().map(|(_, w)| *w).collect();
    workers.dedup();
    let total_ms = bars.iter().map(|(s, _)| s.start_ms + s.duration_ms).max().unwrap_or(0).max(1);
    let plot = WIDTH - LABELS - RIGHT;
    let lanes_bottom = LEGEND + LANE * workers.len() as f64;
    let height = lanes_bottom + AXIS;
    let x = |ms: u64| LABELS + plot * ms as f64 / total_ms as f64;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart timeline" viewBox="0 0 {WIDTH} {h}" width="100%" role="img" {SVG_FONT}><title>Timeline of run {id}: {n} steps on {w} workers</title>"#,
        h = coordinate(height),
        id = html_escape(&run.run_id),
        n = bars.len(),
        w = workers.len(),
    );
    legend(&mut svg);
    for (lane, worker) in workers.iter().enumerate() {
        let y = LEGEND + LANE * lane as f64;
        let shade = if lane % 2 == 0 { "#f6f8fa" } else { "#ffffff" };
        let _ = write!(
            svg,
            r##"<rect class="lane" data-worker="{worker}" x="{LABELS}" y="{y}" width="{plot}" height="{LANE}" fill="{shade}"/><text x="{lx}" y="{ty}" text-anchor="end" fill="#57606a">worker {n}</text>"##,
            y = coordinate(y),
            plot = coordinate(plot),
            lx = LABELS - 8.0,
            ty = coordinate(y + LANE / 2.0 + 4.0),
            n = worker + 1,
        );
    }
    let step = (tick_step(total_ms as f64, 8) as u64).max(1);
    for tick in (0..=total_ms).step_by(usize::try_from(step).unwrap_or(usize::MAX)) {
        let tx = coordinate(x(tick));
        let _ = write!(
            svg,
            r##"<line x1="{tx}" x2="{tx}" y1="{LEGEND}" y2="{y2}" stroke="#d0d7de" stroke-width="1"/><text x="{tx}" y="{ly}" text-anchor="middle" fill="#57606a">{label}</text>"##,
            y2 = coordinate(lanes_bottom + 4.0),
            ly = coordinate(lanes_bottom + 18.0),
            label = millis_text(tick),
        );
    }
    for (step, worker) in &bars {
        let lane = workers.binary_search(worker).unwrap_or(0);
        let outcome = Outcome::of(step);
        let (fill, stroke, dashes) = outcome.paint();
        let left = x(step.start_ms);
        let width = (x(step.start_ms + step.duration_ms) - left).max(MIN_BAR);
        let y = LEGEND + LANE * lane as f64 + (LANE - BAR) / 2.0;
        let _ = write!(
            svg,
            r#"<rect class="bar {class}" data-step="{name}" data-worker="{worker}" x="{x}" y="{y}" width="{w}" height="{BAR}" rx="2" fill="{fill}" stroke="{stroke}"{dashes}><title>{title}</title></rect>"#,
            class = outcome.class(),
            name = html_escape(&step.step),
            x = coordinate(left),
            y = coordinate(y),
            w = coordinate(width),
            title = html_escape(&tooltip(step, *worker)),
        );
        let with_duration = format!("{} {}", step.step, millis_text(step.duration_ms));
        let label = [with_duration.as_str(), step.step.as_str()].into_iter().find(|l| text_width(l) + 8.0 <= width);
        if let Some(label) = label {
            let _ = write!(
                svg,
                r#"<text class="bar-label" x="{x}" y="{y}" fill="{ink}" pointer-events="none">{text}</text>"#,
                x = coordinate(left + 4.0),
                y = coordinate(y + BAR / 2.0 + 4.0),
                ink = outcome.ink(),
                text = html_escape(label),
            );
        }
    }
    if bars.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{cx}" y="{cy}" text-anchor="middle" fill="#57606a">no step of this run started</text>"##,
            cx = coordinate(WIDTH / 2.0),
            cy = coordinate(LEGEND + 16.0),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The key of the colours, along the top.
fn legend(svg: &mut String) {
    let mut x = LABELS;
    for outcome in Outcome::ALL {
        let (fill, stroke, dashes) = outcome.paint();
        let _ = write!(
            svg,
            r##"<rect class="legend" x="{x}" y="6" width="14" height="14" rx="2" fill="{fill}" stroke="{stroke}"{dashes}/><text x="{tx}" y="17" fill="#1f2328">{label}</text>"##,
            x = coordinate(x),
            tx = coordinate(x + 20.0),
            label = outcome.label(),
        );
        x += 20.0 + text_width(outcome.label()) + 18.0;
    }
}

#[cfg(test)]
mod tests {
    use attest_store::RunStatus;

    use super::*;
    use crate::report_data::tests::{run, sample_runs, step};

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    #[test]
    fn one_bar_per_started_step_and_one_lane_per_worker() {
        let runs = sample_runs();
        let svg = timeline_svg(&runs[0]);
        // gen, a<b>&"c and lint ran; pack was skipped.
        assert_eq!(count(&svg, r#"<rect class="bar "#), 3, "{svg}");
        assert_eq!(count(&svg, r#"<rect class="lane""#), 2, "{svg}");
        assert!(svg.contains(r#"class="bar hit" data-step="gen" data-worker="0""#), "{svg}");
        assert!(svg.contains(r#"class="bar failed" data-step="lint""#), "{svg}");
        assert!(svg.contains(r#"class="bar executed" data-step="a&lt;b&gt;&amp;&quot;c" data-worker="1""#), "{svg}");
        assert!(!svg.contains("data-step=\"pack\""), "skipped steps have no bar");
        assert!(svg.contains("<title>lint: failed, 400ms (worker 1, started at +5ms)"), "{svg}");
    }

    #[test]
    fn lanes_are_the_workers_used_in_order() {
        let steps = vec![step("a", "executed", 3, 0, 10), step("b", "executed", 0, 0, 10), step("c", "hit", 3, 10, 1)];
        let svg = timeline_svg(&run("r", 0, RunStatus::Succeeded, steps));
        let lanes: Vec<&str> =
            svg.match_indices(r#"class="lane" data-worker=""#).map(|(i, m)| &svg[i + m.len()..][..1]).collect();
        assert_eq!(lanes, ["0", "3"]);
        assert!(svg.contains(">worker 4</text>"), "{svg}");
        assert_eq!(count(&svg, r#"<rect class="bar "#), 3);
    }

    #[test]
    fn step_names_never_appear_unescaped() {
        let runs = sample_runs();
        let svg = timeline_svg(&runs[0]);
        assert!(!svg.contains("a<b>"), "{svg}");
        assert!(!svg.contains("&\"c"), "{svg}");
        assert!(!svg.contains("src/<x>"), "miss reasons are escaped too: {svg}");
    }

    #[test]
    fn a_run_without_started_steps_says_so() {
        let svg = timeline_svg(&run("r", 0, RunStatus::Failed, vec![step("a", "skipped", 0, 0, 0)]));
        assert_eq!(count(&svg, r#"<rect class="bar "#), 0);
        assert!(svg.contains("no step of this run started"), "{svg}");
    }
}
