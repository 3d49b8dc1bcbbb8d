//! Greedy wrapping of words into lines of a fixed width, for the text drawing.
//!
//! Widths are counted in `char`s: step names are ASCII, and the drawing uses no wide
//! characters. A word wider than a whole line is cut, so that no line ever passes `width`.

/// Lays `words` out after `first` (the start of the first line), one space between words,
/// starting a new line indented by `indent` spaces whenever the next word would pass
/// `width`. Returns the lines, without trailing spaces or newlines.
pub(crate) fn wrap_words<S: AsRef<str>>(first: &str, words: &[S], indent: usize, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut wrapper = Wrapper { lines: Vec::new(), line: String::new(), indent: indent.min(width / 2), width };
    wrapper.place(first, false);
    for word in words {
        wrapper.place(word.as_ref(), true);
    }
    wrapper.finish()
}

struct Wrapper {
    lines: Vec<String>,
    line: String,
    indent: usize,
    width: usize,
}

impl Wrapper {
    fn used(&self) -> usize {
        self.line.chars().count()
    }

    fn is_blank(&self) -> bool {
        self.line.trim().is_empty()
    }

    fn place(&mut self, word: &str, spaced: bool) {
        let gap = usize::from(spaced && !self.is_blank());
        if self.used() + gap + word.chars().count() > self.width && !self.is_blank() {
            self.break_line();
        } else if gap == 1 {
            self.line.push(' ');
        }
        // The word fits, or the line is blank and the word is wider than it: cut it.
        let mut rest: Vec<char> = word.chars().collect();
        loop {
            let room = self.width.saturating_sub(self.used()).max(1);
            if rest.len() <= room {
                self.line.extend(rest);
                return;
            }
            self.line.extend(rest.drain(..room));
            self.break_line();
        }
    }

    fn break_line(&mut self) {
        let line = std::mem::replace(&mut self.line, " ".repeat(self.indent));
        self.lines.push(line.trim_end().to_owned());
    }

    fn finish(mut self) -> Vec<String> {
        if !self.is_blank() || self.lines.is_empty() {
            self.lines.push(self.line.trim_end().to_owned());
        }
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_the_width_with_an_indent() {
        let lines = wrap_words("deps:", &["aaaa,", "bbbb,", "cccc"], 2, 12);
        assert_eq!(lines, ["deps: aaaa,", "  bbbb, cccc"]);
    }

    #[test]
    fn a_word_wider_than_a_line_is_cut() {
        let lines = wrap_words("x", &["0123456789abcdef"], 2, 8);
        assert!(lines.iter().all(|l| l.chars().count() <= 8), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), "x0123456789abcdef");
    }

    #[test]
    fn a_long_first_part_is_cut_too() {
        let lines = wrap_words("0123456789", &["a"], 0, 4);
        assert_eq!(lines, ["0123", "4567", "89 a"]);
    }

    #[test]
    fn nothing_to_wrap() {
        assert_eq!(wrap_words::<&str>("only", &[], 2, 80), ["only"]);
    }
}
