//! `rockstore daemon`: serves one store on its socket.
//!
//! Every connection is judged before a byte of it is read: its peer's
//! uid (`SO_PEERCRED`) must be allowed and must not be a build user, and
//! its user must be under the per-user and total connection limits;
//! anything else is refused with one small frame and closed, on the
//! accepting thread, so a flood of refused connections costs no thread
//! and no buffer. An accepted connection gets a thread of its own (a
//! failed spawn is refused politely) that reads the greeting (small,
//! with a short timeout), then one request (see [`session`]).
//!
//! - [`session`]: one connection's greeting, request and answer.
//! - [`pool`]: build users and the share each client may hold.
//! - [`quota`]: each member's share of the store.

mod pool;
mod quota;
mod session;

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::wire::{self, Reply};
use super::{DaemonConfig, Quota, SandboxMode};
use crate::backend::local::LocalBackend;
use crate::build::isolation;
use crate::fetch::Fetcher;
use crate::lua_install::LuaInstall;
use crate::store::Store;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store is not a daemon store.
    #[error("{} is not a daemon store: create or convert it with `rockstore store init --daemon {}`", .0.display(), .0.display())]
    NotDaemonStore(PathBuf),
    /// The daemon is not the store's owner.
    #[error("only the owner of {} serves it (run the daemon as that user, normally root)", .0.display())]
    NotOwner(PathBuf),
    /// No build users.
    #[error("no build users: the daemon builds as the members of group `{0}` (create them as the README's admin section says: groupadd {0}; useradd --system --no-create-home --gid {0} rockstore-build1 …)")]
    NoBuildUsers(String),
    /// The socket could not be made.
    #[error("cannot listen on {}", path.display())]
    Listen {
        /// The socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Another daemon serves this store.
    #[error("another daemon already serves {}", .0.display())]
    Running(PathBuf),
    /// The cache to push to cannot be used.
    #[error("cannot push to {0}: {1}")]
    Push(String, String),
}

/// The daemon's state, shared by every connection for the life of the
/// process.
pub(crate) struct Daemon {
    backend: LocalBackend,
    fetcher: Fetcher,
    config: DaemonConfig,
    pool: pool::Pool,
    quotas: quota::Quotas,
    bwrap: Option<PathBuf>,
    /// uids of build users (and `nobody`): never served.
    build_uids: HashSet<u32>,
    /// Who holds the store's shared lock through a connection: user, pid.
    holders: Mutex<Vec<(String, i32)>>,
    /// Connections open, by uid.
    open: Mutex<HashMap<u32, usize>>,
    /// Request payloads held in memory, in bytes: in all, and by uid.
    in_memory: Mutex<(u64, HashMap<u32, u64>)>,
    /// The Lua installations builds use, by version, found once.
    luas: Mutex<HashMap<String, LuaInstall>>,
    /// Root's substituters and trusted keys (config and flags), set up
    /// once the daemon can log.
    substituters: std::sync::OnceLock<Option<crate::cache::substitute::Substituters>>,
    /// The same, as configured (URLs, `name:base64` keys).
    substituter_config: (Vec<String>, Vec<String>),
    /// Pushes every new build to `rockstore_push_to`.
    pusher: Option<crate::cache::push::Pusher>,
    log: std::sync::Arc<dyn Fn(&str) + Send + Sync>,
}

impl Daemon {
    /// What of `asked` (URLs, keys) root's config does not list.
    fn beyond_config(&self, asked: &(Vec<String>, Vec<String>)) -> Vec<String> {
        let (urls, keys) = &self.substituter_config;
        asked
            .0
            .iter()
            .filter(|u| !urls.contains(u))
            .chain(asked.1.iter().filter(|k| !keys.contains(k)))
            .cloned()
            .collect()
    }

    /// Substituters for one request: root's, plus what a trusted client
    /// asked for, failing instead of building with `cache_only`.
    fn substituters_for(
        &'static self,
        asked: Option<&(Vec<String>, Vec<String>)>,
        cache_only: bool,
    ) -> Option<crate::cache::substitute::Substituters> {
        let (mut urls, mut keys) = self.substituter_config.clone();
        if let Some((u, k)) = asked {
            urls.extend(
                u.iter()
                    .filter(|x| !urls.contains(x))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            keys.extend(
                k.iter()
                    .filter(|x| !keys.contains(x))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
        crate::cache::substitute::Substituters::from_config(
            &urls,
            &keys,
            cache_only,
            self.config.cache_timeouts,
            self.config.s3.as_ref(),
            Box::new(move |w: &str| self.say(&format!("warning: {w}"))),
        )
        .map_err(|e| self.say(&format!("warning: {e}")))
        .ok()
    }

    fn store(&self) -> &Store {
        crate::backend::StoreBackend::store(&self.backend)
    }

    fn say(&self, line: &str) {
        (self.log)(line);
    }
}

/// A connection counted against its user's and the total limit until
/// dropped.
pub(crate) struct Slot {
    daemon: &'static Daemon,
    uid: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.daemon.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.uid);
            }
        }
    }
}

