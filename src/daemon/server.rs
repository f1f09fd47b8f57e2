//! `rockstore daemon`: serves one store on its socket. One thread per
//! connection, one request per connection after the greeting. Builds take
//! a free build user (waiting for one when all are busy) and never run as
//! the daemon's own user; their environment is made from the recipe's
//! inputs only, never the client's.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use super::wire::{self, BuildRequest, Message, ProfileRequest, SourceKind};
use super::{BuildUser, DaemonConfig};
use crate::build::{BuildEnv, BuildWatch, Builder, Origin};
use crate::fetch::Fetcher;
use crate::install::Source;
use crate::rockspec::Platforms;
use crate::store::Store;
use crate::tree::profile::{self, WrapperContext};
use crate::tree::Tree;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store is not a daemon store.
    #[error("{} is not a daemon store: create or convert it with `rockstore store init --daemon {}`", .0.display(), .0.display())]
    NotDaemonStore(PathBuf),
    /// No build users.
    #[error("no build users: the daemon builds as the members of group `{0}` (create them as the README's admin section says: groupadd {0}; useradd --system --no-create-home --gid {0} rockstore-build1 …)")]
    NoBuildUsers(String),
    /// The socket could not be made.
    #[error("cannot listen on {}: {source}", path.display())]
    Listen {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Another daemon serves this store.
    #[error("another daemon already serves {}", .0.display())]
    Running(PathBuf),
}

/// How long a collection waits for installs in flight before it gives up
/// and names them.
const GC_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

struct Daemon {
    store: Store,
    fetcher: Fetcher,
    config: DaemonConfig,
    free: Mutex<Vec<BuildUser>>,
    freed: Condvar,
    /// Who holds the store's shared lock through a connection: user, pid.
    holders: Mutex<Vec<(String, i32)>>,
    log: Box<dyn Fn(&str) + Send + Sync>,
}

/// Serves `store` until the process ends; `log` hears one line per request.
pub fn serve(
    store: Store,
    fetcher: Fetcher,
    config: DaemonConfig,
    log: Box<dyn Fn(&str) + Send + Sync>,
) -> Result<(), ServeError> {
    let root = store.root().to_path_buf();
    if !root.join(super::MARKER).exists() {
        return Err(ServeError::NotDaemonStore(root));
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
    let listener = UnixListener::bind(&path).map_err(|source| ServeError::Listen {
        path: path.clone(),
        source,
    })?;
    // Anyone may connect; who is served is decided per peer.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666)).map_err(
        |source| ServeError::Listen {
            path: path.clone(),
            source,
        },
    )?;
    log(&format!(
        "rockstore daemon: serving {} on {} (protocol {}, {} build users)",
        root.display(),
        path.display(),
        wire::VERSION,
        users.len()
    ));
    let daemon = Arc::new(Daemon {
        store,
        fetcher,
        config,
        free: Mutex::new(users),
        freed: Condvar::new(),
        holders: Mutex::new(Vec::new()),
        log,
    });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let daemon = Arc::clone(&daemon);
        std::thread::spawn(move || daemon.serve_one(&stream));
    }
    Ok(())
}

/// Sends a build's progress to its client, one whole frame at a time
/// (a build's modules compile on several threads).
struct ClientWatch<'s>(std::sync::Mutex<&'s UnixStream>);

impl ClientWatch<'_> {
    fn send(&self, message: &Message) {
        if let Ok(stream) = self.0.lock() {
            let _ = wire::send(&stream, message, &[], None);
        }
    }
}

impl BuildWatch for ClientWatch<'_> {
    fn doing(&self, what: &str) {
        self.send(&Message::Doing { what: what.into() });
    }

    fn command(&self, line: &str) {
        self.send(&Message::Command { line: line.into() });
    }
}

