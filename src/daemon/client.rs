//! The store backend of a daemon's client: every write of a daemon store
//! this process does not own is a request on the daemon's socket. This is
//! the only place that knows the socket. What the client brings — a tree
//! for `store add`, a project for `make` — is read here, with the client's
//! own rights, and sent as bytes (an archive); no path or descriptor ever
//! crosses the socket.

use std::io::{BufWriter, Read as _, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::failure;
use super::wire::{
    self, BuildFields, BuildKind, Frame, FrameLimits, ProfileFields, Reply, Request, WireError,
    WireRoot,
};
use crate::backend::{BuildRequest, GenerationRoot, ProfileRequest, StoreBackend};
use crate::build::{BuildError, BuildWatch, Built, Origin, Source};
use crate::fetch::Fetcher;
use crate::gc::GcReport;
use crate::store::content_hash::RecipeKey;
use crate::store::item_archive::{self, LinkPolicy};
use crate::store::item_name::ItemName;
use crate::store::lock::{LockGuard, LockMode};
use crate::store::remote::RemoteError;
use crate::store::{Item, ItemSpec, Store, StoreError};
use crate::tree::profile::ProfileError;

const SERVICE: &str = "the store's daemon";

/// A request's success: the item, whether a realisation was reused, and
/// the binary cache it was substituted from.
type Done = (Option<String>, bool, Option<String>);

/// A daemon store this process does not own.
pub struct DaemonBackend {
    store: Store,
    socket: PathBuf,
    /// The daemon's "relaxed sandbox" is said once per process.
    told_relaxed: AtomicBool,
}

impl DaemonBackend {
    /// The backend of `store`, whose daemon listens on its socket.
    pub fn new(store: Store) -> DaemonBackend {
        let socket = super::socket_path(store.root());
        DaemonBackend {
            store,
            socket,
            told_relaxed: AtomicBool::new(false),
        }
    }

    fn went_away(&self, e: WireError) -> RemoteError {
        let source = match e {
            WireError::Io(io) => io,
            other => std::io::Error::other(other.to_string()),
        };
        RemoteError::WentAway {
            service: SERVICE.into(),
            source,
        }
    }

    /// Connects and is greeted.
    fn connect(&self) -> Result<UnixStream, RemoteError> {
        let stream =
            UnixStream::connect(&self.socket).map_err(|source| RemoteError::NotRunning {
                service: SERVICE.into(),
                address: self.socket.display().to_string(),
                hint: format!(
                    "an admin starts it with `rockstore --store {} daemon` (or its systemd unit)",
                    self.store.root().display()
                ),
                source,
            })?;
        let hello = Request::Hello {
            protocol: wire::PROTOCOL.to_owned(),
            version: wire::VERSION,
        };
        // A refused peer is answered before it says anything, and closed:
        // the greeting may then fail to send, but the refusal is there.
        let greeted = wire::send(&stream, &hello, &[]);
        let frame: Frame<Reply> = match wire::receive(&stream, FrameLimits::REPLY) {
            Ok(frame) => frame,
            Err(e) => return Err(self.went_away(greeted.err().unwrap_or(e))),
        };
        match frame.message {
            Reply::Welcome { sandbox, .. } => {
                if sandbox == "relaxed" && !self.told_relaxed.swap(true, Ordering::SeqCst) {
                    self.store.options().reporter.report(crate::reporter::Event::Notice(
                        "this store's daemon builds without bubblewrap (the admin chose a relaxed sandbox): builds run as build users only, with the network",
                    ));
                }
                Ok(stream)
            }
            Reply::Refused { kind, reason } => Err(RemoteError::Refused {
                service: SERVICE.into(),
                reason,
                kind,
            }),
            other => Err(RemoteError::Protocol {
                service: SERVICE.into(),
                what: format!("a greeting answered with {other:?}"),
            }),
        }
    }

    /// Sends `request` with the payload `write` produces (`len` bytes).
    fn send(
        &self,
        request: &Request,
        len: u64,
        write: impl FnOnce(&mut dyn Write) -> Result<(), StoreError>,
    ) -> Result<UnixStream, StoreError> {
        let stream = self.connect().map_err(remote)?;
        let mut out = BufWriter::with_capacity(256 << 10, &stream);
        let sent = wire::send_prefix(&mut out, request, len)
            .map_err(|e| remote(self.went_away(e)))
            .and_then(|()| write(&mut out))
            .and_then(|()| {
                out.flush()
                    .map_err(|e| remote(self.went_away(WireError::Io(e))))
            });
        drop(out);
        if let Err(e) = sent {
            // The daemon may have refused the request before reading all
            // of it (a quota, a size): its answer says why.
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            if let Ok(Frame {
                message: Reply::Failed(failure),
                ..
            }) = wire::receive::<Reply>(&stream, FrameLimits::REPLY)
            {
                return Err(failure::to_store(*failure));
            }
            return Err(e);
        }
        Ok(stream)
    }

    /// Waits for the end of a request, passing progress to `watch`.
    fn outcome(
        &self,
        stream: &UnixStream,
        watch: Option<&dyn BuildWatch>,
    ) -> Result<Result<Done, wire::WireFailure>, RemoteError> {
        loop {
            let frame: Frame<Reply> =
                wire::receive(stream, FrameLimits::REPLY).map_err(|e| self.went_away(e))?;
            match frame.message {
                Reply::Doing { what } => {
                    if let Some(w) = watch {
                        w.doing(&what);
                    }
                }
                Reply::Command { line } => {
                    if let Some(w) = watch {
                        w.command(&line);
                    }
                }
                Reply::Done {
                    item,
                    reused,
                    substituted,
                } => return Ok(Ok((item, reused, substituted))),
                Reply::Failed(failure) => return Ok(Err(*failure)),
                other => {
                    return Err(RemoteError::Protocol {
                        service: SERVICE.into(),
                        what: format!("an answer {other:?}"),
                    })
                }
            }
        }
    }

    /// The item the daemon named, as this store holds it.
    fn item(&self, name: Option<String>) -> Result<Item, StoreError> {
        let name = name.ok_or_else(|| {
            remote(RemoteError::Protocol {
                service: SERVICE.into(),
                what: "success without an item".into(),
            })
        })?;
        let parsed = ItemName::parse(&name)?;
        self.store.get(&parsed)?.ok_or_else(|| {
            remote(RemoteError::Protocol {
                service: SERVICE.into(),
                what: format!("{name}, which the store does not hold"),
            })
        })
    }

    /// A request with no payload whose success carries nothing.
    fn simple(&self, request: &Request) -> Result<Option<String>, StoreError> {
        let stream = self.send(request, 0, |_| Ok(()))?;
        match self.outcome(&stream, None).map_err(remote)? {
            Ok((item, _, _)) => Ok(item),
            Err(f) => Err(failure::to_store(f)),
        }
    }
}

fn remote(e: RemoteError) -> StoreError {
    StoreError::Remote(Box::new(e))
}

/// A directory's archive: its model (read and hashed once, with this
/// process's rights), then its bytes.
struct Packed {
    dir: std::os::fd::OwnedFd,
    root: crate::store::canonical::Node,
    len: u64,
}

impl Packed {
    fn new(dir: &Path, policy: LinkPolicy<'_>, skip: &[&str]) -> Result<Packed, StoreError> {
        let source = |e: std::io::Error| StoreError::Source {
            path: dir.to_path_buf(),
            source: e,
        };
        let fd = rustix::fs::open(
            dir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| source(e.into()))?;
        let root = item_archive::model(fd.as_fd(), policy, skip)
            .map_err(|e| source(std::io::Error::other(e)))?;
        let len = item_archive::encoded_len(&root);
        Ok(Packed { dir: fd, root, len })
    }

    fn write(&self, out: &mut dyn Write, shown: &Path) -> Result<(), StoreError> {
        item_archive::write(self.dir.as_fd(), &self.root, out).map_err(|e| StoreError::Source {
            path: shown.to_path_buf(),
            source: std::io::Error::other(e),
        })
    }
}

impl StoreBackend for DaemonBackend {
    fn store(&self) -> &Store {
        &self.store
    }

    fn describe(&self) -> String {
        format!("{SERVICE} at {}", self.socket.display())
    }

    fn add_dir(&self, dir: &Path, spec: &ItemSpec) -> Result<Item, StoreError> {
        let allowed = spec.references.iter().cloned().collect();
        let packed = Packed::new(dir, LinkPolicy::Item(&allowed), &[])?;
        let request = Request::Add {
            name: spec.name.clone(),
            version: spec.version.clone(),
            kind: spec.kind.as_str().to_owned(),
            references: spec.references.clone(),
        };
        let stream = self.send(&request, packed.len, |out| packed.write(out, dir))?;
        match self.outcome(&stream, None).map_err(remote)? {
            Ok((item, _, _)) => self.item(item),
            Err(f) => Err(failure::to_store(f)),
        }
    }

    fn add_archive(
        &self,
        archive: &mut dyn std::io::Read,
        len: u64,
        spec: &ItemSpec,
    ) -> Result<Item, StoreError> {
        let request = Request::Add {
            name: spec.name.clone(),
            version: spec.version.clone(),
            kind: spec.kind.as_str().to_owned(),
            references: spec.references.clone(),
        };
        let stream = self.send(&request, len, |out| {
            let copied = std::io::copy(&mut archive.take(len), out)
                .map_err(|e| remote(self.went_away(WireError::Io(e))))?;
            if copied != len {
                return Err(remote(RemoteError::Protocol {
                    service: SERVICE.into(),
                    what: format!("an archive of {copied} bytes where {len} were announced"),
                }));
            }
            Ok(())
        })?;
        match self.outcome(&stream, None).map_err(remote)? {
            Ok((item, _, _)) => self.item(item),
            Err(f) => Err(failure::to_store(f)),
        }
    }

    fn hold(&self) -> Result<LockGuard, StoreError> {
        let stream = self.send(&Request::Hold, 0, |_| Ok(()))?;
        match self.outcome(&stream, None).map_err(remote)? {
            Ok(_) => Ok(LockGuard::held_by(Box::new(stream), LockMode::Shared)),
            Err(f) => Err(failure::to_store(f)),
        }
    }

    fn build(
        &self,
        request: &BuildRequest<'_>,
        _fetcher: &Fetcher,
        watch: Option<&dyn BuildWatch>,
    ) -> Result<Built, BuildError> {
        let env = request.env;
        let (kind, file, bytes, url, dir) = match request.source {
            Source::Rockspec {
                file,
                bytes,
                origin,
            } => (
                BuildKind::Rockspec,
                file,
                bytes,
                match origin {
                    Origin::Server(url) => Some(url.clone()),
                    Origin::User => None,
                },
                None,
            ),
            Source::SrcRock { file, bytes } => (BuildKind::SrcRock, file, bytes, None, None),
            Source::BinaryRock { file, bytes } => (BuildKind::BinaryRock, file, bytes, None, None),
            Source::Local {
                file, bytes, dir, ..
            } => (BuildKind::Make, file, bytes, None, Some(dir)),
        };
        let packed = match dir {
            Some(dir) => Some(Packed::new(
                dir,
                LinkPolicy::Sources,
                &crate::build::source::NOT_SOURCES,
            )?),
            None => None,
        };
        let fields = BuildFields {
            kind,
            file: file.clone(),
            url,
            lua_version: env.lua.version.clone(),
            variables: env.variables.clone(),
            deps_dirs: env
                .deps_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect(),
            rocks_provided: env.rocks_provided.clone(),
            only_sources_from: env.only_sources_from.clone(),
            dependency_items: request.dependency_items.clone(),
            branch: env.branch.clone(),
            rockspec_size: packed.as_ref().map(|_| bytes.len() as u64),
            substituters: request.substituters.map(|s| s.urls()).unwrap_or_default(),
            trusted_public_keys: request
                .substituters
                .map(|s| s.trusted_keys())
                .unwrap_or_default(),
            cache_only: request.substituters.is_some_and(|s| s.cache_only()),
        };
        let len = bytes.len() as u64 + packed.as_ref().map_or(0, |p| p.len);
        let stream = self.send(&Request::Build(Box::new(fields)), len, |out| {
            out.write_all(bytes)
                .map_err(|e| remote(self.went_away(WireError::Io(e))))?;
            match (&packed, dir) {
                (Some(p), Some(dir)) => p.write(out, dir),
                _ => Ok(()),
            }
        })?;
        match self.outcome(&stream, watch).map_err(remote)? {
            Ok((item, reused, substituted)) => Ok(Built {
                item: self.item(item)?,
                reused,
                substituted,
            }),
            Err(f) => Err(failure::to_build(f)),
        }
    }

    fn build_profile(&self, request: &ProfileRequest<'_>) -> Result<Item, ProfileError> {
        let path = |p: &Path| p.display().to_string();
        let fields = ProfileFields {
            tree: path(&request.tree.root),
            profile: serde_json::to_value(request.profile).map_err(|e| {
                ProfileError::Store(remote(RemoteError::Protocol {
                    service: SERVICE.into(),
                    what: e.to_string(),
                }))
            })?,
            lua: request.wrap.lua.to_owned(),
            wrapper_trees: request.wrap.trees.iter().map(|t| path(t)).collect(),
        };
        let stream = self.send(&Request::Profile(Box::new(fields)), 0, |_| Ok(()))?;
        match self.outcome(&stream, None).map_err(remote)? {
            Ok((item, _, _)) => Ok(self.item(item)?),
            Err(f) => Err(failure::to_profile(f)),
        }
    }

    fn register_tree(&self, tree: &Path, roots: &[GenerationRoot]) -> Result<(), StoreError> {
        let request = Request::RegisterTree {
            path: tree.display().to_string(),
            generations: roots
                .iter()
                .map(|r| WireRoot {
                    generation: r.generation,
                    item: r.item.as_str().to_owned(),
                })
                .collect(),
        };
        self.simple(&request).map(|_| ())
    }

    fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        let stream = self.send(&Request::Gc { dry_run }, 0, |_| Ok(()))?;
        loop {
            let frame: Frame<Reply> = wire::receive(&stream, FrameLimits::REPLY)
                .map_err(|e| remote(self.went_away(e)))?;
            match frame.message {
                Reply::Collected {
                    freed,
                    kept,
                    dropped_trees,
                    garbage,
                } => {
                    return Ok(GcReport {
                        freed: freed.into_iter().map(|f| (f.item, f.size)).collect(),
                        kept: kept as usize,
                        dropped_trees: dropped_trees.into_iter().map(PathBuf::from).collect(),
                        garbage,
                    })
                }
                Reply::Doing { .. } => {}
                Reply::Failed(f) => return Err(failure::to_store(*f)),
                other => {
                    return Err(remote(RemoteError::Protocol {
                        service: SERVICE.into(),
                        what: format!("an answer {other:?}"),
                    }))
                }
            }
        }
    }

    fn register_realisation(&self, key: &RecipeKey, item: &ItemName) -> Result<(), StoreError> {
        self.simple(&Request::RegisterRealisation {
            key: key.to_hex(),
            item: item.as_str().to_owned(),
        })
        .map(|_| ())
    }

    fn substitutes_here(&self) -> bool {
        false
    }
}
