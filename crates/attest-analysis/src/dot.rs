//! Graphviz DOT of the step graph: one rank per level, the critical path in bold red.
//!
//! Node ids are the step names, quoted and escaped, so any name is a valid id (names may
//! hold `-`, `.` and `:`, which bare DOT ids may not). Edges point from a step to the steps
//! that need it, the direction work flows.

use std::fmt::Write as _;

use crate::duration_text::duration_text;
use crate::pipeline_view::{PathLength, PipelineView};

/// The highlight of the critical path's nodes and edges.
const CRITICAL: &str = "color=\"#cc3333\", penwidth=2.5";

/// The step graph of `view` as a Graphviz `digraph`, left to right (`dot -Tsvg` draws it).
pub fn dot(view: &PipelineView) -> String {
    let mut out = String::new();
    let name = view.name.as_deref().unwrap_or("pipeline");
    let _ = writeln!(out, "digraph {} {{", quoted(name));
    let _ = writeln!(out, "  // {}", caption(view));
    out.push_str("  rankdir=LR;\n");
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    out.push_str("  edge [color=\"#555555\"];\n");
    for step in &view.steps {
        let label = match step.weight {
            Some(weight) if matches!(view.critical_path.length, PathLength::Duration(_)) => {
                format!(" [label={}]", quoted(&format!("{}\n{}", step.name, duration_text(weight))))
            }
            _ => String::new(),
        };
        let style = if step.on_critical_path { format!(" [{CRITICAL}]") } else { String::new() };
        let _ = writeln!(out, "  {}{label}{style};", quoted(&step.name));
    }
    for names in view.levels.iter().filter(|names| names.len() > 1) {
        let members: Vec<String> = names.iter().map(|name| format!("{};", quoted(name))).collect();
        let _ = writeln!(out, "  {{ rank=same; {} }}", members.join(" "));
    }
    let path = &view.critical_path.steps;
    for step in &view.steps {
        for need in &step.needs {
            let critical = path.windows(2).any(|pair| pair[0] == *need && pair[1] == step.name);
            let style = if critical { format!(" [{CRITICAL}]") } else { String::new() };
            let _ = writeln!(out, "  {} -> {}{style};", quoted(need), quoted(&step.name));
        }
    }
    out.push_str("}\n");
    out
}

/// A comment line: what the bold path is.
fn caption(view: &PipelineView) -> String {
    let path = &view.critical_path;
    match path.length {
        PathLength::Duration(length) => format!("critical path (bold): {}, by median duration", duration_text(length)),
        PathLength::Steps(count) => format!("critical path (bold): {count} steps, by step count"),
    }
}

/// A DOT double-quoted string: `"` and `\` escaped, a newline as DOT's `\n`.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline_view::tests::{hello_c, view_of};

    #[test]
    fn the_example() {
        assert_eq!(
            dot(&hello_c()),
            r##"digraph "pipeline" {
  // critical path (bold): 5 steps, by step count
  rankdir=LR;
  node [shape=box, style=rounded, fontname="Helvetica"];
  edge [color="#555555"];
  "configure" [color="#cc3333", penwidth=2.5];
  "compile-main" [color="#cc3333", penwidth=2.5];
  "compile-greet";
  "link" [color="#cc3333", penwidth=2.5];
  "test" [color="#cc3333", penwidth=2.5];
  "package" [color="#cc3333", penwidth=2.5];
  { rank=same; "compile-main"; "compile-greet"; }
  "configure" -> "compile-main" [color="#cc3333", penwidth=2.5];
  "configure" -> "compile-greet";
  "compile-main" -> "link" [color="#cc3333", penwidth=2.5];
  "compile-greet" -> "link";
  "link" -> "test" [color="#cc3333", penwidth=2.5];
  "link" -> "package";
  "test" -> "package" [color="#cc3333", penwidth=2.5];
}
"##
        );
    }

    #[test]
    fn ids_are_quoted_and_escaped() {
        assert_eq!(quoted("build:linux-x86_64.v2"), r#""build:linux-x86_64.v2""#);
        assert_eq!(quoted(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
        assert_eq!(quoted("two\nlines"), r#""two\nlines""#);
    }

    #[test]
    fn durations_become_labels() {
        let text = dot(&view_of(&[&[], &[0]], &[("s0", 1_500), ("s1", 200)]));
        assert!(text.contains("  \"s0\" [label=\"s0\\n1.5s\"] [color=\"#cc3333\", penwidth=2.5];\n"), "{text}");
        assert!(text.contains("// critical path (bold): 1.7s, by median duration"), "{text}");
    }
}
