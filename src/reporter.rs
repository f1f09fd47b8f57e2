//! What library code tells people while it works, as typed events: the
//! library emits them through a [`Reporter`] and never prints; the command
//! line decides where each kind goes (stdout, stderr, a prefix). This is
//! the start of issue 23's "one reporter of typed events": the rocks-server
//! session ([`crate::ops::session::Session`]), the rockspec-writing
//! operations ([`crate::ops`]), the store's lock waits
//! ([`crate::store::lock`]) and the daemon client's notices speak through
//! it. The installer's commentary (`Installer::say`, text the CLI sorts by
//! prefix) and its progress (`install::execute`'s `Progress`) do not yet.

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
    /// Something about the store the user should know that is not
    /// LuaRocks' (a daemon that builds without a sandbox); the command line
    /// writes it `warning: …`, rockstore's own style.
    Notice(&'a str),
    /// The process is about to block on a lock another process holds
    /// (told once per wait, before it).
    Wait {
        /// What the lock guards, in words (`the store`, `the recipe …`).
        what: &'a str,
        /// The lock file.
        lock_file: &'a std::path::Path,
    },
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