/// Serves `store` until the process ends; `log` hears one line per request.
pub fn serve(
    store: Store,
    fetcher: Fetcher,
    config: DaemonConfig,
    log: Box<dyn Fn(&str) + Send + Sync>,
) -> Result<(), ServeError> {
    let root = store.root().to_path_buf();
    if !store.is_daemon_store() {
        return Err(ServeError::NotDaemonStore(root));
    }
    if store.is_daemon_client() {
        return Err(ServeError::NotOwner(root));
    }
    let users = super::build_users(&config.build_users_group);
    if users.is_empty() {
        return Err(ServeError::NoBuildUsers(config.build_users_group.clone()));
    }
    let path = super::socket_path(&root);
    if UnixStream::connect(&path).is_ok() {
        return Err(ServeError::Running(root));
    }
    let _ = std::fs::remove_file(&path);
    let listen = |source| ServeError::Listen {
        path: path.clone(),
        source,
    };
    let listener = UnixListener::bind(&path).map_err(listen)?;
    // Anyone may connect; who is served is decided per peer.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .map_err(listen)?;
    raise_fd_limit();
    // What the daemon and its builds create is never group- or
    // world-writable, whatever umask it was started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let bwrap = isolation::find_bwrap();
    let quota = match config.user_quota {
        Quota::None => None,
        Quota::Bytes(n) => Some(n),
        Quota::Percent(p) => rustix::fs::statvfs(&root)
            .ok()
            .map(|s| s.f_blocks.saturating_mul(s.f_frsize) / 100 * u64::from(p)),
    };
    let mut build_uids: HashSet<u32> = users.iter().map(|u| u.uid).collect();
    build_uids.insert(isolation::NOBODY.uid);
    let count = users.len();
    let substituter_config = (
        config.substituters.clone(),
        config.trusted_public_keys.clone(),
    );
    let log: std::sync::Arc<dyn Fn(&str) + Send + Sync> = std::sync::Arc::from(log);
    let pusher = match &config.push_to {
        Some(url) => Some(start_pusher(url, &config, &root, log.clone())?),
        None => None,
    };
    let daemon: &'static Daemon = Box::leak(Box::new(Daemon {
        pusher,
        substituters: std::sync::OnceLock::new(),
        substituter_config,
        backend: LocalBackend::new(store),
        fetcher,
        pool: pool::Pool::new(users, config.max_builds_per_user),
        quotas: quota::Quotas::new(quota),
        bwrap,
        build_uids,
        holders: Mutex::new(Vec::new()),
        open: Mutex::new(HashMap::new()),
        in_memory: Mutex::new((0, HashMap::new())),
        luas: Mutex::new(HashMap::new()),
        log,
        config,
    }));
    daemon.say(&format!(
        "rockstore daemon: serving {} on {} (protocol {}, {} build users, at most {} per user)",
        root.display(),
        path.display(),
        wire::VERSION,
        count,
        daemon.pool.share(),
    ));
    match (&daemon.bwrap, daemon.config.sandbox) {
        (Some(b), _) => daemon.say(&format!("builds run in bubblewrap ({})", b.display())),
        (None, SandboxMode::Required) => daemon.say(
            "warning: bubblewrap is not installed and the sandbox is required: every build will be refused (install bubblewrap, or set rockstore_sandbox = \"relaxed\")",
        ),
        (None, SandboxMode::Relaxed) => daemon.say(
            "warning: bubblewrap is not installed; the sandbox is relaxed: builds run as build users only, with the network, and every client is told",
        ),
    }
    let own = if daemon.substituter_config.0.is_empty() {
        None
    } else {
        daemon.substituters_for(None, false)
    };
    if let Some(s) = &own {
        daemon.say(&format!("substituters: {}", s.urls().join(", ")));
    }
    let _ = daemon.substituters.set(own);
    let requests = daemon.config.requests;
    daemon.say(&format!(
        "limits: builds {} s, silence {} s; {} connections ({} per user); member quota {}; requests {} s + their size at {}/s; uploads held {} ({} per user); holds {} s",
        daemon.config.limits.timeout.as_secs(),
        daemon.config.limits.max_silent.as_secs(),
        daemon.config.max_connections,
        daemon.config.max_connections_per_user,
        quota.map_or("none".to_owned(), crate::units::human),
        requests.grace.as_secs(),
        crate::units::human(requests.min_rate),
        crate::units::human(requests.upload_budget),
        crate::units::human(requests.upload_share),
        daemon.config.max_hold.as_secs(),
    ));
    let mut told_full = false;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                told_full = false;
                daemon.admit(stream);
            }
            Err(e)
                if matches!(
                    rustix::io::Errno::from_io_error(&e),
                    Some(
                        rustix::io::Errno::MFILE
                            | rustix::io::Errno::NFILE
                            | rustix::io::Errno::NOBUFS
                            | rustix::io::Errno::NOMEM
                    )
                ) =>
            {
                // Out of descriptors: the connection waits in the backlog;
                // try again once some are free, without spinning.
                if !told_full {
                    daemon.say(&format!("cannot accept connections for now: {e}"));
                    told_full = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(_) => {}
        }
    }
}

