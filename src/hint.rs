//! What to do next, beside an error: each library error enum that a user
//! can meet says its own hints (uv's `Hint`), and the command line prints
//! them as `hint:` lines after the error and its causes. A hint is
//! rockstore's advice; words LuaRocks prints stay in the message itself,
//! byte for byte, where scripts read them.

/// An error that may carry hints for the user.
pub trait Hint {
    /// The hints, most useful first; none by default.
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }
}

/// An error and its causes on one line, `error: cause: cause` (for logs
/// and warnings, where there is no room for the CLI's layout).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
