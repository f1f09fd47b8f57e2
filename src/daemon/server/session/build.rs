//! The `build` request: the order checked field by field, a `make`'s
//! sources received into a directory only root reaches, the build run as
//! a build user (isolated as the daemon's policy says) through the local
//! store, its progress relayed to the client.

use super::*;

impl Session<'_> {
    pub(super) fn build(&self, fields: BuildFields) -> Answer {
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
                Err(super::super::quota::Refusal::Full(used, limit)) => {
                    Err(IsolationError::OutputTooLarge {
                        size,
                        room: limit.saturating_sub(used),
                    })
                }
                Err(super::super::quota::Refusal::Store(e)) => Err(IsolationError::Io {
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
