//! Text from the run history (step names, paths in miss reasons, failure details) made
//! safe for HTML and inline SVG. Everything a report shows passes through here: a step
//! named `<script>` must read as that name, never run.

use crate::message_spans::{Span, message_spans};

/// `text` with `& < > " '` as character references: safe as element content and inside
/// a quoted attribute value.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A message for people whose `backticked` parts name things (steps, paths, settings), as
/// HTML: those parts in `<code>`, every part escaped. An unpaired backtick stays text.
pub(crate) fn html_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    for span in message_spans(message) {
        match span {
            Span::Code(name) => {
                out.push_str("<code>");
                out.push_str(&html_escape(name));
                out.push_str("</code>");
            }
            Span::Text(text) => out.push_str(&html_escape(text)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_become_references() {
        assert_eq!(html_escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&#39;");
        assert_eq!(html_escape("plain-name_1"), "plain-name_1");
    }

    #[test]
    fn backticked_parts_become_code_and_stay_escaped() {
        assert_eq!(
            html_message("`a<b>` missed: exclude `!x&y`"),
            "<code>a&lt;b&gt;</code> missed: exclude <code>!x&amp;y</code>"
        );
        assert_eq!(html_message("one ` unpaired <"), "one ` unpaired &lt;");
        assert_eq!(html_message(""), "");
    }
}
