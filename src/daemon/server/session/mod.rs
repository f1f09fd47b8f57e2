//! One connection: the greeting (small, within [`HELLO_WAIT`]), one
//! request (its header within [`REQUEST_WAIT`] of each read), and the
//! answer. What each request reads, as whom and within what limits is
//! store-format/v1/daemon.md's table; in short, the daemon opens nothing a
//! client names: files arrive as bytes in the payload, an archive is
//! written into a directory only root reaches, and everything the client
//! sends is checked on the way in.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod build;
mod requests;

use super::{Daemon, Slot};
use crate::backend::StoreBackend;
use crate::build::isolation::{Isolation, IsolationError, Lease, SandboxMode};
use crate::build::variables;
use crate::build::{BuildEnv, BuildWatch, Builder, Origin, Source};
use crate::daemon::failure::{self, kind};
use crate::daemon::wire::{
    self, BuildFields, BuildKind, Frame, FrameLimits, ProfileFields, Reply, Request, WireFailure,
    WireFreed,
};
use crate::rockspec::Platforms;
use crate::store::canonical;
use crate::store::content_hash::RecipeKey;
use crate::store::db::ItemKind;
use crate::store::item_archive::{self, Finish, Limits, LinkPolicy};
use crate::store::item_name::ItemName;
use crate::store::lock::LockMode;
use crate::store::{GenerationRoot, ItemSpec, StoreError};
use crate::tree::profile::{self, WrapperContext};
use crate::tree::{Profile, Tree};

/// How long a client may take to greet.
const HELLO_WAIT: Duration = Duration::from_secs(5);
/// How long any one read of a request may wait (the whole request has its
/// own deadline besides: `RequestLimits`).
const REQUEST_WAIT: Duration = Duration::from_secs(30);
/// How long writing an answer may wait on a client that does not read.
const WRITE_WAIT: Duration = Duration::from_secs(30);
/// Largest rock file or rockspec a build request carries.
const MAX_FILE: u64 = 128 << 20;
/// Largest rockspec.
const MAX_ROCKSPEC: u64 = 4 << 20;
/// Largest archive of a `make`'s sources.
const MAX_SOURCES: u64 = 1 << 30;
/// Largest archive `store add` admits (before any quota).
const MAX_ADD: u64 = 4 << 30;
/// Entries an archive may hold.
const MAX_ENTRIES: u64 = 1_000_000;
/// Generations one registration may name (checked before the names are
/// parsed); the record they make is bounded again by the records' own
/// limit (`db::MAX_RECORD_BYTES`), which the store checks before it
/// writes anything.
const MAX_ROOTS: usize = 10_000;
/// References one `add` may name.
const MAX_REFERENCES: usize = 10_000;

/// Who is on the other end.
struct Client {
    uid: u32,
    pid: i32,
    user: String,
    trusted: bool,
}

/// A request's success: the item, whether a realisation was reused, and
/// the cache it was substituted from.
type Done = (Option<String>, bool, Option<String>);

type Answer = Result<Done, WireFailure>;

fn bad(message: impl Into<String>) -> WireFailure {
    failure::plain(kind::BAD_REQUEST, message.into(), Vec::new())
}

