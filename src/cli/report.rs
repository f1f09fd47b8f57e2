//! Renders errors: `error:` with the cause chain, then `hint:` lines that say
//! what to do next. Owns the exit codes.

use std::process::ExitCode;

/// The process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything worked.
    Success,
    /// The command failed or found problems.
    Failure,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::FAILURE,
        }
    }
}

/// Prints an error, its causes and any hints to stderr.
pub fn print_error(error: &anyhow::Error) {
    for line in error_lines(error) {
        errln!("{line}");
    }
    let hints = hints(error);
    if !hints.is_empty() {
        errln!("");
    }
    for hint in hints {
        errln!("hint: {hint}");
    }
}

/// The error and each cause it does not already say
/// (`#[error("…: {source}")]`, or a transparent wrapper).
fn error_lines(error: &anyhow::Error) -> Vec<String> {
    // `Error: `, as LuaRocks begins its errors (scripts grep for it).
    let mut lines = vec![format!(
        "Error: {}",
        rockstore::printable::error_text(&error.to_string())
    )];
    let mut said = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if said.contains(&text) {
            continue;
        }
        lines.push(format!(
            "  caused by: {}",
            rockstore::printable::error_text(&text)
        ));
        said.push('\n');
        said.push_str(&text);
    }
    lines
}

/// The hints the library's errors give (`rockstore::hints_of`), for the
/// first error in the chain that the library raised.
fn hints(error: &anyhow::Error) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for cause in error.chain() {
        for h in rockstore::hints_of(cause) {
            if !out.contains(&h) {
                out.push(h);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_already_says_is_not_said_again() {
        let io = std::io::Error::other("disk on fire");
        let error = anyhow::Error::new(io).context("cannot write x: disk on fire");
        assert_eq!(error_lines(&error), ["Error: cannot write x: disk on fire"]);
        let io = std::io::Error::other("disk on fire");
        let error = anyhow::Error::new(io).context("cannot write x");
        assert_eq!(
            error_lines(&error),
            ["Error: cannot write x", "  caused by: disk on fire"]
        );
    }
}
