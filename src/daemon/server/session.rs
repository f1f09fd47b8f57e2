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

    /// Holds the shared lock until the client closes the connection (or
    /// dies): a client can never keep a lock past its own life, and a
    /// collection waits for it at most `gc::GC_WAIT`.
    fn hold(&self) {
        let reply = |r: Reply| {
            let _ = wire::send(self.stream, &r, &[]);
        };
        if let Err(f) = self.no_payload() {
            return reply(Reply::Failed(Box::new(f)));
        }
        let guard = match self.store().lock(LockMode::Shared) {
            Ok(g) => g,
            Err(e) => return reply(Reply::Failed(Box::new(failure::from_store(&e)))),
        };
        let me = (self.client.user.clone(), self.client.pid);
        if let Ok(mut holders) = self.daemon.holders.lock() {
            holders.push(me.clone());
        }
        reply(Reply::Done {
            item: None,
            reused: false,
            substituted: None,
        });
        // Anything but more bytes (the close, an error) ends the hold; a
        // member's hold also ends after `max_hold`, so she cannot keep
        // collections out for ever (root's and trusted users' last until
        // they close).
        let until =
            (!self.client.trusted).then(|| std::time::Instant::now() + self.daemon.config.max_hold);
        let mut sink = [0u8; 64];
        loop {
            let wait = match until {
                Some(t) => match t.checked_duration_since(std::time::Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        self.daemon.say(&format!(
                            "{}: hold ended after {} s (the most a member's lasts)",
                            self.client.user,
                            self.daemon.config.max_hold.as_secs()
                        ));
                        break;
                    }
                },
                None => None,
            };
            let _ = self.stream.set_read_timeout(wait);
            match (&*self.stream).read(&mut sink) {
                Ok(n) if n > 0 => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                _ => break,
            }
        }
        if let Ok(mut holders) = self.daemon.holders.lock() {
            if let Some(i) = holders.iter().position(|h| *h == me) {
                holders.remove(i);
            }
        }
        drop(guard);
    }

    /// Collects garbage for a trusted user; a dry run for anyone, showing
    /// a member only her own trees.
    fn gc(&self, dry_run: bool) {
        let reply = |r: Reply| {
            let _ = wire::send(self.stream, &r, &[]);
        };
        if let Err(f) = self.no_payload() {
            return reply(Reply::Failed(Box::new(f)));
        }
        let user = &self.client.user;
        if !self.client.trusted && !dry_run {
            return reply(Reply::Failed(Box::new(not_trusted(
                user,
                "collect garbage",
            ))));
        }
        let viewer = (!self.client.trusted).then_some(self.client.uid);
        match crate::gc::collect_as(self.store(), dry_run, viewer) {
            Ok(report) => {
                self.daemon
                    .say(&format!("{user}: gc freed {} items", report.freed.len()));
                reply(Reply::Collected {
                    freed: report
                        .freed
                        .into_iter()
                        .map(|(item, size)| WireFreed { item, size })
                        .collect(),
                    kept: report.kept as u64,
                    dropped_trees: report
                        .dropped_trees
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect(),
                    garbage: report.garbage,
                })
            }
            Err(e) => {
                let mut f = failure::from_store(&e);
                let holders = self
                    .daemon
                    .holders
                    .lock()
                    .map(|h| h.clone())
                    .unwrap_or_default();
                if is_lock_timeout(&e) && !holders.is_empty() {
                    f.kind = kind::BUSY.to_owned();
                    let named: Vec<String> = holders
                        .iter()
                        .map(|(u, pid)| format!("{u} (pid {pid})"))
                        .collect();
                    f.message = format!(
                        "the store has been in use for {} s by {}: nothing was collected; try again when they are done",
                        crate::gc::GC_WAIT.as_secs(),
                        named.join(", ")
                    );
                }
                reply(Reply::Failed(Box::new(f)))
            }
        }
    }

    fn build(&self, fields: BuildFields) -> Answer {
        let mut order = check_build(fields)?;
        // Substituters and keys are root's to choose: a member may ask
        // only for those root's config has; a trusted user for any.
        if let Some(asked) = &order.substituters {
            let extra = self.daemon.beyond_config(asked);
            if !extra.is_empty() && !self.client.trusted {
                return Err(not_trusted(
                    &self.client.user,
                    &format!("choose substituters or trusted keys ({})", extra.join(", ")),
                ));
            }
            if extra.is_empty() {
                order.substituters = None;
            }
        }
        let room = self.room(&[])?;
        let source = match order.kind {
            BuildKind::Make => None,
            _ => {
                if self.payload > MAX_FILE {
                    return Err(bad(format!(
                        "a rock file of {} is larger than the daemon takes ({})",
                        crate::units::human(self.payload),
                        crate::units::human(MAX_FILE)
                    )));
                }
                Some(self.read_bytes(self.payload)?)
            }
        };
        let received;
        let (source, _held) = match (order.kind, source) {
            (BuildKind::Make, _) => {
                let size = order.rockspec_size.unwrap_or(0);
                if size > MAX_ROCKSPEC || size > self.payload {
                    return Err(bad(
                        "a make request's rockspec_size is missing or too large",
                    ));
                }
                let (bytes, held) = self.read_bytes(size)?;
                received = self.receive_sources(self.payload - size)?;
                let source = Source::Local {
                    file: order.file.clone(),
                    bytes,
                    dir: received.path.clone(),
                    hash: received.hash,
                };
                (source, held)
            }
            (BuildKind::Rockspec, Some((bytes, held))) => {
                // A client's rockspec may name local sources only through
                // what it sent: never a path the daemon could read and the
                // client could not.
                let origin = match &order.url {
                    Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                        Origin::Server(url.clone())
                    }
                    _ => Origin::Server("rockstore-client:".to_owned()),
                };
                (
                    Source::Rockspec {
                        file: order.file.clone(),
                        bytes,
                        origin,
                    },
                    held,
                )
            }
            (BuildKind::SrcRock, Some((bytes, held))) => (
                Source::SrcRock {
                    file: order.file.clone(),
                    bytes,
                },
                held,
            ),
            (_, Some((bytes, held))) => (
                Source::BinaryRock {
                    file: order.file.clone(),
                    bytes,
                },
                held,
            ),
            (_, None) => return Err(bad("no payload")),
        };
        let lua = self
            .daemon
            .lua(&order.lua_version)
            .map_err(|e| failure::plain(kind::BUILD, e.to_string(), Vec::new()))?;
        // The Lua's own variables are the daemon's: it builds against the
        // Lua it found, whatever the client's machine view says.
        let mut vars = order.variables;
        for (k, v) in variables::defaults(&lua, None, None, None) {
            if k.starts_with("LUA") {
                vars.insert(k, v);
            }
        }
        let env = BuildEnv {
            only_sources_from: order.only_sources_from,
            lua,
            platforms: Platforms::host(),
            variables: vars,
            deps_dirs: order.deps_dirs,
            arch: BuildEnv::host_arch(),
            rocks_provided: order.rocks_provided,
            branch: order.branch,
        };
        let cancel = AtomicBool::new(false);
        let daemon = self.daemon;
        let uid = self.client.uid;
        let cancel_ref = &cancel;
        let lease = move || -> Result<Lease, IsolationError> {
            daemon
                .pool
                .lease(uid, cancel_ref, daemon.config.limits.timeout)
        };
        // Each build's output is reserved in her share until this request
        // ends (by then its record counts), so parallel builds of hers are
        // judged one after another.
        let reservations = std::sync::Mutex::new(Vec::new());
        let store = self.store();
        let reserve_output = |size: u64| -> Result<(), IsolationError> {
            match daemon.quotas.reserve(store, uid, size, None) {
                Ok(r) => {
                    reservations
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(r);
                    Ok(())
                }
                Err(super::quota::Refusal::Full(used, limit)) => {
                    Err(IsolationError::OutputTooLarge {
                        size,
                        room: limit.saturating_sub(used),
                    })
                }
                Err(super::quota::Refusal::Store(e)) => Err(IsolationError::Io {
                    path: store.root().to_path_buf(),
                    source: std::io::Error::other(e.to_string()),
                }),
            }
        };
        let isolation = Isolation {
            bwrap: self.daemon.bwrap.clone(),
            mode: self.daemon.config.sandbox,
            limits: self.daemon.config.limits,
            cancel: &cancel,
            lease: &lease,
            max_output: room.map(|(used, limit)| limit - used),
            reserve_output: room.map(|_| &reserve_output as _),
        };
        let watch = ClientWatch {
            stream: std::sync::Mutex::new(self.stream),
            daemon: self.daemon,
            what: format!("{} building {}", self.client.user, order.file),
        };
        let own;
        let substituters = match (&order.substituters, order.cache_only) {
            (None, false) => self.daemon.substituters.get().and_then(Option::as_ref),
            (asked, cache_only) => {
                own = self.daemon.substituters_for(asked.as_ref(), cache_only);
                own.as_ref()
            }
        };
        let builder = Builder {
            store: self.store(),
            fetcher: &self.daemon.fetcher,
            env: &env,
            watch: Some(&watch),
            isolation: Some(&isolation),
            substituters,
        };
        // The watcher wakes at once when the build ends: it also polls a
        // pipe this side closes.
        let (wake_read, wake_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| {
                failure::plain(
                    kind::BUSY,
                    format!("cannot watch the client: {e}"),
                    Vec::new(),
                )
            })?;
        let built = std::thread::scope(|scope| {
            scope.spawn(|| watch_client(self.stream, &wake_read, &cancel));
            let built = source.build_here(&builder, order.dependency_items);
            drop(wake_write);
            built
        });
        let built = built.map_err(|e| failure::from_build(&e))?;
        if let (Some(pusher), false) = (&self.daemon.pusher, built.reused) {
            pusher.push(&built.item.name);
        }
        Ok((
            Some(built.item.name.as_str().to_owned()),
            built.reused,
            built.substituted,
        ))
    }

    /// Writes a `make`'s sources (`len` bytes of archive) into a directory
    /// only root reaches.
    fn receive_sources(&self, len: u64) -> Result<Received<'_>, WireFailure> {
        if len > MAX_SOURCES {
            return Err(bad(format!(
                "sources of {} are more than the daemon takes ({})",
                crate::units::human(len),
                crate::units::human(MAX_SOURCES)
            )));
        }
        let staging = self.store().stage().map_err(|e| failure::from_store(&e))?;
        // Buffered: an archive is read in small pieces, and each read of the
        // connection costs a timeout set and a recvmsg.
        let mut input = std::io::BufReader::with_capacity(64 << 10, self.input().take(len));
        let node = item_archive::read_into(
            &mut input,
            std::os::fd::AsFd::as_fd(staging.dir()),
            LinkPolicy::Sources,
            Finish::Writable,
            Limits {
                max_bytes: len,
                max_entries: MAX_ENTRIES,
            },
        )
        .and_then(|node| item_archive::expect_end(&mut input).map(|()| node))
        .map_err(|e| {
            bad(format!(
                "the sources' archive was refused: {}",
                crate::report_chain(&e)
            ))
        })?;
        Ok(Received {
            path: staging.path(),
            hash: canonical::content_hash(&node),
            _staging: staging,
        })
    }

    fn profile(&self, fields: ProfileFields) -> Answer {
        self.no_payload()?;
        let tree = absolute(&fields.tree, "tree")?;
        let lua = absolute(&fields.lua, "lua")?;
        if fields.lua.contains(['\'', '\n']) {
            return Err(bad(
                "the interpreter's path may not hold quotes or newlines",
            ));
        }
        let wrapper_trees = fields
            .wrapper_trees
            .iter()
            .map(|t| absolute(t, "wrapper_trees"))
            .collect::<Result<Vec<_>, _>>()?;
        let profile: Profile = serde_json::from_value(fields.profile)
            .map_err(|e| bad(format!("the profile does not parse: {e}")))?;
        for v in std::iter::once(&profile.lua_version).chain(profile.others.keys()) {
            if !crate::lua_install::KNOWN_VERSIONS.contains(&v.as_str()) {
                return Err(bad(format!("unknown Lua version `{v}` in the profile")));
            }
        }
        let items: Vec<String> = profile.items().into_iter().collect();
        for item in &items {
            ItemName::parse(item).map_err(|e| bad(format!("`{item}`: {e}")))?;
        }
        if let Some((used, limit)) = self.room(&items)? {
            // `room` already counts the profile's rocks as hers; the
            // profile item itself is small.
            let _ = (used, limit);
        }
        let tree = Tree::new(&tree, &profile.lua_version)
            .map_err(|e| bad(format!("the tree's path: {e}")))?;
        let item = profile::build(
            self.store(),
            &tree,
            &profile,
            &WrapperContext {
                lua: &lua.display().to_string(),
                trees: wrapper_trees,
            },
        )
        .map_err(|e| failure::from_profile(&e))?;
        Ok((Some(item.name.as_str().to_owned()), false, None))
    }

    /// Admits the tree the payload carries, written by the daemon itself
    /// into a staging directory of its own.
    fn add(&self, name: String, version: String, kind: &str, references: Vec<String>) -> Answer {
        let kind =
            ItemKind::parse(kind).ok_or_else(|| bad(format!("unknown item kind `{kind}`")))?;
        if references.len() > MAX_REFERENCES {
            return Err(bad(format!(
                "an item of {} references is more than the daemon records (at most {MAX_REFERENCES})",
                references.len()
            )));
        }
        let spec = ItemSpec {
            name,
            version,
            kind,
            references,
            recipe_key: None,
        };
        let allowed: BTreeSet<String> = self
            .store()
            .check_references(&spec)
            .map_err(|e| failure::from_store(&e))?;
        if !self.client.trusted && !allowed.is_empty() {
            // A member names as references only what she could keep
            // herself: what her recorded roots reach or she admitted.
            let hers = self
                .daemon
                .quotas
                .reachable_by(self.store(), self.client.uid)
                .map_err(|e| failure::from_store(&e))?;
            if let Some(other) = allowed.iter().find(|r| !hers.contains(*r)) {
                return Err(bad(format!(
                    "reference `{other}` is neither reached from your trees nor added by you; a member's item may only refer to those"
                )));
            }
        }
        if self.payload > MAX_ADD {
            return Err(bad(format!(
                "an archive of {} is more than the daemon takes ({})",
                crate::units::human(self.payload),
                crate::units::human(MAX_ADD)
            )));
        }
        // Its size is reserved before a byte is read, and what it costs on
        // disk once it is known; parallel adds are judged one by one.
        let reserve = |bytes: u64, held| {
            let quotas = &self.daemon.quotas;
            if self.client.trusted {
                return Ok(None);
            }
            match quotas.reserve(self.store(), self.client.uid, bytes, held) {
                Ok(r) => Ok(Some(r)),
                Err(super::quota::Refusal::Full(used, limit)) => {
                    Err(failure::quota(used, limit, bytes))
                }
                Err(super::quota::Refusal::Store(e)) => Err(failure::from_store(&e)),
            }
        };
        let reservation = reserve(self.payload, None)?;
        let staging = self.store().stage().map_err(|e| failure::from_store(&e))?;
        // Buffered: an archive is read in small pieces, and each read of the
        // connection costs a timeout set and a recvmsg.
        let mut input =
            std::io::BufReader::with_capacity(64 << 10, self.input().take(self.payload));
        let node = item_archive::read_into(
            &mut input,
            std::os::fd::AsFd::as_fd(staging.dir()),
            LinkPolicy::Item(&allowed),
            Finish::Item,
            Limits {
                max_bytes: self.payload,
                max_entries: MAX_ENTRIES,
            },
        )
        .and_then(|node| item_archive::expect_end(&mut input).map(|()| node))
        .map_err(|e| {
            bad(format!(
                "the archive was refused: {}",
                crate::report_chain(&e)
            ))
        })?;
        let charge = node.disk_charge();
        let _reservation = match reservation {
            Some(r) if charge > self.payload => reserve(charge - self.payload, Some(r))?,
            other => other,
        };
        let item = self
            .store()
            .admit_model(staging, node, &spec)
            .map_err(|e| failure::from_store(&e))?;
        Ok((Some(item.name.as_str().to_owned()), false, None))
    }

    /// Records a trusted user's realisation; nobody else may name what a
    /// recipe builds.
    fn register_realisation(&self, key: &str, item: &str) -> Answer {
        self.no_payload()?;
        if !self.client.trusted {
            return Err(not_trusted(&self.client.user, "register realisations"));
        }
        let key = RecipeKey::parse_hex(key).map_err(|e| bad(e.to_string()))?;
        let name = ItemName::parse(item).map_err(|e| bad(e.to_string()))?;
        self.daemon
            .backend
            .register_realisation(&key, &name)
            .map_err(|e| failure::from_store(&e))?;
        Ok((Some(item.to_owned()), false, None))
    }

    /// Records the client's tree and its roots, under her uid.
    fn register_tree(&self, path: &str, generations: Vec<wire::WireRoot>) -> Answer {
        self.no_payload()?;
        let path = absolute(path, "path")?;
        if generations.len() > MAX_ROOTS {
            return Err(bad(format!(
                "a tree of {} generations is more than the daemon records (at most {MAX_ROOTS}); nothing was written",
                generations.len()
            )));
        }
        let roots = generations
            .into_iter()
            .map(|r| {
                ItemName::parse(&r.item)
                    .map(|item| GenerationRoot {
                        generation: r.generation,
                        item,
                    })
                    .map_err(|e| bad(format!("`{}`: {e}", r.item)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.store()
            .register_tree_for(&path, self.client.uid, &roots)
            .map_err(|e| failure::from_store(&e))?;
        Ok((None, false, None))
    }
}

/// Sources received for a `make`, removed with their staging directory.
struct Received<'s> {
    path: PathBuf,
    hash: crate::store::content_hash::ContentHash,
    _staging: crate::store::Staging<'s>,
}

/// A build request, checked.
struct BuildOrder {
    kind: BuildKind,
    file: String,
    url: Option<String>,
    lua_version: String,
    variables: variables::Variables,
    deps_dirs: Vec<PathBuf>,
    rocks_provided: Vec<(String, String)>,
    only_sources_from: Option<String>,
    dependency_items: Vec<String>,
    branch: Option<String>,
    rockspec_size: Option<u64>,
    /// The substituters and keys the client asked for, when any.
    substituters: Option<(Vec<String>, Vec<String>)>,
    cache_only: bool,
}

fn check_build(f: BuildFields) -> Result<BuildOrder, WireFailure> {
    if !crate::lua_install::KNOWN_VERSIONS.contains(&f.lua_version.as_str()) {
        return Err(bad(format!("unknown Lua version `{}`", f.lua_version)));
    }
    if f.file.is_empty() || f.file.contains(['/', '\0']) || f.file.len() > 255 {
        return Err(bad(format!("`{}` is not a file name", f.file)));
    }
    if f.variables.len() > 1000 {
        return Err(bad("more than 1000 build variables"));
    }
    for (name, value) in &f.variables {
        let good = variables::parse_assignment(&format!("{name}=")).is_some();
        if !good || value.len() > 64 << 10 || value.contains('\0') {
            return Err(bad(format!(
                "build variable `{name}` is not a variable LuaRocks takes"
            )));
        }
    }
    for item in &f.dependency_items {
        ItemName::parse(item).map_err(|e| bad(format!("dependency item `{item}`: {e}")))?;
    }
    let deps_dirs = f
        .deps_dirs
        .iter()
        .map(|d| absolute(d, "deps_dirs"))
        .collect::<Result<Vec<_>, _>>()?;
    if f.kind == BuildKind::Make && f.rockspec_size.is_none() {
        return Err(bad("a make request names its rockspec_size"));
    }
    Ok(BuildOrder {
        kind: f.kind,
        file: f.file,
        url: f.url,
        lua_version: f.lua_version,
        variables: f.variables,
        deps_dirs,
        rocks_provided: f.rocks_provided,
        only_sources_from: f.only_sources_from,
        dependency_items: f.dependency_items,
        branch: f.branch,
        rockspec_size: f.rockspec_size,
        substituters: (!f.substituters.is_empty() || !f.trusted_public_keys.is_empty())
            .then_some((f.substituters, f.trusted_public_keys)),
        cache_only: f.cache_only,
    })
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
