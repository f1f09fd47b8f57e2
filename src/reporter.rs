//! What library code tells people while it works, as typed events: the
//! library emits them through a [`Reporter`] and never prints; the command
//! line decides where each kind goes (stdout, stderr, a prefix). This is
//! issue 23's "one reporter of typed events": the rocks-server session
//! ([`crate::ops::session::Session`]), the rockspec-writing operations
//! ([`crate::ops`]), the installer ([`crate::install::Installer`]), the
//! fetcher's mirror fallback ([`crate::fetch::Fetcher`]), the store's lock
//! waits ([`crate::store::lock`]) and the daemon client's notices speak
//! through it. The kind of an event, never its text, decides where it
//! goes. (An install's per-build progress has its own richer trait,
//! `install::execute`'s `Progress`, which the command line draws as bars.)

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

/// Events kept to be told later, or never: a pass whose outcome decides
/// whether what it said stands (the installer's greedy resolution, which
/// the solver may replace) reports here, and its caller replays them.
#[derive(Default)]
pub struct Held(std::sync::Mutex<Vec<HeldEvent>>);

/// An [`Event`] that owns its text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HeldEvent {
    Status(String),
    Note(String),
    Warning(String),
    Notice(String),
    Wait {
        what: String,
        lock_file: std::path::PathBuf,
    },
}

impl Held {
    /// Tells `to` every event held, in order, and forgets them.
    pub fn replay(&self, to: &dyn Reporter) {
        let held = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        for event in &held {
            to.report(match event {
                HeldEvent::Status(s) => Event::Status(s),
                HeldEvent::Note(s) => Event::Note(s),
                HeldEvent::Warning(s) => Event::Warning(s),
                HeldEvent::Notice(s) => Event::Notice(s),
                HeldEvent::Wait { what, lock_file } => Event::Wait { what, lock_file },
            });
        }
    }
}

impl Reporter for Held {
    fn report(&self, event: Event<'_>) {
        let owned = match event {
            Event::Status(s) => HeldEvent::Status(s.to_owned()),
            Event::Note(s) => HeldEvent::Note(s.to_owned()),
            Event::Warning(s) => HeldEvent::Warning(s.to_owned()),
            Event::Notice(s) => HeldEvent::Notice(s.to_owned()),
            Event::Wait { what, lock_file } => HeldEvent::Wait {
                what: what.to_owned(),
                lock_file: lock_file.to_owned(),
            },
        };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(owned);
    }
}

/// A reporter that says nothing (tests, and callers that only want the
/// result).
pub struct Quiet;

impl Reporter for Quiet {
    fn report(&self, _event: Event<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it hears, as the held form.
    #[derive(Default)]
    struct Heard(Held);

    impl Reporter for Heard {
        fn report(&self, event: Event<'_>) {
            self.0.report(event);
        }
    }

    #[test]
    fn held_events_are_replayed_in_order_once() {
        let held = Held::default();
        held.report(Event::Status("one"));
        held.report(Event::Warning("two"));
        held.report(Event::Note("three"));
        let heard = Heard::default();
        held.replay(&heard);
        let got = heard.0 .0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(
            got,
            vec![
                HeldEvent::Status("one".into()),
                HeldEvent::Warning("two".into()),
                HeldEvent::Note("three".into()),
            ]
        );
        let again = Heard::default();
        held.replay(&again);
        assert!(again
            .0
             .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty());
    }
}
