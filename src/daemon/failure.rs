//! Errors across the socket: the daemon turns each failure into a
//! [`WireFailure`] — a kind, its fields, the message and the hints — and
//! the client turns it back into the same typed error a build of its own
//! would have raised (a compiler that failed, a limit the build hit, two
//! rocks providing one file), so it prints the same error and hints and
//! exits the same way. A kind the client has no type for stays a
//! [`RemoteError::Failed`] with the daemon's message and hints.

use crate::units::human;
use std::collections::BTreeMap;

use serde_json::Value;

use super::wire::WireFailure;
use crate::build::isolation::IsolationError;
use crate::build::BuildError;
use crate::rock_id::RockId;
use crate::store::remote::RemoteError;
use crate::store::StoreError;
use crate::tree::profile::ProfileError;

/// The kinds of failure the protocol names (daemon.md, "Failures").
pub mod kind {
    /// A command of the build failed: `rock`? `what`, `command`, `status`, `output`.
    pub const BUILD_FAILED: &str = "build_failed";
    /// The build was stopped or could not be isolated: `rock`, `reason`
    /// (`timed_out`, `silent`, `cancelled`, `no_sandbox`, `busy`), `seconds`.
    pub const ISOLATION: &str = "isolation";
    /// An untagged git source's commit could not be asked: `rock`, `url`, `status`.
    pub const REMOTE_COMMIT: &str = "remote_commit";
    /// `source.md5` did not match: `file`, `expected`, `actual`.
    pub const MD5: &str = "md5";
    /// Two rocks provide one file: `first`, `second`, `file`.
    pub const CONFLICT: &str = "conflict";
    /// The user's share of the store is full: `used`, `limit`, `adding`.
    pub const QUOTA: &str = "quota";
    /// Only trusted users may do this: `user`, `action`.
    pub const NOT_TRUSTED: &str = "not_trusted";
    /// The request itself is malformed or too large.
    pub const BAD_REQUEST: &str = "bad_request";
    /// The store is busy (installs in flight for a collection).
    pub const BUSY: &str = "busy";
    /// Anything else a build raised.
    pub const BUILD: &str = "build";
    /// Anything else the store raised.
    pub const STORE: &str = "store";
}

/// A failure with no fields of its own.
pub fn plain(kind: &str, message: String, hints: Vec<String>) -> WireFailure {
    WireFailure {
        kind: kind.to_owned(),
        message,
        hints,
        fields: BTreeMap::new(),
    }
}

fn with(mut failure: WireFailure, fields: &[(&str, Value)]) -> WireFailure {
    for (k, v) in fields {
        failure.fields.insert((*k).to_owned(), v.clone());
    }
    failure
}

