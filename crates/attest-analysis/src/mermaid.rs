//! A Mermaid flowchart of the step graph (GitHub renders ```` ```mermaid ```` blocks).
//!
//! Node ids are `s0`, `s1`, … (the step's index), since Mermaid ids cannot hold every
//! character a step name may; the name is the node's quoted label, with the characters
//! Mermaid would interpret written as its `#…;` entity codes. The critical path's nodes get
//! the `critical` class and its edges a `linkStyle`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::duration_text::duration_text;
use crate::pipeline_view::{PathLength, PipelineView};

/// The style of the critical path.
const CRITICAL_STYLE: &str = "stroke:#cc3333,stroke-width:3px";

/// The step graph of `view` as a Mermaid `flowchart LR`.
pub fn mermaid(view: &PipelineView) -> String {
    let mut out = String::from("flowchart LR\n");
    let by_duration = matches!(view.critical_path.length, PathLength::Duration(_));
    let ids: BTreeMap<&str, usize> = view.steps.iter().enumerate().map(|(i, step)| (step.name.as_str(), i)).collect();
    for (i, step) in view.steps.iter().enumerate() {
        let label = match step.weight {
            Some(weight) if by_duration => format!("{} ({})", step.name, duration_text(weight)),
            _ => step.name.clone(),
        };
        let _ = writeln!(out, "  s{i}[\"{}\"]", label_text(&label));
    }
    let path = &view.critical_path.steps;
    let mut critical_edges = Vec::new();
    let mut edge = 0;
    for (i, step) in view.steps.iter().enumerate() {
        for need in &step.needs {
            let Some(from) = ids.get(need.as_str()) else { continue };
            let _ = writeln!(out, "  s{from} --> s{i}");
            if path.windows(2).any(|pair| pair[0] == *need && pair[1] == step.name) {
                critical_edges.push(edge.to_string());
            }
            edge += 1;
        }
    }
    let critical_nodes: Vec<String> =
        view.steps.iter().enumerate().filter(|(_, step)| step.on_critical_path).map(|(i, _)| format!("s{i}")).collect();
    if !critical_nodes.is_empty() {
        let _ = writeln!(out, "  classDef critical {CRITICAL_STYLE}");
        let _ = writeln!(out, "  class {} critical", critical_nodes.join(","));
    }
    if !critical_edges.is_empty() {
        let _ = writeln!(out, "  linkStyle {} {CRITICAL_STYLE}", critical_edges.join(","));
    }
    out
}

/// Text for inside `["…"]`: quotes, entity and HTML characters as entity codes, newlines
/// as spaces.
fn label_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#38;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline_view::tests::{hello_c, view_of};

    #[test]
    fn the_example() {
        assert_eq!(
            mermaid(&hello_c()),
            "\
flowchart LR
  s0[\"configure\"]
  s1[\"compile-main\"]
  s2[\"compile-greet\"]
  s3[\"link\"]
  s4[\"test\"]
  s5[\"package\"]
  s0 --> s1
  s0 --> s2
  s1 --> s3
  s2 --> s3
  s3 --> s4
  s3 --> s5
  s4 --> s5
  classDef critical stroke:#cc3333,stroke-width:3px
  class s0,s1,s3,s4,s5 critical
  linkStyle 0,2,4,6 stroke:#cc3333,stroke-width:3px
"
        );
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label_text("build:linux-x86_64.v2"), "build:linux-x86_64.v2");
        assert_eq!(label_text("a \"b\" <c> #d & `e`\nf"), "a #quot;b#quot; #lt;c#gt; #35;d #38; #96;e#96; f");
    }

    #[test]
    fn durations_are_in_labels() {
        let text = mermaid(&view_of(&[&[], &[0]], &[("s0", 1_500), ("s1", 200)]));
        assert!(text.contains("  s0[\"s0 (1.5s)\"]\n"), "{text}");
    }
}