impl Daemon {
    /// Judges a connection by its peer before reading anything from it.
    fn admit(&'static self, stream: UnixStream) {
        let Ok(peer) = rustix::net::sockopt::socket_peercred(&stream) else {
            return;
        };
        // A refusal is one small frame; it never waits on the peer.
        let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
        let uid = peer.uid.as_raw();
        let user = super::user_name(uid).unwrap_or_else(|| uid.to_string());
        if self.build_uids.contains(&uid) {
            return refuse(&stream, "not_allowed", "build users are never served");
        }
        if let Some(allowed) = &self.config.allowed_users {
            if uid != 0 && !super::listed(allowed, &user, uid) {
                return refuse(
                    &stream,
                    "not_allowed",
                    &format!(
                        "user {user} is not among the daemon's allowed users (rockstore_allowed_users)"
                    ),
                );
            }
        }
        let slot = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let total: usize = open.values().sum();
            let mine = open.get(&uid).copied().unwrap_or(0);
            if mine >= self.config.max_connections_per_user {
                drop(open);
                return refuse(
                    &stream,
                    "busy",
                    &format!(
                        "you have {mine} connections to the daemon open, the most it allows one user; try again when they are done"
                    ),
                );
            }
            if total >= self.config.max_connections {
                drop(open);
                return refuse(
                    &stream,
                    "busy",
                    "the daemon is serving as many connections as it allows; try again shortly",
                );
            }
            *open.entry(uid).or_default() += 1;
            Slot { daemon: self, uid }
        };
        let refusal = stream.try_clone();
        let spawned = std::thread::Builder::new()
            .name(format!("session-{uid}"))
            .spawn(move || session::run(self, stream, peer, user, slot));
        if spawned.is_err() {
            if let Ok(s) = refusal {
                refuse(
                    &s,
                    "busy",
                    "the daemon cannot start another worker now; try again shortly",
                );
            }
        }
    }

    /// The Lua `version` builds use, as this machine has it.
    fn lua(&self, version: &str) -> Result<LuaInstall, crate::lua_install::LuaInstallError> {
        if let Some(lua) = self.luas.lock().ok().and_then(|m| m.get(version).cloned()) {
            return Ok(lua);
        }
        let lua = LuaInstall::detect(Some(version), None)?;
        if let Ok(mut m) = self.luas.lock() {
            m.insert(version.to_owned(), lua.clone());
        }
        Ok(lua)
    }
}

/// The pusher of `rockstore_push_to`, signing with the configured keys.
fn start_pusher(
    url: &str,
    config: &DaemonConfig,
    root: &std::path::Path,
    log: std::sync::Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<crate::cache::push::Pusher, ServeError> {
    let bad = |why: String| ServeError::Push(url.to_owned(), why);
    let cache = crate::cache::Cache::open(url, config.cache_timeouts, config.s3.as_ref())
        .map_err(|e| bad(e.to_string()))?;
    let mut signers = Vec::new();
    for file in &config.secret_key_files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?;
        signers.push(crate::cache::keys::SecretKey::parse(&text).map_err(|e| bad(e.to_string()))?);
    }
    Ok(crate::cache::push::Pusher::start_logged(
        cache,
        root.to_path_buf(),
        signers,
        std::sync::Arc::new(crate::store::failpoint::Failpoints::none()),
        Some(log),
    ))
}

/// Sends a refusal and closes.
fn refuse(stream: &UnixStream, kind: &str, reason: &str) {
    let _ = wire::send(
        stream,
        &Reply::Refused {
            kind: kind.to_owned(),
            reason: reason.to_owned(),
        },
        &[],
    );
}

/// The daemon keeps a descriptor per connection and per build's files:
/// the hard limit is its to use.
fn raise_fd_limit() {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if limit.current < limit.maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}