/// A build user, returned to the pool when dropped. Its machine-wide lock
/// (`/run/rockstore/build-<uid>.lock`) keeps any other daemon on this
/// machine from building as the same user at once: a build's end kills
/// every process of its user.
struct Lease<'d> {
    daemon: &'d Daemon,
    user: BuildUser,
    _machine_lock: std::fs::File,
}

/// Where build users' machine-wide locks live (root's alone).
const BUILD_LOCKS: &str = "/run/rockstore";

fn machine_lock(user: BuildUser) -> Option<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let _ = std::fs::DirBuilder::new().mode(0o755).create(BUILD_LOCKS);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(format!("{BUILD_LOCKS}/build-{}.lock", user.uid))
        .ok()?;
    fs2::FileExt::try_lock_exclusive(&file).ok()?;
    Some(file)
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Ok(mut free) = self.daemon.free.lock() {
            free.push(self.user);
        }
        self.daemon.freed.notify_one();
    }
}

impl Daemon {
    fn lease(&self) -> Lease<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let usable = free
                .iter()
                .enumerate()
                .find_map(|(i, user)| machine_lock(*user).map(|lock| (i, lock)));
            if let Some((i, lock)) = usable {
                let user = free.remove(i);
                return Lease {
                    daemon: self,
                    user,
                    _machine_lock: lock,
                };
            }
            // Every free user is busy in another daemon, or none is free
            // here: look again when one comes back, or shortly.
            free = self
                .freed
                .wait_timeout(free, std::time::Duration::from_millis(100))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn serve_one(&self, stream: &UnixStream) {
        let Ok(peer) = rustix::net::sockopt::socket_peercred(stream) else {
            return;
        };
        let uid = peer.uid.as_raw();
        let user = super::user_name(uid).unwrap_or_else(|| uid.to_string());
        let refuse = |reason: String| {
            (self.log)(&format!("refused {user} (uid {uid}): {reason}"));
            let _ = wire::send(stream, &Message::Refused { reason }, &[], None);
        };
        let hello = match wire::receive(stream) {
            Ok(frame) => frame.message,
            Err(e) => return refuse(e.to_string()),
        };
        match hello {
            Message::Hello { protocol, version } if protocol == wire::PROTOCOL => {
                if version != wire::VERSION {
                    return refuse(format!(
                        "this daemon speaks protocol version {}, the client version {version}: use the rockstore that matches the daemon (or restart the daemon with the new one)",
                        wire::VERSION
                    ));
                }
            }
            _ => return refuse(format!("not a {} client", wire::PROTOCOL)),
        }
        if let Some(allowed) = &self.config.allowed_users {
            if !super::listed(allowed, &user, uid) {
                return refuse(format!(
                    "user {user} is not among the daemon's allowed_users"
                ));
            }
        }
        let trusted = uid == 0 || super::listed(&self.config.trusted_users, &user, uid);
        if wire::send(
            stream,
            &Message::Welcome {
                version: wire::VERSION,
                uid,
                trusted,
            },
            &[],
            None,
        )
        .is_err()
        {
            return;
        }
        let frame = match wire::receive(stream) {
            Ok(frame) => frame,
            Err(_) => return,
        };
        let pid = peer.pid.as_raw_nonzero().get();
        let result = match frame.message {
            Message::Hold => return self.hold(stream, &user, pid),
            Message::Gc { dry_run } => return self.gc(stream, &user, trusted, dry_run),
            Message::Build(request) => self.build(stream, *request, frame.payload, frame.fd),
            Message::Profile(request) => self.profile(*request),
            Message::Add {
                name,
                version,
                kind,
                references,
            } => self.add(frame.fd, name, version, &kind, references),
            Message::RegisterRealisation { key, item } => {
                self.register_realisation(trusted, &user, &key, &item)
            }
            Message::RegisterTree { path } => self
                .store
                .register_tree_for(&path, uid)
                .map(|()| (None, false))
                .map_err(|e| e.to_string()),
            other => Err(format!("unexpected request: {other:?}")),
        };
        let reply = match result {
            Ok((item, reused)) => {
                (self.log)(&format!(
                    "{user}: {}",
                    item.as_deref().unwrap_or("registered a tree")
                ));
                Message::Done { item, reused }
            }
            Err(message) => {
                (self.log)(&format!("{user}: failed: {message}"));
                Message::Failed { message }
            }
        };
        let _ = wire::send(stream, &reply, &[], None);
    }

