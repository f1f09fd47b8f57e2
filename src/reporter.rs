//! What library code tells people while it works, as typed events: the
//! library emits them through a [`Reporter`] and never prints; the command
//! line decides where each kind goes (stdout, stderr, a prefix). This is
//! the start of issue 23's "one reporter of typed events": the rocks-server
//! session ([`crate::servers::Session`]) and the rockspec writing and
//! packing operations ([`crate::ops`]) speak through it. It does not own
//! lock waits ([`crate::store::lock::Reporter`] still does) nor install
//! progress (`install::execute`'s `Progress`).

/// One thing to tell the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Progress in LuaRocks' words, which LuaRocks prints on stdout
    /// (`Building foo 1.0-1 from …`, `Checking for Lua 5.3…`).
    Status(&'a str),
    /// A line LuaRocks prints on stderr as it is, with no prefix (`Found
    /// https://…/v1.0.tar.gz` after a URL guess).
    Note(&'a str),
    /// Something failed and the command goes on without it (a server whose
    /// manifest cannot be read). The text has no `Warning: `; the command
    /// line adds it.
    Warning(&'a str),
}

/// Hears the events of an operation.
pub trait Reporter: Send + Sync {
    /// One event, in the order they happen.
    fn report(&self, event: Event<'_>);
}

/// A reporter that says nothing (tests, and callers that only want the
/// result).
pub struct Quiet;

impl Reporter for Quiet {
    fn report(&self, _event: Event<'_>) {}
}