fn text(fields: &BTreeMap<String, Value>, key: &str) -> String {
    fields
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn number(fields: &BTreeMap<String, Value>, key: &str) -> Option<u64> {
    fields.get(key).and_then(Value::as_u64)
}

/// What the daemon sends for a failed build.
pub fn from_build(error: &BuildError) -> WireFailure {
    let base = |kind: &str| plain(kind, crate::report_chain(error), crate::hints_of(error));
    match error {
        BuildError::CommandFailed {
            what,
            command,
            status,
            output,
        } => with(
            base(kind::BUILD_FAILED),
            &[
                ("what", what.as_str().into()),
                ("command", command.as_str().into()),
                ("status", (*status).into()),
                ("output", output.as_str().into()),
            ],
        ),
        BuildError::Isolation { rock, source } => {
            let (reason, seconds) = match source {
                IsolationError::TimedOut(d) => ("timed_out", Some(d.as_secs())),
                IsolationError::Silent(d) => ("silent", Some(d.as_secs())),
                IsolationError::Cancelled => ("cancelled", None),
                IsolationError::NoSandbox => ("no_sandbox", None),
                IsolationError::Busy(_) => ("busy", None),
                IsolationError::OutputTooLarge { .. } => ("too_large", None),
                IsolationError::OverLimit(_) => ("over_limit", None),
                IsolationError::Io { .. } => ("io", None),
            };
            with(
                base(kind::ISOLATION),
                &[
                    ("rock", rock.to_string().into()),
                    ("reason", reason.into()),
                    ("seconds", seconds.into()),
                ],
            )
        }
        BuildError::RemoteCommit { rock, url, status } => with(
            base(kind::REMOTE_COMMIT),
            &[
                ("rock", rock.to_string().into()),
                ("url", url.as_str().into()),
                ("status", status.as_str().into()),
            ],
        ),
        BuildError::Md5 {
            file,
            expected,
            actual,
        } => with(
            base(kind::MD5),
            &[
                ("file", file.as_str().into()),
                ("expected", expected.as_str().into()),
                ("actual", actual.as_str().into()),
            ],
        ),
        BuildError::Store(store) => from_store(store),
        _ => base(kind::BUILD),
    }
}

/// What the client makes of a build's failure.
pub fn to_build(failure: WireFailure) -> BuildError {
    let f = &failure.fields;
    match failure.kind.as_str() {
        kind::BUILD_FAILED => BuildError::CommandFailed {
            what: text(f, "what"),
            command: text(f, "command"),
            status: f.get("status").and_then(Value::as_i64).map(|s| s as i32),
            output: text(f, "output"),
        },
        kind::ISOLATION => {
            let seconds = std::time::Duration::from_secs(number(f, "seconds").unwrap_or(0));
            let source = match text(f, "reason").as_str() {
                "timed_out" => IsolationError::TimedOut(seconds),
                "silent" => IsolationError::Silent(seconds),
                "cancelled" => IsolationError::Cancelled,
                "no_sandbox" => IsolationError::NoSandbox,
                _ => return BuildError::Store(to_store(failure)),
            };
            match RockId::parse(&text(f, "rock")) {
                Some(rock) => BuildError::Isolation { rock, source },
                // Not a rock: the failure as the daemon worded it.
                None => BuildError::Store(to_store(failure)),
            }
        }
        kind::REMOTE_COMMIT => match RockId::parse(&text(f, "rock")) {
            Some(rock) => BuildError::RemoteCommit {
                rock,
                url: text(f, "url"),
                status: text(f, "status"),
            },
            None => BuildError::Store(to_store(failure)),
        },
        kind::MD5 => BuildError::Md5 {
            file: text(f, "file"),
            expected: text(f, "expected"),
            actual: text(f, "actual"),
        },
        _ => BuildError::Store(to_store(failure)),
    }
}

/// What the daemon sends for a profile that could not be made.
pub fn from_profile(error: &ProfileError) -> WireFailure {
    match error {
        ProfileError::Conflict {
            first,
            second,
            file,
        } => with(
            plain(kind::CONFLICT, error.to_string(), crate::hints_of(error)),
            &[
                ("first", first.to_string().into()),
                ("second", second.to_string().into()),
                ("file", file.as_str().into()),
            ],
        ),
        ProfileError::Store(store) => from_store(store),
        _ => plain(
            kind::STORE,
            crate::report_chain(error),
            crate::hints_of(error),
        ),
    }
}

/// What the client makes of a profile's failure.
pub fn to_profile(failure: WireFailure) -> ProfileError {
    let f = &failure.fields;
    match failure.kind.as_str() {
        kind::CONFLICT => match (
            RockId::parse(&text(f, "first")),
            RockId::parse(&text(f, "second")),
        ) {
            (Some(first), Some(second)) => ProfileError::Conflict {
                first,
                second,
                file: text(f, "file"),
            },
            // Not two rocks: the failure as the daemon worded it.
            _ => ProfileError::Store(to_store(failure)),
        },
        _ => ProfileError::Store(to_store(failure)),
    }
}

/// What the daemon sends for a store's failure.
pub fn from_store(error: &StoreError) -> WireFailure {
    match error {
        // What the client sent would make a record larger than a reader
        // takes: her request, not the store, is at fault.
        StoreError::Record {
            source: crate::store::db::RecordError::TooLarge { size },
            ..
        } => plain(
            kind::BAD_REQUEST,
            format!(
                "the request would make a record of {}, more than a record may hold ({}); nothing was written",
                human(*size as u64),
                human(crate::store::db::MAX_RECORD_BYTES as u64)
            ),
            vec!["keep fewer generations (`rockstore delete-generations --keep N`) or name fewer references".into()],
        ),
        StoreError::Remote(remote) => match remote.as_ref() {
            RemoteError::Failed {
                kind,
                message,
                hints,
            } => plain(kind, message.clone(), hints.clone()),
            other => plain(kind::STORE, other.to_string(), crate::hints_of(error)),
        },
        _ => plain(
            kind::STORE,
            crate::report_chain(error),
            crate::hints_of(error),
        ),
    }
}

/// What the client makes of any other failure.
pub fn to_store(failure: WireFailure) -> StoreError {
    StoreError::Remote(Box::new(RemoteError::Failed {
        kind: failure.kind,
        message: failure.message,
        hints: failure.hints,
    }))
}

/// A user's share of the store is full.
pub fn quota(used: u64, limit: u64, adding: u64) -> WireFailure {
    with(
        plain(
            kind::QUOTA,
            format!(
                "your share of this store is full: your trees alone keep {} and this would add {}, over your limit of {}; nothing was added",
                human(used),
                human(adding),
                human(limit)
            ),
            vec![
                "delete generations you no longer need (`rockstore delete-generations --keep 3`), or remove rocks; an admin's `rockstore gc` then frees their space".into(),
                "an admin raises the limit with rockstore_user_quota in root's config".into(),
            ],
        ),
        &[
            ("used", used.into()),
            ("limit", limit.into()),
            ("adding", adding.into()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_compiler_crosses_the_socket_as_the_same_error() {
        let local = BuildError::CommandFailed {
            what: "compiling a.c".into(),
            command: "gcc -c a.c".into(),
            status: Some(1),
            output: "a.c:1: error".into(),
        };
        let wire = from_build(&local);
        let json = serde_json::to_string(&wire).expect("json");
        let back: WireFailure = serde_json::from_str(&json).expect("parse");
        let remote = to_build(back);
        assert_eq!(remote.to_string(), local.to_string());
        assert!(matches!(
            remote,
            BuildError::CommandFailed {
                status: Some(1),
                ..
            }
        ));
    }

    #[test]
    fn a_remote_commit_failure_crosses_with_its_rock() {
        let local = BuildError::RemoteCommit {
            rock: RockId::new("gitrock", "scm-1"),
            url: "https://git.example/r".into(),
            status: "exited with status 128".into(),
        };
        let remote = to_build(from_build(&local));
        assert_eq!(remote.to_string(), local.to_string());
        assert!(
            matches!(&remote, BuildError::RemoteCommit { rock, .. } if *rock == RockId::new("gitrock", "scm-1"))
        );
    }

    #[test]
    fn a_rock_field_that_is_no_rock_keeps_the_daemons_words() {
        let said = "gitrock: cannot ask u which commit to build";
        let wire = with(
            plain(kind::REMOTE_COMMIT, said.into(), Vec::new()),
            &[("rock", "gitrock".into()), ("url", "u".into())],
        );
        let remote = to_build(wire);
        assert!(matches!(remote, BuildError::Store(_)));
        assert_eq!(remote.to_string(), said);
    }

    #[test]
    fn a_limit_keeps_its_reason_and_hint() {
        let local = BuildError::Isolation {
            rock: RockId::new("slow", "1.0-1"),
            source: IsolationError::Silent(std::time::Duration::from_secs(2)),
        };
        let remote = to_build(from_build(&local));
        assert_eq!(remote.to_string(), local.to_string());
        assert_eq!(crate::hints_of(&remote), crate::hints_of(&local));
        assert!(!crate::hints_of(&remote).is_empty());
    }
}
