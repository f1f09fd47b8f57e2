//! Admission: a staged or copied directory becomes an item. Its tree is
//! walked and normalised, its references checked, its content hash
//! computed; it is renamed into `store/` and synced, and only then is its
//! record written (the record is what makes an item visible; see the
//! store's module doc). Reading items back is [`super::items`]'s.

use super::*;

impl Store {
    /// Copies the tree under `from` (a directory someone else could write:
    /// a build's output) into `staging`, descriptor by descriptor, never
    /// following a link or blocking on a FIFO, and refusing what an item
    /// cannot hold. What the copy holds is what gets hashed.
    pub fn copy_into(
        &self,
        staging: &Staging<'_>,
        from: &Dir,
        what: &str,
    ) -> Result<(), StoreError> {
        let none = BTreeSet::new();
        let ingest = Ingest {
            mode: Mode::Copy(from),
            target: staging.dir(),
            allowed_items: &none,
            failpoints: &self.options.failpoints,
        };
        ingest
            .run()
            .map(|_| ())
            .map_err(|source| StoreError::Ingest {
                name: what.to_owned(),
                source,
            })
    }

    /// Copies the directory `source` into the store as an item.
    pub fn add_path(&self, source: &Path, spec: &ItemSpec) -> Result<Item, StoreError> {
        let src =
            Dir::open_ambient_dir(source, ambient_authority()).map_err(|e| StoreError::Source {
                path: source.to_path_buf(),
                source: e,
            })?;
        let allowed = self.check_references(spec)?;
        let staging = self.stage()?;
        let walked = self.walk(&staging, Mode::Copy(&src), &allowed, spec)?;
        self.admit_walked(staging, walked.root, spec)
    }

    /// Admits a staging directory this process wrote itself (nobody else
    /// can reach it) whose tree model is `root`: an archive it received.
    pub fn admit_model(
        &self,
        staging: Staging<'_>,
        root: canonical::Node,
        spec: &ItemSpec,
    ) -> Result<Item, StoreError> {
        self.check_references(spec)?;
        self.admit_walked(staging, root, spec)
    }

    /// Admits a staging directory that a build filled, normalising it in place.
    pub fn admit(&self, staging: Staging<'_>, spec: &ItemSpec) -> Result<Item, StoreError> {
        let allowed = self.check_references(spec)?;
        let walked = self.walk(&staging, Mode::InPlace, &allowed, spec)?;
        self.admit_walked(staging, walked.root, spec)
    }

    fn walk(
        &self,
        staging: &Staging<'_>,
        mode: Mode<'_>,
        allowed: &BTreeSet<String>,
        spec: &ItemSpec,
    ) -> Result<ingest::Walked, StoreError> {
        let ingest = Ingest {
            mode,
            target: staging.dir(),
            allowed_items: allowed,
            failpoints: &self.options.failpoints,
        };
        ingest.run().map_err(|source| StoreError::Ingest {
            name: format!("{}-{}", spec.name, spec.version),
            source,
        })
    }

    /// Checks `spec`'s name parts and that each reference is an item of
    /// this store; returns the references.
    pub fn check_references(&self, spec: &ItemSpec) -> Result<BTreeSet<String>, StoreError> {
        item_name::validate_label_part(&spec.name)?;
        item_name::validate_label_part(&spec.version)?;
        let mut allowed = BTreeSet::new();
        for reference in &spec.references {
            let name = ItemName::parse(reference)
                .map_err(|_| StoreError::UnknownReference(reference.clone()))?;
            if self.get(&name)?.is_none() {
                return Err(StoreError::UnknownReference(reference.clone()));
            }
            allowed.insert(reference.clone());
        }
        Ok(allowed)
    }

