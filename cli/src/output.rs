//! What the commands print on standard output: text for people, or, with
//! `--json`, one JSON document per line for scripts. Written once here, so
//! a closed pipe (`gemini-webhooks events | head -1`) ends the command
//! quietly instead of panicking, as `println!` would.

use std::fmt::Display;
use std::io::Write as _;

use serde_json::Value;

/// The output mode the `--json` flag chose.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Whether `--json` was given.
    pub fn is_json(self) -> bool {
        self.json
    }

    /// `value` as one JSON line with `--json`; otherwise the text `text`
    /// makes (one line or several).
    pub fn show(self, text: impl FnOnce() -> String, value: impl FnOnce() -> Value) {
        if self.json {
            line(value());
        } else {
            line(text());
        }
    }
}

/// One line on standard output, whatever the mode. A reader that went
/// away (a broken pipe) ends the process with success: nobody is left to
/// read the rest.
pub fn line(text: impl Display) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// A line on standard error that never panics: whoever started us may have
/// closed it.
pub fn note(text: impl Display) {
    let _ = writeln!(std::io::stderr(), "{text}");
}