/// Serves one connection to its end.
pub(super) fn run(
    daemon: &'static Daemon,
    stream: UnixStream,
    peer: rustix::net::UCred,
    user: String,
    _slot: Slot,
) {
    let _ = stream.set_read_timeout(Some(HELLO_WAIT));
    let _ = stream.set_write_timeout(Some(WRITE_WAIT));
    let uid = peer.uid.as_raw();
    let client = Client {
        uid,
        pid: peer.pid.as_raw_nonzero().get(),
        trusted: uid == 0 || super::super::listed(&daemon.config.trusted_users, &user, uid),
        user,
    };
    let refuse = |kind: &str, reason: String| {
        daemon.say(&format!("refused {} (uid {uid}): {reason}", client.user));
        super::refuse(&stream, kind, &reason);
    };
    // The whole greeting within HELLO_WAIT, not each of its reads.
    let greeting = wire::receive_paced::<Request>(
        &stream,
        FrameLimits::HELLO,
        wire::Pace {
            grace: HELLO_WAIT,
            min_rate: 1 << 20,
            per_read: HELLO_WAIT,
        },
        std::time::Instant::now(),
    )
    .map(|(frame, _)| frame);
    match greeting {
        Ok(Frame {
            message: Request::Hello { protocol, version },
            ..
        }) if protocol == wire::PROTOCOL => {
            if version != wire::VERSION {
                return refuse("version", format!(
                    "this daemon speaks protocol version {}, the client version {version}: use the rockstore that matches the daemon (or restart the daemon with the new one)",
                    wire::VERSION
                ));
            }
        }
        Ok(_) => return refuse("bad_request", format!("not a {} client", wire::PROTOCOL)),
        Err(e) if e.timed_out() => {
            return refuse(
                "timeout",
                format!("no greeting within {} s", HELLO_WAIT.as_secs()),
            )
        }
        Err(e) => return refuse("bad_request", e.to_string()),
    }
    let welcome = Reply::Welcome {
        version: wire::VERSION,
        uid,
        trusted: client.trusted,
        sandbox: match (daemon.config.sandbox, &daemon.bwrap) {
            (SandboxMode::Relaxed, None) => "relaxed".to_owned(),
            _ => "required".to_owned(),
        },
    };
    if wire::send(&stream, &welcome, &[]).is_err() {
        return;
    }
    let pace = wire::Pace {
        grace: daemon.config.requests.grace,
        min_rate: daemon.config.requests.min_rate,
        per_read: REQUEST_WAIT,
    };
    let received = wire::receive_paced::<Request>(
        &stream,
        FrameLimits::REQUEST,
        pace,
        std::time::Instant::now(),
    );
    let (frame, deadline, allowed) = match received {
        Ok((frame, paced)) => (frame, paced.deadline, paced.allowed),
        Err(e) => {
            let reply = Reply::Failed(Box::new(bad(crate::report_chain(&e))));
            let _ = wire::send(&stream, &reply, &[]);
            return;
        }
    };
    let started = std::time::Instant::now();
    let session = Session {
        daemon,
        stream: &stream,
        client: &client,
        payload: frame.payload_len,
        deadline,
        allowed,
    };
    // Items admitted for this request are recorded as the client's; an
    // `add`'s kind and references as a member's word.
    let _acting = crate::store::acting_for(crate::store::Acting {
        uid,
        untrusted_record: matches!(frame.message, Request::Add { .. }) && !client.trusted,
    });
    let (what, answer) = match frame.message {
        Request::Hold => return session.hold(),
        Request::Gc { dry_run } => return session.gc(dry_run),
        Request::Build(fields) => ("build", session.build(*fields)),
        Request::Profile(fields) => ("profile", session.profile(*fields)),
        Request::Add {
            name,
            version,
            kind,
            references,
        } => ("add", session.add(name, version, &kind, references)),
        Request::RegisterRealisation { key, item } => (
            "register_realisation",
            session.register_realisation(&key, &item),
        ),
        Request::RegisterTree { path, generations } => {
            ("register_tree", session.register_tree(&path, generations))
        }
        Request::Hello { .. } => ("hello", Err(bad("a second greeting"))),
    };
    // Whatever it admitted counts from now on, however coarse the clock.
    daemon.quotas.changed();
    let reply = match answer {
        Ok((item, reused, substituted)) => {
            daemon.say(&format!(
                "{} {what}: {}{} ({} ms)",
                client.user,
                item.as_deref().unwrap_or("done"),
                substituted
                    .as_deref()
                    .map(|url| format!(", substituted from {url}"))
                    .unwrap_or_default(),
                started.elapsed().as_millis()
            ));
            Reply::Done {
                item,
                reused,
                substituted,
            }
        }
        Err(failure) => {
            daemon.say(&format!(
                "{} {what}: failed ({}): {}",
                client.user, failure.kind, failure.message
            ));
            Reply::Failed(Box::new(failure))
        }
    };
    let _ = wire::send(&stream, &reply, &[]);
}

struct Session<'s> {
    daemon: &'static Daemon,
    stream: &'s UnixStream,
    client: &'s Client,
    payload: u64,
    /// When the whole request (its payload too) must have arrived.
    deadline: std::time::Instant,
    /// What it was allowed in all.
    allowed: Duration,
}

/// A build's progress to its client, one whole frame at a time (a build's
/// modules compile on several threads); its isolation to the log too.
struct ClientWatch<'s> {
    stream: std::sync::Mutex<&'s UnixStream>,
    daemon: &'static Daemon,
    what: String,
}

impl ClientWatch<'_> {
    fn send(&self, reply: &Reply) {
        if let Ok(stream) = self.stream.lock() {
            let _ = wire::send(&stream, reply, &[]);
        }
    }
}

impl BuildWatch for ClientWatch<'_> {
    fn doing(&self, what: &str) {
        self.send(&Reply::Doing { what: what.into() });
    }

    fn command(&self, line: &str) {
        self.send(&Reply::Command { line: line.into() });
    }

    fn isolated(&self, how: &str) {
        self.daemon.say(&format!("{}: {how}", self.what));
        self.doing(how);
    }
}

