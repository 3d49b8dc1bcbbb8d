//! [`hit_rate_svg`]: the cache hit rate run by run, oldest on the left, as a line with a
//! point per run (`<circle class="point STATUS" data-run="ID">`). A run without cache
//! lookups has no point and breaks the line.

use std::fmt::Write as _;

use super::{SVG_FONT, WIDTH, coordinate};
use crate::RunHitRate;
use crate::html_escape::html_escape;
use crate::rate_text::percent_text;
use crate::utc_text::utc_text;

const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 52.0;
/// At most about this many run numbers along the x axis.
const MAX_X_LABELS: usize = 12;

/// The hit rate chart of `points` (oldest first), in SVG.
pub(crate) fn hit_rate_svg(points: &[RunHitRate]) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bottom = TOP + plot_h;
    let x = |i: usize| {
        if points.len() <= 1 { LEFT + plot_w / 2.0 } else { LEFT + plot_w * i as f64 / (points.len() - 1) as f64 }
    };
    let y = |rate: f64| TOP + plot_h * (1.0 - rate.clamp(0.0, 1.0));

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart hit-rate" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" {SVG_FONT}><title>Cache hit rate of {n} runs, oldest first</title>"#,
        n = points.len(),
    );
    for quarter in 0..=4 {
        let rate = f64::from(quarter) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{gy}" y2="{gy}" stroke="#d0d7de" stroke-width="1"/><text x="{lx}" y="{ly}" text-anchor="end" fill="#57606a">{label}%</text>"##,
            x2 = coordinate(LEFT + plot_w),
            gy = coordinate(y(rate)),
            lx = LEFT - 8.0,
            ly = coordinate(y(rate) + 4.0),
            label = quarter * 25,
        );
    }
    let _ = write!(
        svg,
        r##"<text x="16" y="{cy}" text-anchor="middle" fill="#1f2328" transform="rotate(-90 16 {cy})">cache hit rate</text><text x="{cx}" y="{ty}" text-anchor="middle" fill="#1f2328">run (oldest → newest)</text>"##,
        cy = coordinate(TOP + plot_h / 2.0),
        cx = coordinate(LEFT + plot_w / 2.0),
        ty = coordinate(HEIGHT - 8.0),
    );
    let every = points.len().div_ceil(MAX_X_LABELS).max(1);
    for i in (0..points.len()).filter(|i| i % every == 0 || *i + 1 == points.len()) {
        let _ = write!(
            svg,
            r##"<text x="{tx}" y="{ty}" text-anchor="middle" fill="#57606a">{n}</text>"##,
            tx = coordinate(x(i)),
            ty = coordinate(bottom + 18.0),
            n = i + 1,
        );
    }
    // The line, broken where a run had no lookups.
    let mut segment: Vec<String> = Vec::new();
    let mut lines: Vec<Vec<String>> = Vec::new();
    for (i, point) in points.iter().enumerate() {
        match point.rate {
            Some(rate) => segment.push(format!("{},{}", coordinate(x(i)), coordinate(y(rate)))),
            None => lines.push(std::mem::take(&mut segment)),
        }
    }
    lines.push(segment);
    for line in lines.iter().filter(|l| l.len() > 1) {
        let _ = write!(
            svg,
            r##"<polyline class="line" points="{}" fill="none" stroke="#4e79a7" stroke-width="2"/>"##,
            line.join(" ")
        );
    }
    for (i, point) in points.iter().enumerate() {
        let Some(rate) = point.rate else { continue };
        let status = point.status.as_str();
        let fill = if status == "succeeded" { "#4e79a7" } else { "#e15759" };
        let title = format!(
            "run {} ({}), {}, {}: {} of {} lookups hit ({})",
            i + 1,
            point.run_id,
            utc_text(point.started_ms),
            status,
            point.hits,
            point.lookups,
            percent_text(Some(rate))
        );
        let _ = write!(
            svg,
            r##"<circle class="point {status}" data-run="{id}" cx="{cx}" cy="{cy}" r="4" fill="{fill}" stroke="#ffffff" stroke-width="1"><title>{title}</title></circle>"##,
            id = html_escape(&point.run_id),
            cx = coordinate(x(i)),
            cy = coordinate(y(rate)),
            title = html_escape(&title),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_data::tests::sample_report;

    #[test]
    fn a_point_per_run_with_lookups_and_labelled_axes() {
        let report = sample_report();
        let svg = hit_rate_svg(&report.hit_rate_over_time);
        assert_eq!(svg.matches("<circle class=\"point").count(), 3, "{svg}");
        assert!(svg.contains(r#"class="point failed" data-run="run3""#), "{svg}");
        assert!(svg.contains(">100%</text>") && svg.contains(">0%</text>"), "{svg}");
        assert!(svg.contains("cache hit rate</text>") && svg.contains("run (oldest → newest)</text>"), "{svg}");
        assert!(svg.contains("1 of 3 lookups hit (33.3%)"), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 1);
    }

    #[test]
    fn no_runs_draws_axes_only() {
        let svg = hit_rate_svg(&[]);
        assert!(!svg.contains("<circle"), "{svg}");
        assert!(!svg.contains("<polyline"), "{svg}");
    }
}
