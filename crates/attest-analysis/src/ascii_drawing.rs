//! The text drawing of `attest pipeline show`: one block per level, each step with what it
//! needs, the critical path marked `*`, then a summary.
//!
//! Every line fits in `width` columns: lists of needs, the critical path and the
//! bottlenecks wrap onto indented continuation lines, and a name wider than a whole line is
//! cut. Plain ASCII (`*`, `<-`, `->`), like the rest of the CLI's output.

use std::fmt::Write as _;

use crate::duration_text::duration_text;
use crate::line_wrap::wrap_words;
use crate::pipeline_view::{BOTTLENECK_MIN_DEPENDENTS, PathLength, PipelineView, StepView};

/// The width the CLI draws for: a classic terminal.
pub const DEFAULT_WIDTH: usize = 80;

/// Names are padded to the longest in their level, up to this many columns, so that the
/// needs of a level start in one column.
const NAME_COLUMN_MAX: usize = 28;

/// How many bottlenecks the summary names (JSON has them all).
const BOTTLENECKS_SHOWN: usize = 5;

/// Draws `view` as text lines of at most `width` columns (at least 20), ending with a
/// newline.
pub fn ascii_drawing(view: &PipelineView, width: usize) -> String {
    let width = width.max(20);
    let mut lines: Vec<String> = Vec::new();
    let steps = plural(view.steps.len(), "step", "steps");
    let levels = plural(view.depth, "level", "levels");
    let title = match &view.name {
        Some(name) => format!("{name}: {steps} in {levels};"),
        None => format!("{steps} in {levels};"),
    };
    lines.extend(sentence(&format!("{title} * marks the critical path"), width));

    let by_duration = matches!(view.critical_path.length, PathLength::Duration(_));
    for (level, names) in view.levels.iter().enumerate() {
        lines.push(String::new());
        lines.extend(match names.len() {
            1 => sentence(&format!("Level {level}"), width),
            n => sentence(&format!("Level {level} ({n} in parallel)"), width),
        });
        let pad = names.iter().map(|name| name.chars().count()).max().unwrap_or(0).min(NAME_COLUMN_MAX);
        for (_, step) in view.level_steps(level) {
            lines.extend(step_lines(step, pad, by_duration, width));
        }
    }

    lines.push(String::new());
    lines.extend(critical_path_lines(view, width));
    lines.extend(sentence(&format!("Depth: {}", plural(view.depth, "level", "levels")), width));
    if let Some(level) = view.widest_level() {
        let widest = format!("Widest level: {} (level {level})", plural(view.max_parallelism, "step", "steps"));
        lines.extend(sentence(&widest, width));
    }
    lines.extend(bottleneck_lines(view, width));

    let mut text = String::new();
    for line in lines {
        let _ = writeln!(text, "{line}");
    }
    text
}

/// `  * name   1.2s  <- a, b, c`, wrapped.
fn step_lines(step: &StepView, pad: usize, by_duration: bool, width: usize) -> Vec<String> {
    let marker = if step.on_critical_path { '*' } else { ' ' };
    let mut head = format!("  {marker} {:<pad$}", step.name);
    if by_duration {
        let time = step.weight.map(duration_text).unwrap_or_default();
        let _ = write!(head, " {time:>6}");
    }
    if step.needs.is_empty() {
        return wrap_words::<&str>(head.trim_end(), &[], 6, width);
    }
    head.push_str("  <-");
    let indent = head.chars().count() + 1;
    // A name too long to leave room for its needs: needs go on the next lines.
    let indent = if indent > width / 2 { 6 } else { indent };
    wrap_words(&head, &listed(&step.needs, ","), indent, width)
}

