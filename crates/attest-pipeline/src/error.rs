use std::fmt;

use crate::node::Location;

/// One problem in a pipeline file, with where it is and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineError {
    /// The file as the user named it.
    pub file: String,
    /// Line and column, when the problem has a place.
    pub location: Option<Location>,
    /// What is wrong, one line.
    pub message: String,
    /// What to write instead, when known.
    pub hint: Option<String>,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(f, "{}:{}:{}: {}", self.file, l.line, l.column, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in a pipeline file, sorted by location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineErrors {
    errors: Vec<PipelineError>,
}

impl PipelineErrors {
    pub(crate) fn new(mut errors: Vec<PipelineError>) -> Self {
        errors.sort_by(|a, b| a.location.cmp(&b.location).then_with(|| a.message.cmp(&b.message)));
        errors.dedup();
        Self { errors }
    }

    /// The problems, sorted by location.
    pub fn errors(&self) -> &[PipelineError] {
        &self.errors
    }

    /// Renders every problem with the line of source it points at:
    ///
    /// ```text
    /// error: unknown key `ouputs` in step `build`
    ///   --> attest.yaml:7:5
    ///    |
    ///  7 |     ouputs: [dist/app]
    ///    |     ^^^^^^
    ///    = hint: did you mean `outputs`?
    /// ```
    pub fn render(&self, source: &str) -> String {
        let lines: Vec<&str> = source.lines().collect();
        let mut out = String::new();
        for error in &self.errors {
            out.push_str(&format!("error: {}\n", error.message));
            match error.location {
                Some(location) => {
                    let number = location.line.to_string();
                    let pad = " ".repeat(number.len());
                    out.push_str(&format!("{pad}--> {}:{}:{}\n", error.file, location.line, location.column));
                    let line =
                        usize::try_from(location.line).ok().and_then(|l| l.checked_sub(1)).and_then(|l| lines.get(l));
                    if let Some(text) = line {
                        let column = usize::try_from(location.column).unwrap_or(1).max(1);
                        let token: usize = text
                            .chars()
                            .skip(column - 1)
                            .take_while(|c| !matches!(c, ' ' | ':' | ',' | ']' | '}' | '#'))
                            .count()
                            .max(1);
                        out.push_str(&format!("{pad} |\n{number} | {text}\n"));
                        out.push_str(&format!("{pad} | {}{}\n", " ".repeat(column - 1), "^".repeat(token)));
                    }
                    if let Some(hint) = &error.hint {
                        out.push_str(&format!("{pad} = hint: {hint}\n"));
                    }
                }
                None => {
                    out.push_str(&format!("  --> {}\n", error.file));
                    if let Some(hint) = &error.hint {
                        out.push_str(&format!("   = hint: {hint}\n"));
                    }
                }
            }
            out.push('\n');
        }
        let count = self.errors.len();
        out.push_str(&format!(
            "error: {} has {count} problem{}\n",
            self.errors.first().map_or("the pipeline", |e| e.file.as_str()),
            if count == 1 { "" } else { "s" }
        ));
        out
    }
}

impl fmt::Display for PipelineErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PipelineErrors {}
