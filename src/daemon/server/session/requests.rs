//! The requests besides `build`: `hold` (the shared lock for a client's
//! install), `gc`, `profile` (a generation's item), `add` (an archive
//! admitted as an item), `register_realisation` and `register_tree`, each
//! checked against what the client may do.

use super::*;

impl Session<'_> {
    /// Holds the shared lock until the client closes the connection (or
    /// dies): a client can never keep a lock past its own life, and a
    /// collection waits for it at most `gc::GC_WAIT`.
    pub(super) fn hold(&self) {
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
    pub(super) fn gc(&self, dry_run: bool) {
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

    pub(super) fn profile(&self, fields: ProfileFields) -> Answer {
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
    pub(super) fn add(
        &self,
        name: String,
        version: String,
        kind: &str,
        references: Vec<String>,
    ) -> Answer {
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
                Err(super::super::quota::Refusal::Full(used, limit)) => {
                    Err(failure::quota(used, limit, bytes))
                }
                Err(super::super::quota::Refusal::Store(e)) => Err(failure::from_store(&e)),
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
    pub(super) fn register_realisation(&self, key: &str, item: &str) -> Answer {
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
    pub(super) fn register_tree(&self, path: &str, generations: Vec<wire::WireRoot>) -> Answer {
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