fn critical_path_lines(view: &PipelineView, width: usize) -> Vec<String> {
    let path = &view.critical_path;
    let total = view.steps.len();
    let caption = match path.length {
        PathLength::Duration(length) => {
            let runs = path.runs.map(|runs| format!(" from {}", plural(runs, "run", "runs"))).unwrap_or_default();
            format!(
                "Critical path: {}, {}, by median duration{runs}",
                duration_text(length),
                plural(path.steps.len(), "step", "steps")
            )
        }
        PathLength::Steps(count) if path.durations_known == 0 => {
            format!("Critical path: {}, by step count (durations unknown)", plural(count, "step", "steps"))
        }
        PathLength::Steps(count) => format!(
            "Critical path: {}, by step count (durations known for {} of {total} steps)",
            plural(count, "step", "steps"),
            path.durations_known
        ),
    };
    let names: Vec<String> = match path.length {
        PathLength::Duration(_) => path
            .steps
            .iter()
            .map(|name| {
                let weight = view.steps.iter().find(|step| step.name == *name).and_then(|step| step.weight);
                format!("{name} ({})", weight.map(duration_text).unwrap_or_default())
            })
            .collect(),
        PathLength::Steps(_) => path.steps.clone(),
    };
    let mut lines = sentence(&caption, width);
    lines.extend(wrap_words("  ", &listed(&names, " ->"), 4, width));
    lines
}

fn bottleneck_lines(view: &PipelineView, width: usize) -> Vec<String> {
    if view.bottlenecks.is_empty() {
        return sentence(
            &format!("Bottlenecks: none (no step has {BOTTLENECK_MIN_DEPENDENTS} or more steps waiting on it)"),
            width,
        );
    }
    let shown: Vec<String> = view
        .bottlenecks
        .iter()
        .take(BOTTLENECKS_SHOWN)
        .map(|bottleneck| format!("{} {}", bottleneck.step, bottleneck.dependents))
        .collect();
    let mut words = listed(&shown, ",");
    let more = view.bottlenecks.len().saturating_sub(BOTTLENECKS_SHOWN);
    if more > 0 {
        if let Some(last) = words.last_mut() {
            last.push(',');
        }
        words.extend(["and".to_owned(), more.to_string(), "more".to_owned()]);
    }
    wrap_words("Bottlenecks (steps waiting on each):", &words, 2, width)
}

/// A line of prose, wrapped at spaces, continuation lines indented by two.
fn sentence(text: &str, width: usize) -> Vec<String> {
    let words: Vec<&str> = text.split(' ').collect();
    wrap_words("", &words, 2, width)
}

