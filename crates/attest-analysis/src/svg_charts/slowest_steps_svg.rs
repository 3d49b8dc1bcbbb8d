//! [`slowest_steps_svg`]: the steps that take longest when they execute, as horizontal
//! bars, slowest on top (`<rect class="slow-bar" data-step="NAME">`).

use std::fmt::Write as _;

use super::{CHAR_WIDTH, SVG_FONT, WIDTH, coordinate, text_width, truncate};
use crate::NamedSeconds;
use crate::html_escape::html_escape;

const ROW: f64 = 26.0;
const BAR: f64 = 18.0;
const TOP: f64 = 6.0;
const VALUE: f64 = 72.0;
const MIN_LABELS: f64 = 80.0;
const MAX_LABELS: f64 = 260.0;

/// The first `limit` of `steps` (slowest first) as a bar chart, in SVG.
pub(crate) fn slowest_steps_svg(steps: &[NamedSeconds], limit: usize) -> String {
    let steps = &steps[..steps.len().min(limit)];
    let labels = (steps.iter().map(|s| text_width(&s.step)).fold(0.0, f64::max) + 16.0).clamp(MIN_LABELS, MAX_LABELS);
    let label_chars = ((labels - 16.0) / CHAR_WIDTH) as usize;
    let plot = WIDTH - labels - VALUE;
    let longest = steps.iter().map(|s| s.seconds).fold(0.0, f64::max);
    let height = TOP * 2.0 + ROW * steps.len().max(1) as f64;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart slowest" viewBox="0 0 {WIDTH} {h}" width="100%" role="img" {SVG_FONT}><title>The {n} slowest steps, average time when executed</title>"#,
        h = coordinate(height),
        n = steps.len(),
    );
    for (i, step) in steps.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let width = if longest > 0.0 { (plot * step.seconds / longest).max(2.0) } else { 2.0 };
        let title = format!("{}: {:.3}s on average when executed", step.step, step.seconds);
        let _ = write!(
            svg,
            r##"<text x="{lx}" y="{ty}" text-anchor="end" fill="#1f2328">{label}</text><rect class="slow-bar" data-step="{name}" x="{labels}" y="{by}" width="{w}" height="{BAR}" rx="2" fill="#f28e2b"><title>{title}</title></rect><text x="{vx}" y="{ty}" fill="#57606a">{value:.2}s</text>"##,
            lx = coordinate(labels - 8.0),
            ty = coordinate(y + ROW / 2.0 + 4.0),
            label = html_escape(&truncate(&step.step, label_chars)),
            name = html_escape(&step.step),
            labels = coordinate(labels),
            by = coordinate(y + (ROW - BAR) / 2.0),
            w = coordinate(width),
            title = html_escape(&title),
            vx = coordinate(labels + width + 6.0),
            value = step.seconds,
        );
    }
    if steps.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{cx}" y="{cy}" text-anchor="middle" fill="#57606a">no step executed in this period</text>"##,
            cx = coordinate(WIDTH / 2.0),
            cy = coordinate(TOP + ROW / 2.0 + 4.0),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(step: &str, seconds: f64) -> NamedSeconds {
        NamedSeconds { step: step.to_owned(), seconds }
    }

    #[test]
    fn bars_are_proportional_and_names_escaped() {
        let svg = slowest_steps_svg(&[named("a<b>&\"c", 4.0), named("b", 2.0), named("c", 1.0)], 2);
        assert_eq!(svg.matches("class=\"slow-bar\"").count(), 2, "limited: {svg}");
        assert!(svg.contains(r#"data-step="a&lt;b&gt;&amp;&quot;c""#), "{svg}");
        assert!(!svg.contains("a<b>"), "{svg}");
        let width = |step: &str| -> f64 {
            let at = svg.find(&format!("data-step=\"{step}\"")).expect("bar");
            let rest = &svg[at..];
            let w = &rest[rest.find("width=\"").expect("width") + 7..];
            w[..w.find('"').expect("end")].parse().expect("number")
        };
        assert!((width("a&lt;b&gt;&amp;&quot;c") - 2.0 * width("b")).abs() < 0.2);
    }

    #[test]
    fn nothing_executed_says_so() {
        assert!(slowest_steps_svg(&[], 10).contains("no step executed in this period"));
    }
}