/// Payload bytes held in memory, returned to the budget when dropped.
struct Held<'d> {
    daemon: &'d Daemon,
    uid: u32,
    bytes: u64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Ok(mut used) = self.daemon.in_memory.lock() {
            used.0 = used.0.saturating_sub(self.bytes);
            if let Some(mine) = used.1.get_mut(&self.uid) {
                *mine = mine.saturating_sub(self.bytes);
                if *mine == 0 {
                    used.1.remove(&self.uid);
                }
            }
        }
    }
}

impl Session<'_> {
    fn store(&self) -> &crate::store::Store {
        self.daemon.store()
    }

    fn no_payload(&self) -> Result<(), WireFailure> {
        match self.payload {
            0 => Ok(()),
            n => Err(bad(format!(
                "this request carries no payload, but {n} bytes were announced"
            ))),
        }
    }

    /// The payload, read within the request's deadline.
    fn input(&self) -> wire::Paced<'_> {
        wire::Paced {
            stream: self.stream,
            deadline: self.deadline,
            allowed: self.allowed,
            per_read: REQUEST_WAIT,
        }
    }

    /// Reads `len` payload bytes into memory, within the daemon's budget
    /// and the client's share of it (so one user never holds what others
    /// need).
    fn read_bytes(&self, len: u64) -> Result<(Vec<u8>, Held<'_>), WireFailure> {
        let limits = self.daemon.config.requests;
        let uid = self.client.uid;
        {
            let mut used = self
                .daemon
                .in_memory
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let mine = used.1.get(&uid).copied().unwrap_or(0);
            if mine + len > limits.upload_share {
                return Err(failure::plain(
                    kind::BUSY,
                    format!(
                        "your requests already hold {} of uploads, and this one is {}: one user holds at most {} at once; try again when they are done",
                        crate::units::human(mine),
                        crate::units::human(len),
                        crate::units::human(limits.upload_share)
                    ),
                    Vec::new(),
                ));
            }
            if used.0 + len > limits.upload_budget {
                return Err(failure::plain(
                    kind::BUSY,
                    "the daemon is holding as many uploads as it allows; try again shortly".into(),
                    Vec::new(),
                ));
            }
            used.0 += len;
            *used.1.entry(uid).or_default() += len;
        }
        let held = Held {
            daemon: self.daemon,
            uid,
            bytes: len,
        };
        let mut bytes = vec![0u8; len as usize];
        self.input()
            .read_exact(&mut bytes)
            .map_err(|e| bad(format!("the payload did not arrive: {e}")))?;
        Ok((bytes, held))
    }

    /// The room left in the client's share of the store, counting `extra`
    /// as rooted by her (none: no limit).
    fn room(&self, extra: &[String]) -> Result<Option<(u64, u64)>, WireFailure> {
        let Some(limit) = self.daemon.quotas.limit else {
            return Ok(None);
        };
        if self.client.trusted {
            return Ok(None);
        }
        // What her admissions in flight reserved counts as used.
        let used = self
            .daemon
            .quotas
            .usage(self.store(), self.client.uid, extra)
            .map_err(|e| failure::from_store(&e))?
            .saturating_add(self.daemon.quotas.reserved(self.client.uid));
        if used >= limit {
            return Err(failure::quota(used, limit, 0));
        }
        Ok(Some((used, limit)))
    }
}

fn absolute(text: &str, field: &str) -> Result<PathBuf, WireFailure> {
    let path = Path::new(text);
    if !path.is_absolute() || text.contains('\0') || text.len() > 4096 {
        return Err(bad(format!("{field}: `{text}` is not an absolute path")));
    }
    Ok(path.to_path_buf())
}

fn not_trusted(user: &str, action: &str) -> WireFailure {
    let mut f = failure::plain(
        kind::NOT_TRUSTED,
        format!("only trusted users {action} in this store ({user} is not)"),
        vec![format!(
            "an admin adds {user} to rockstore_trusted_users in root's config (or starts the daemon with --trusted-user {user})"
        )],
    );
    f.fields.insert("user".into(), user.into());
    f.fields.insert("action".into(), action.into());
    f
}

fn is_lock_timeout(e: &StoreError) -> bool {
    matches!(e, StoreError::Lock(l) if l.source.kind() == std::io::ErrorKind::TimedOut)
}

/// Sets `cancel` when the client goes away (its end closes, or it sends
/// anything while a build runs), until `wake` is closed (the build ended).
fn watch_client(stream: &UnixStream, wake: &std::os::fd::OwnedFd, cancel: &AtomicBool) {
    use rustix::event::{poll, PollFd, PollFlags};
    loop {
        let mut fds = [
            PollFd::new(stream, PollFlags::IN | PollFlags::RDHUP),
            PollFd::new(wake, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        if !fds[1].revents().is_empty() {
            return;
        }
        if !fds[0].revents().is_empty() {
            cancel.store(true, Ordering::SeqCst);
            return;
        }
    }
}