/// `items` with `separator` after each but the last.
fn listed(items: &[String], separator: &str) -> Vec<String> {
    let last = items.len().saturating_sub(1);
    items
        .iter()
        .enumerate()
        .map(|(i, item)| if i < last { format!("{item}{separator}") } else { item.clone() })
        .collect()
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use attest_pipeline::Graph;
    use proptest::prelude::*;

    use super::*;
    use crate::pipeline_view::tests::{dag, hello_c, view_of};

    #[test]
    fn the_example_by_step_count() {
        assert_eq!(
            ascii_drawing(&hello_c(), DEFAULT_WIDTH),
            "\
6 steps in 5 levels; * marks the critical path

Level 0
  * configure

Level 1 (2 in parallel)
  * compile-main   <- configure
    compile-greet  <- configure

Level 2
  * link  <- compile-main, compile-greet

Level 3
  * test  <- link

Level 4
  * package  <- link, test

Critical path: 5 steps, by step count (durations unknown)
  configure -> compile-main -> link -> test -> package
Depth: 5 levels
Widest level: 2 steps (level 1)
Bottlenecks (steps waiting on each): configure 5, compile-main 3,
  compile-greet 3, link 2
"
        );
    }

    #[test]
    fn with_durations_steps_show_their_median() {
        let view = view_of(&[&[], &[0], &[0]], &[("s0", 1_200), ("s1", 65_000), ("s2", 300)]).with_run_count(12);
        assert_eq!(
            ascii_drawing(&view, DEFAULT_WIDTH),
            "\
3 steps in 2 levels; * marks the critical path

Level 0
  * s0   1.2s

Level 1 (2 in parallel)
  * s1  1m05s  <- s0
    s2   0.3s  <- s0

Critical path: 1m06s, 2 steps, by median duration from 12 runs
  s0 (1.2s) -> s1 (1m05s)
Depth: 2 levels
Widest level: 2 steps (level 1)
Bottlenecks (steps waiting on each): s0 2
"
        );
    }

    #[test]
    fn the_path_is_in_path_order_not_declaration_order() {
        // s0 needs s1: declared first, runs second.
        let text = ascii_drawing(&view_of(&[&[1], &[]], &[("s0", 2_000), ("s1", 1_000)]), DEFAULT_WIDTH);
        assert!(text.contains("\n  s1 (1.0s) -> s0 (2.0s)\n"), "{text}");
        let text = ascii_drawing(&view_of(&[&[1], &[]], &[]), DEFAULT_WIDTH);
        assert!(text.contains("\n  s1 -> s0\n"), "{text}");
    }

    #[test]
    fn partial_durations_say_so_and_no_bottlenecks_say_none() {
        let text = ascii_drawing(&view_of(&[&[], &[0]], &[("s0", 5)]), DEFAULT_WIDTH);
        assert!(text.contains("Critical path: 2 steps, by step count (durations known for 1 of 2 steps)\n"), "{text}");
        assert!(text.contains("Bottlenecks: none (no step has 2 or more steps waiting on it)\n"), "{text}");
    }

    /// 30 steps with long names: a wide level 0, a fan-in of 20, a long chain.
    fn thirty_steps() -> PipelineView {
        let mut dependencies: Vec<Vec<usize>> = (0..20).map(|_| Vec::new()).collect();
        dependencies.push((0..20).collect());
        for i in 21..30 {
            dependencies.push(vec![i - 1, i - 21]);
        }
        let names: Vec<String> = (0..30)
            .map(|i| match i {
                7 => "a-step-name-far-too-long-for-any-terminal-column-".repeat(3),
                _ => format!("service-{i:02}.integration-tests:linux-x86_64"),
            })
            .collect();
        let graph = Graph::new(dependencies).unwrap();
        PipelineView::from_graph(&names, &graph, &BTreeMap::new())
    }

    #[test]
    fn thirty_steps_fit_in_80_columns() {
        let view = thirty_steps();
        let text = ascii_drawing(&view, DEFAULT_WIDTH);
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{} columns: {line}\n{text}", line.chars().count());
        }
        // Nothing is lost by wrapping: every name and every edge is there.
        let joined: String = text.split_whitespace().collect();
        for step in &view.steps {
            assert!(joined.contains(&step.name), "{} missing\n{text}", step.name);
        }
        assert_eq!(text.matches("Level ").count(), view.depth, "{text}");
        assert!(text.contains("Level 0 (20 in parallel)"), "{text}");
    }

    #[test]
    fn the_same_at_durations_known() {
        let view = thirty_steps();
        let medians: BTreeMap<String, Duration> =
            view.steps.iter().enumerate().map(|(i, s)| (s.name.clone(), Duration::from_secs(i as u64 * 7))).collect();
        let names: Vec<String> = view.steps.iter().map(|s| s.name.clone()).collect();
        let deps: Vec<Vec<usize>> = view
            .steps
            .iter()
            .map(|s| s.needs.iter().map(|n| names.iter().position(|m| m == n).unwrap()).collect())
            .collect();
        let view = PipelineView::from_graph(&names, &Graph::new(deps).unwrap(), &medians).with_run_count(3);
        let text = ascii_drawing(&view, DEFAULT_WIDTH);
        assert!(text.lines().all(|line| line.chars().count() <= 80), "{text}");
        assert!(text.contains("by median duration from 3 runs"), "{text}");
    }

    proptest! {
        #[test]
        fn no_line_passes_the_width(
            dependencies in dag(),
            lengths in proptest::collection::vec(1usize..120, 40),
            width in 20usize..100,
        ) {
            let names: Vec<String> =
                lengths.iter().take(dependencies.len()).enumerate().map(|(i, &len)| format!("{i}-{}", "x".repeat(len))).collect();
            let view = PipelineView::from_graph(&names, &Graph::new(dependencies).unwrap(), &BTreeMap::new());
            let text = ascii_drawing(&view, width);
            for line in text.lines() {
                prop_assert!(line.chars().count() <= width, "{} > {width}: {line}", line.chars().count());
            }
        }
    }
}