    fn build(
        &self,
        stream: &UnixStream,
        request: BuildRequest,
        bytes: Vec<u8>,
        fd: Option<std::os::fd::OwnedFd>,
    ) -> Result<(Option<String>, bool), String> {
        let env = BuildEnv {
            only_sources_from: request.only_sources_from,
            lua: request.lua,
            platforms: Platforms::host(),
            variables: request.variables,
            deps_dirs: request.deps_dirs,
            arch: BuildEnv::host_arch(),
            rocks_provided: request.rocks_provided,
            branch: request.branch,
        };
        // A client's rockspec may name local sources only through the
        // directory it handed over: never a path the daemon could read and
        // the client could not.
        let origin = match &request.url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Origin::Server(url.clone())
            }
            _ => Origin::Server("rockstore-client:".to_owned()),
        };
        let file = request.file;
        let source = match request.kind {
            SourceKind::Rockspec => Source::Rockspec {
                file,
                bytes,
                origin,
            },
            SourceKind::SrcRock => Source::SrcRock { file, bytes },
            SourceKind::BinaryRock => Source::BinaryRock { file, bytes },
            SourceKind::Local => {
                let fd = fd.ok_or("a make build needs its directory handed over")?;
                let dir = PathBuf::from(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&fd)
                ));
                let hash = crate::build::source::tree_hash(&dir).map_err(|e| e.to_string())?;
                let source = Source::Local {
                    file,
                    bytes,
                    dir,
                    hash,
                };
                // `fd` stays open until the build is done.
                return self.run_build(stream, &env, &source, request.dependency_items, Some(fd));
            }
        };
        self.run_build(stream, &env, &source, request.dependency_items, None)
    }

    fn run_build(
        &self,
        stream: &UnixStream,
        env: &BuildEnv,
        source: &Source,
        dependency_items: Vec<String>,
        _held: Option<std::os::fd::OwnedFd>,
    ) -> Result<(Option<String>, bool), String> {
        let lease = self.lease();
        (self.log)(&format!(
            "building {} ({})",
            source.file(),
            crate::build::isolation::Sandbox::new(lease.user, Vec::new()).describe()
        ));
        let watch = ClientWatch(std::sync::Mutex::new(stream));
        let builder = Builder {
            store: &self.store,
            fetcher: &self.fetcher,
            env,
            watch: Some(&watch),
            build_user: Some(lease.user),
        };
        let built = source
            .build_here(&builder, dependency_items)
            .map_err(|e| crate::report_chain(&e))?;
        Ok((Some(built.item.name.as_str().to_owned()), built.reused))
    }

    /// Holds the shared lock until the client closes the connection (or
    /// dies): a client can never keep a lock past its own life.
    fn hold(&self, stream: &UnixStream, user: &str, pid: i32) {
        let Ok(guard) = self.store.lock(crate::store::lock::LockMode::Shared) else {
            let _ = wire::send(
                stream,
                &Message::Failed {
                    message: "cannot take the store lock".into(),
                },
                &[],
                None,
            );
            return;
        };
        let me = (user.to_owned(), pid);
        if let Ok(mut holders) = self.holders.lock() {
            holders.push(me.clone());
        }
        let done = Message::Done {
            item: None,
            reused: false,
        };
        if wire::send(stream, &done, &[], None).is_ok() {
            // Anything but a frame (the close) ends the hold.
            while wire::receive(stream).is_ok() {}
        }
        if let Ok(mut holders) = self.holders.lock() {
            if let Some(i) = holders.iter().position(|h| *h == me) {
                holders.remove(i);
            }
        }
        drop(guard);
    }

    /// Collects garbage for a trusted user, waiting at most
    /// [`GC_WAIT`] for installs in flight, and naming them if they last.
    fn gc(&self, stream: &UnixStream, user: &str, trusted: bool, dry_run: bool) {
        let reply = |message: Message| {
            let _ = wire::send(stream, &message, &[], None);
        };
        if !trusted && !dry_run {
            return reply(Message::Failed {
                message: format!(
                    "only trusted users collect garbage in this store ({user} is not: the admin adds --trusted-user {user} to the daemon)"
                ),
            });
        }
        let started = std::time::Instant::now();
        loop {
            let holders = self.holders.lock().map(|h| h.clone()).unwrap_or_default();
            if holders.is_empty() || dry_run {
                break;
            }
            if started.elapsed() > GC_WAIT {
                let named: Vec<String> = holders
                    .iter()
                    .map(|(u, pid)| format!("{u} (pid {pid})"))
                    .collect();
                return reply(Message::Failed {
                    message: format!(
                        "the store has been in use for {} s by {}: nothing was collected; try again when they are done",
                        GC_WAIT.as_secs(),
                        named.join(", ")
                    ),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        match crate::gc::collect(&self.store, dry_run) {
            Ok(report) => {
                (self.log)(&format!("{user}: gc freed {} items", report.freed.len()));
                reply(Message::Collected(report))
            }
            Err(e) => reply(Message::Failed {
                message: crate::report_chain(&e),
            }),
        }
    }

    /// Records a trusted user's realisation; nobody else may name what a
    /// recipe builds.
    fn register_realisation(
        &self,
        trusted: bool,
        user: &str,
        key: &str,
        item: &str,
    ) -> Result<(Option<String>, bool), String> {
        if !trusted {
            return Err(format!(
                "only trusted users register realisations in this store ({user} is not): every other realisation is a build the daemon made"
            ));
        }
        let key =
            crate::store::content_hash::RecipeKey::parse_hex(key).map_err(|e| e.to_string())?;
        let name = crate::store::item_name::ItemName::parse(item).map_err(|e| e.to_string())?;
        if self.store.get(&name).map_err(|e| e.to_string())?.is_none() {
            return Err(format!("no item {item} in the store"));
        }
        self.store
            .record_realisation(&key, &name)
            .map_err(|e| crate::report_chain(&e))?;
        Ok((Some(item.to_owned()), false))
    }

    /// Admits what the client handed over. The descriptor is the client's
    /// own opening of its directory; the copy walks it through handles, so
    /// no link, `..` or rename on the client's side leads the daemon out.
    fn add(
        &self,
        fd: Option<std::os::fd::OwnedFd>,
        name: String,
        version: String,
        kind: &str,
        references: Vec<String>,
    ) -> Result<(Option<String>, bool), String> {
        let fd = fd.ok_or("store add needs its directory handed over")?;
        let dir = PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ));
        let kind = crate::store::db::ItemKind::parse(kind)
            .ok_or_else(|| format!("unknown item kind `{kind}`"))?;
        let item = self
            .store
            .add_path(
                &dir,
                &crate::store::ItemSpec {
                    name,
                    version,
                    kind,
                    references,
                    recipe_key: None,
                },
            )
            .map_err(|e| crate::report_chain(&e))?;
        drop(fd);
        Ok((Some(item.name.as_str().to_owned()), false))
    }

    fn profile(&self, request: ProfileRequest) -> Result<(Option<String>, bool), String> {
        let tree = Tree::new(&request.tree, &request.profile.lua_version)
            .map_err(|e| crate::report_chain(&e))?;
        let item = profile::build(
            &self.store,
            &tree,
            &request.profile,
            &WrapperContext {
                lua: &request.lua,
                trees: request.wrapper_trees,
            },
        )
        .map_err(|e| crate::report_chain(&e))?;
        Ok((Some(item.name.as_str().to_owned()), false))
    }
}