    fn admit_walked(
        &self,
        mut staging: Staging<'_>,
        root: canonical::Node,
        spec: &ItemSpec,
    ) -> Result<Item, StoreError> {
        let fp = &self.options.failpoints;
        let stream = canonical::serialize(&root);
        let hash = canonical::hash_stream(&stream);
        let name = ItemName::new(&hash, &spec.name, &spec.version)?;
        let (file_count, size) = root.file_stats();
        let mut references = spec.references.clone();
        references.sort();
        references.dedup();
        let record = ItemRecord {
            format_version: db::FORMAT_VERSION,
            hash,
            name: spec.name.clone(),
            version: spec.version.clone(),
            kind: spec.kind,
            recipe_key: spec.recipe_key,
            references,
            size,
            file_count,
            created: now_secs(),
            creator_uid: acting().map_or_else(|| rustix::process::getuid().as_raw(), |a| a.uid),
        };
        // A record the reader would refuse is refused before anything of
        // the item is visible.
        self.encoded(&record, "db/items", name.as_str())?;
        fp.hit("after-ingest");

        // One syncfs makes every staged file durable at once; per-file fsync
        // would cost more than the rest of admission together.
        ingest::open_readable(staging.dir(), "")
            .and_then(|f| rustix::fs::syncfs(&f).map_err(io::Error::from))
            .map_err(|source| StoreError::Io {
                path: staging.path(),
                source,
            })?;
        fp.hit("after-sync");

        let _item_lock = lock::acquire(
            &self.lock_dirs()?[1],
            &self.root.join("locks/items"),
            &format!("{name}.lock"),
            LockMode::Exclusive,
            &format!("another process admitting {name}"),
            &*self.options.reporter,
        )?;

        if let Some(existing) = self.get(&name)? {
            // The same name is the same content only if the item still
            // holds it: re-hashed before it is reused, never trusted by
            // name (an item damaged on disk, or written by a member of an
            // old shared store, is replaced by ours, which is known good).
            let (problems, intact) = self.check_contents(&name, &existing.record, false);
            if intact && existing.record.hash == hash {
                drop(staging);
                self.record_stamps(&name);
                // The record stands as it was admitted: a later admission
                // never adds references to it. Except that a member's
                // `add` chose its kind and references by her word alone:
                // an admission whose record is not a member's word (a
                // build, a profile the daemon made, a trusted user's)
                // replaces such a record when it says otherwise, so her
                // word never stands for what everyone else reuses.
                let ours_is_trusted = !acting().is_some_and(|a| a.untrusted_record);
                let existing_is_a_members_word = self.is_daemon_store()
                    && !self.is_daemon_client()
                    && existing.record.creator_uid != self.owner_uid()?
                    && existing.record.recipe_key.is_none();
                let differs = existing.record.kind != record.kind
                    || existing.record.references != record.references;
                let existing = if ours_is_trusted && existing_is_a_members_word && differs {
                    self.write_record(&name, &record)?;
                    Item {
                        path: self.item_path(&name),
                        name: name.clone(),
                        record: record.clone(),
                    }
                } else {
                    existing
                };
                if let Some(key) = spec.recipe_key {
                    self.record_realisation(&key, &existing.name)?;
                }
                return Ok(existing);
            }
            if !self.may_sweep()? {
                return Err(StoreError::Untrusted {
                    item: name.to_string(),
                    creator_uid: existing.record.creator_uid,
                    problem: problems
                        .iter()
                        .map(|p| p.what.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            // Invisible first (its record), then replaced below.
            remove_optional(&self.db_items, name.as_str())
                .map_err(self.io("db/items", name.as_str()))?;
            sync_dir(&self.db_items).map_err(self.io("db/items", ""))?;
        }
        if self.items.symlink_metadata(name.as_str()).is_ok() {
            // Left by an interrupted admission; ours is known good, so it wins.
            let trash = unique_name("trash");
            self.items
                .rename(name.as_str(), &self.tmp, &trash)
                .map_err(self.io("store", name.as_str()))?;
            remove::remove_tree(&self.tmp, &trash).map_err(self.io("tmp", &trash))?;
        }

        self.tmp
            .rename(&staging.name, &self.items, name.as_str())
            .map_err(self.io("store", name.as_str()))?;
        staging.admitted = true;
        self.items
            .set_permissions(
                name.as_str(),
                cap_std::fs::Permissions::from_std(std::os::unix::fs::PermissionsExt::from_mode(
                    ingest::DIR_MODE,
                )),
            )
            .map_err(self.io("store", name.as_str()))?;
        sync_dir(&self.items).map_err(self.io("store", ""))?;
        fp.hit("after-rename");

        write_replace(&self.db_listings, name.as_str(), &stream, RECORD_MODE)
            .map_err(self.io("db/listings", name.as_str()))?;
        fp.hit("after-listing");

        if self.sealed {
            // Sealed before it is visible, so nobody links an item root
            // could still write by mistake. Best effort by design: without
            // the flag the modes still hold for everyone but root (see
            // store::seal).
            let _ = seal::seal_tree(&self.item_path(&name));
        }
        self.write_record(&name, &record)?;
        self.record_stamps(&name);
        fp.hit("after-record");

        if let Some(key) = spec.recipe_key {
            self.record_realisation(&key, &name)?;
        }
        fp.hit("after-realisation");
        Ok(Item {
            path: self.item_path(&name),
            name,
            record,
        })
    }

    /// `record` encoded to be written as `sub/file`, or refused when the
    /// reader would refuse it ([`db::MAX_RECORD_BYTES`]).
    pub(super) fn encoded<T: serde::Serialize>(
        &self,
        record: &T,
        sub: &str,
        file: &str,
    ) -> Result<Vec<u8>, StoreError> {
        db::encode_checked(record).map_err(|source| StoreError::Record {
            path: self.path_of(sub, file),
            source,
        })
    }

    fn write_record(&self, name: &ItemName, record: &ItemRecord) -> Result<(), StoreError> {
        write_replace(
            &self.db_items,
            name.as_str(),
            &self.encoded(record, "db/items", name.as_str())?,
            RECORD_MODE,
        )
        .map_err(self.io("db/items", name.as_str()))?;
        sync_dir(&self.db_items).map_err(self.io("db/items", ""))
    }
}
