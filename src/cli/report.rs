//! Renders errors: `error:` with the cause chain, then `hint:` lines that say
//! what to do next. Owns the exit codes.

use std::process::ExitCode;

use rockstore::lua::EvalError;
use rockstore::store::ingest::IngestError;
use rockstore::store::StoreError;

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
    if let Some(hint) = hint(error) {
        errln!("\nhint: {hint}");
    }
}

/// The error and each cause it does not already say
/// (`#[error("…: {source}")]`, or a transparent wrapper).
fn error_lines(error: &anyhow::Error) -> Vec<String> {
    let mut lines = vec![format!("error: {error}")];
    let mut said = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if said.contains(&text) {
            continue;
        }
        lines.push(format!("  caused by: {text}"));
        said.push('\n');
        said.push_str(&text);
    }
    lines
}

fn hint(error: &anyhow::Error) -> Option<String> {
    if let Some(e) = error.chain().find_map(|e| e.downcast_ref::<EvalError>()) {
        return eval_hint(e);
    }
    let store_error = error.chain().find_map(|e| e.downcast_ref::<StoreError>())?;
    Some(match store_error {
        StoreError::NotAStore { .. } => "pass an empty or new directory with --store, or the root of an existing store".into(),
        StoreError::UnsupportedFormat { .. } => "use the rockstore version that created this store, or a new --store".into(),
        StoreError::Ambiguous { .. } => "give more characters of the item name, or its full path".into(),
        StoreError::NotFound(_) => "`rockstore store ls` lists the items in this store".into(),
        StoreError::UnknownReference(_) => "references are item names as `rockstore store ls` prints them; add the referenced item first".into(),
        StoreError::Ingest { source, .. } => match source {
            IngestError::BadSymlink { .. } | IngestError::UndeclaredReference { .. } => {
                "items are location-independent: links must be relative and stay inside the item (or enter a declared reference)".into()
            }
            IngestError::SpecialFile { .. } | IngestError::Privileged { .. } => {
                "remove the entry from the directory, then add it again; nothing was added to the store".into()
            }
            IngestError::BadName { .. } | IngestError::NonUtf8Target { .. } => {
                "rename the entry to a UTF-8 name without `/`; nothing was added to the store".into()
            }
            _ => return None,
        },
        _ => return None,
    })
}

fn eval_hint(error: &EvalError) -> Option<String> {
    Some(match error {
        EvalError::Runtime { message, .. } if message.contains("(global '") => {
            "rockspecs and manifests run in an empty environment, as under LuaRocks: only string methods (\"x\"):format() etc. are available, not os, io, string, table or require".into()
        }
        EvalError::InstructionBudget { .. } | EvalError::Memory { .. } => {
            "the file does far more work than any rockspec needs; it was stopped, nothing was changed".into()
        }
        EvalError::Bytecode { .. } => "provide the Lua source text of the file".into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_already_says_is_not_said_again() {
        let io = std::io::Error::other("disk on fire");
        let error = anyhow::Error::new(io).context("cannot write x: disk on fire");
        assert_eq!(error_lines(&error), ["error: cannot write x: disk on fire"]);
        let io = std::io::Error::other("disk on fire");
        let error = anyhow::Error::new(io).context("cannot write x");
        assert_eq!(
            error_lines(&error),
            ["error: cannot write x", "  caused by: disk on fire"]
        );
    }
}
