//! Errors of a store reached through another process: the store's daemon
//! today, a binary cache next. The connection failed, the service refused
//! or went away, or it failed the request with an error it named by kind,
//! with the hints it gave. A failure the client can rebuild as one of its
//! own typed errors (a build that failed, a missing header) is rebuilt as
//! that error instead; this type carries the rest.

use std::io;

use crate::hint::Hint;

/// What went wrong on the way to, or inside, a store service.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Nothing answers.
    #[error("{service} is not running (nothing answers on {address})")]
    NotRunning {
        /// Which service (`the store's daemon`).
        service: String,
        /// Where it was looked for.
        address: String,
        /// What to do about it.
        hint: String,
        /// Why connecting failed.
        #[source]
        source: io::Error,
    },
    /// The service would not serve this caller.
    #[error("{service} refused: {reason}")]
    Refused {
        /// Which service.
        service: String,
        /// Its reason, for the user.
        reason: String,
        /// The kind of refusal (`not_allowed`, `busy`, `version`, …).
        kind: String,
    },
    /// The connection ended before an answer.
    #[error("{service} went away before answering; nothing was changed in your tree: run the command again")]
    WentAway {
        /// Which service.
        service: String,
        /// What the connection said.
        #[source]
        source: io::Error,
    },
    /// An answer this rockstore cannot read.
    #[error("{service} answered something this rockstore cannot read: {what}")]
    Protocol {
        /// Which service.
        service: String,
        /// What was wrong with it.
        what: String,
    },
    /// The service failed the request.
    #[error("{message}")]
    Failed {
        /// The error's kind, as the service named it (daemon.md lists them).
        kind: String,
        /// The error and its causes, as the service would print them.
        message: String,
        /// What to do next, as the service said.
        hints: Vec<String>,
    },
}

impl RemoteError {
    /// The kind of a refusal or failure, when the service named one.
    pub fn kind(&self) -> Option<&str> {
        match self {
            RemoteError::Refused { kind, .. } | RemoteError::Failed { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

impl Hint for RemoteError {
    fn hints(&self) -> Vec<String> {
        match self {
            RemoteError::NotRunning { hint, .. } => vec![hint.clone()],
            RemoteError::Failed { hints, .. } => hints.clone(),
            _ => Vec::new(),
        }
    }
}
