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
