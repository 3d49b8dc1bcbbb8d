//! Charts as SVG text, made here rather than by a script in the page: a report then works
//! offline, with scripts disabled, in any browser, and tests can read its marks. Each chart
//! is one `<svg>` element meant to be inlined in HTML (no XML prolog or namespace needed);
//! every text in it is escaped, and every mark carries a `<title>` (its tooltip) saying
//! what it stands for. Widths are SVG units in a `viewBox`: the chart scales to the page.
//! Labels are fitted with an average character width, not measured: a label that might
//! not fit is left out, and its mark's tooltip still names it.

mod hit_rate_svg;
mod slowest_steps_svg;
mod timeline_svg;

pub(crate) use hit_rate_svg::hit_rate_svg;
pub(crate) use slowest_steps_svg::slowest_steps_svg;
pub(crate) use timeline_svg::{by_start, outcome_text, timeline_svg};

/// The width of every chart, in SVG units.
const WIDTH: f64 = 960.0;
/// A generous average advance of one character at the charts' 12px font.
const CHAR_WIDTH: f64 = 7.0;
/// The attributes every chart's `<svg>` element starts with.
const SVG_FONT: &str = r#"font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="12""#;

/// A round step between ticks for at most about `max_ticks` ticks from 0 to `max`: 1, 2 or
/// 5 times a power of ten.
fn tick_step(max: f64, max_ticks: usize) -> f64 {
    let raw = (max / max_ticks.max(1) as f64).max(f64::MIN_POSITIVE);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|step| *step >= raw).unwrap_or(10.0 * power)
}

/// A coordinate with at most one decimal (`12`, `12.5`).
fn coordinate(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map_or_else(|| text.clone(), str::to_owned)
}

/// `text` cut to at most `chars` characters, ending with `…` when cut.
fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Estimated width of `text` in SVG units.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_WIDTH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(1_000.0, 8), 200.0);
        assert_eq!(tick_step(113.0, 8), 20.0);
        assert_eq!(tick_step(1.0, 8), 0.2);
        assert_eq!(tick_step(45_000.0, 8), 10_000.0);
    }

    #[test]
    fn coordinates_and_truncation() {
        assert_eq!(coordinate(12.0), "12");
        assert_eq!(coordinate(12.46), "12.5");
        assert_eq!(truncate("compile", 10), "compile");
        assert_eq!(truncate("compile-everything", 8), "compile…");
    }
}
