//! All output goes through here: data to stdout, everything for people to stderr.

use std::io::Write;

/// Where output goes. Writes ignore broken pipes (`attest run | head`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Printer;

impl Printer {
    /// A line of data (JSON, schema) on stdout.
    pub(crate) fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// A line for people on stderr.
    pub(crate) fn info(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }

    /// An error and optional hint on stderr.
    pub(crate) fn error(&self, text: &str, hint: Option<&str>) {
        let mut message = format!("error: {text}");
        if let Some(hint) = hint {
            message.push_str(&format!("\n\nhint: {hint}"));
        }
        self.info(&message);
    }

    /// A warning on stderr.
    pub(crate) fn warn(&self, text: &str) {
        self.info(&format!("warning: {text}"));
    }

    /// Writes raw text to stderr without a newline (pre-rendered blocks).
    pub(crate) fn raw_err(&self, text: &str) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
