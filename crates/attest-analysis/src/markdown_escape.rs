//! Text from the run history inside Markdown (GitHub-flavoured): emphasis, links, inline
//! HTML and table pipes in a step name or path must render as the characters they are.

use crate::message_spans::{Span, message_spans};

/// `text` with the characters Markdown reads as syntax backslash-escaped and line breaks
/// as spaces: safe in a paragraph, a list item and a table cell.
pub(crate) fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A message for people whose `backticked` parts name things, as Markdown: those parts as
/// code spans, the rest escaped. An unpaired backtick stays text.
pub(crate) fn markdown_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    for span in message_spans(message) {
        match span {
            // A span holds no backtick: one backtick delimits it.
            Span::Code(name) => {
                out.push('`');
                out.push_str(&name.replace(['\n', '\r'], " "));
                out.push('`');
            }
            Span::Text(text) => out.push_str(&markdown_text(text)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_characters_are_escaped() {
        assert_eq!(markdown_text(r#"a<b>&"c"#), r#"a\<b\>\&"c"#);
        assert_eq!(markdown_text("x|y *z*\nw"), r"x\|y \*z\* w");
        assert_eq!(markdown_text("build-lib.a"), "build-lib.a");
    }

    #[test]
    fn backticked_parts_become_code_spans() {
        assert_eq!(markdown_message("`a_b` missed *all*"), r"`a_b` missed \*all\*");
        assert_eq!(markdown_message("one ` unpaired"), r"one \` unpaired");
    }
}
