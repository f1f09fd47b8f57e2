//! Reading the store's items: lookups by name, hash prefix or path, the
//! intact check, listings and every record; deleting items under the
//! exclusive lock; listing realisations. Writing an item is
//! [`super::admit`]'s.

use super::*;

impl Store {
    /// The visible item with this name (record and directory both present).
    pub fn get(&self, name: &ItemName) -> Result<Option<Item>, StoreError> {
        let Some(record) = self.read_record(name.as_str())? else {
            return Ok(None);
        };
        if self.items.symlink_metadata(name.as_str()).is_err() {
            return Ok(None);
        }
        Ok(Some(Item {
            path: self.item_path(name),
            name: name.clone(),
            record,
        }))
    }

    /// Records `name`'s stamps ([`stamps`]); best effort: a store this
    /// process cannot write keeps none, and its items are re-hashed
    /// instead of compared.
    pub fn record_stamps(&self, name: &ItemName) {
        let Ok(taken) = stamps::take(&self.item_path(name)) else {
            return;
        };
        let dir = self.root.join(STAMPS);
        if !dir.is_dir() && std::fs::create_dir(&dir).is_ok() {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
        }
        let path = dir.join(name.as_str());
        let temp = dir.join(format!(".{}.{}", name.as_str(), std::process::id()));
        let text = stamps::render(&taken);
        // Modes as every record's, whatever the umask.
        use std::os::unix::fs::PermissionsExt as _;
        if std::fs::write(&temp, text)
            .and_then(|()| {
                std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(RECORD_MODE))
            })
            .and_then(|()| std::fs::rename(&temp, &path))
            .is_err()
        {
            let _ = std::fs::remove_file(&temp);
        }
    }

    /// [`Store::get`], only when the item still holds what its name says:
    /// its stamps match the ones recorded at admission, or (they differ,
    /// or none were recorded) its contents re-hash to its name, after
    /// which its stamps are recorded anew. A damaged item is `None`: a
    /// realisation lookup or an install then builds it again, and the
    /// admission replaces the damaged directory.
    pub fn get_intact(&self, name: &ItemName) -> Result<Option<Item>, StoreError> {
        let Some(item) = self.get(name)? else {
            return Ok(None);
        };
        let recorded = std::fs::read(self.root.join(STAMPS).join(name.as_str())).ok();
        if let Some(r) = recorded.as_deref().and_then(stamps::parse) {
            if stamps::digest_now(&item.path, &r).as_deref() == Some(r.digest) {
                return Ok(Some(item));
            }
        }
        let (_, intact) = self.check_contents(name, &item.record, false);
        if !intact {
            return Ok(None);
        }
        self.record_stamps(name);
        Ok(Some(item))
    }

    pub(super) fn read_record(&self, file: &str) -> Result<Option<ItemRecord>, StoreError> {
        let Some(bytes) = read_optional(&self.db_items, file).map_err(self.io("db/items", file))?
        else {
            return Ok(None);
        };
        db::decode(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Record {
                path: self.path_of("db/items", file),
                source,
            })
    }

    /// Names of all records under `db/items` (temporary files skipped).
    pub(super) fn record_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for entry in self.db_items.entries().map_err(self.io("db/items", ""))? {
            let entry = entry.map_err(self.io("db/items", ""))?;
            if let Ok(name) = entry.file_name().into_string() {
                if !name.starts_with('.') {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Every visible item, sorted by name. Unreadable records are skipped here;
    /// `verify` reports them.
    pub fn list(&self) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        for file in self.record_names()? {
            if let Ok(name) = ItemName::parse(&file) {
                if let Ok(Some(item)) = self.get(&name) {
                    items.push(item);
                }
            }
        }
        Ok(items)
    }

    /// Every item's name and record, without checking each directory (GC
    /// reads 10,000 of these; a record without its directory is `verify`'s
    /// business).
    pub fn records(&self) -> Result<Vec<(ItemName, ItemRecord)>, StoreError> {
        let mut out = Vec::new();
        for file in self.record_names()? {
            if let Ok(name) = ItemName::parse(&file) {
                if let Ok(Some(record)) = self.read_record(&file) {
                    out.push((name, record));
                }
            }
        }
        Ok(out)
    }

    /// Finds one item by store path, item name, hash (`blake3:…`), a prefix of
    /// its item name (e.g. the first characters of the short hash), or its
    /// rock name.
    pub fn find(&self, query: &str) -> Result<Item, StoreError> {
        let trimmed = query.trim_end_matches('/');
        let last = Path::new(trimmed)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(trimmed);
        if let Ok(name) = ItemName::parse(last) {
            if let Some(item) = self.get(&name)? {
                return Ok(item);
            }
        }
        let by_hash = ContentHash::parse_hex(trimmed).ok();
        let mut matches: Vec<Item> = self
            .list()?
            .into_iter()
            .filter(|item| match by_hash {
                Some(hash) => item.record.hash == hash,
                None => item.name.as_str().starts_with(last) || item.record.name == last,
            })
            .collect();
        match matches.len() {
            0 => Err(StoreError::NotFound(query.to_owned())),
            1 => Ok(matches.swap_remove(0)),
            _ => Err(StoreError::Ambiguous {
                query: query.to_owned(),
                candidates: matches.into_iter().map(|i| i.name.to_string()).collect(),
            }),
        }
    }

    /// The canonical stream recorded for an item.
    pub fn listing(&self, name: &ItemName) -> Result<Option<Vec<u8>>, StoreError> {
        read_optional(&self.db_listings, name.as_str())
            .map_err(self.io("db/listings", name.as_str()))
    }

    /// Deletes items (for GC and repair). The caller proves it holds the
    /// exclusive store lock. The record goes first, so an item is never
    /// visible without all of its files; realisations that pointed at the
    /// deleted items go too.
    pub fn delete(&self, exclusive: &LockGuard, names: &[ItemName]) -> Result<(), StoreError> {
        debug_assert_eq!(exclusive.mode(), LockMode::Exclusive);
        if !names.is_empty() && !self.may_sweep()? {
            return Err(StoreError::NotOwner {
                root: self.root.clone(),
                owner: self.owner_uid()?,
            });
        }
        let doomed: BTreeSet<&str> = names.iter().map(ItemName::as_str).collect();
        // Item names are single validated path components, so these unlink
        // straight on the directory descriptors: GC's inner loop.
        let unlink = |dir: &Dir, sub: &'static str, name: &ItemName| match rustix::fs::unlinkat(
            dir,
            name.as_str(),
            rustix::fs::AtFlags::empty(),
        ) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(self.io(sub, name.as_str())(e.into())),
        };
        // Unlinks wait on the disk (freeing blocks), not the CPU, so they
        // run on every core even within one directory.
        use rayon::prelude::*;
        names
            .par_iter()
            .try_for_each(|name| unlink(&self.db_items, "db/items", name))?;
        // Every record is gone on disk before any directory goes: from here
        // on a directory is invisible garbage, whatever state a crash
        // leaves it in (layout.md: admission replaces such leftovers,
        // `verify --repair` removes them). So it is deleted where it is.
        sync_dir(&self.db_items).map_err(self.io("db/items", ""))?;
        names.par_iter().try_for_each(|name| {
            unlink(&self.db_listings, "db/listings", name)?;
            let _ = std::fs::remove_file(self.root.join(STAMPS).join(name.as_str()));
            match remove::remove_dir_tree(&self.items, name.as_str()) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other.map_err(self.io("store", name.as_str())),
            }
        })?;
        for (file, record) in self.realisations()? {
            if doomed.contains(record.item.as_str()) {
                remove_optional(&self.db_realisations, &file)
                    .map_err(self.io("db/realisations", &file))?;
                let _ = std::fs::remove_file(self.root.join("db/sources").join(&file));
                let _ = std::fs::remove_file(self.root.join("db/facts").join(&file));
            }
        }
        Ok(())
    }

    /// All readable realisations, with their file names.
    pub fn realisations(&self) -> Result<Vec<(String, Realisation)>, StoreError> {
        let mut out = Vec::new();
        for entry in self
            .db_realisations
            .entries()
            .map_err(self.io("db/realisations", ""))?
        {
            let entry = entry.map_err(self.io("db/realisations", ""))?;
            let Ok(file) = entry.file_name().into_string() else {
                continue;
            };
            if file.starts_with('.') {
                continue;
            }
            if let Some(bytes) = read_optional(&self.db_realisations, &file)
                .map_err(self.io("db/realisations", &file))?
            {
                if let Ok(record) = db::decode::<Realisation>(&bytes) {
                    out.push((file, record));
                }
            }
        }
        Ok(out)
    }
}
