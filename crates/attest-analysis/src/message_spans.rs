//! Messages for people name things in backticks (`build`, `src/v.h`): [`message_spans`]
//! splits one into code and text, for the HTML and Markdown renderers to escape each their
//! own way.

/// A part of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span<'a> {
    /// A backticked name, without its backticks.
    Code(&'a str),
    /// Plain text (an unpaired backtick is text too).
    Text(&'a str),
}

/// The spans of `message`, in order.
pub(crate) fn message_spans(message: &str) -> Vec<Span<'_>> {
    let parts: Vec<&str> = message.split('`').collect();
    let last = parts.len() - 1;
    let mut spans = Vec::with_capacity(parts.len() + 1);
    for (i, part) in parts.into_iter().enumerate() {
        let inside = i % 2 == 1;
        if inside && (i < last || last.is_multiple_of(2)) {
            spans.push(Span::Code(part));
        } else {
            if inside {
                spans.push(Span::Text("`"));
            }
            spans.push(Span::Text(part));
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_backticks_make_code_and_an_unpaired_one_stays_text() {
        assert_eq!(
            message_spans("`a` and `b` then ` x"),
            [
                Span::Text(""),
                Span::Code("a"),
                Span::Text(" and "),
                Span::Code("b"),
                Span::Text(" then "),
                Span::Text("`"),
                Span::Text(" x"),
            ]
        );
    }
}
