//! The trees a store knows: their registrations and the generations
//! they root (`db/trees/`, `db/roots/`), which GC reads.

use super::*;

impl Store {
    /// Registers a tree as a GC root under `uid` (`db/trees/<uid>/<id>`, id
    /// = the first 32 hex digits of blake3 of the path) and records its
    /// roots (`db/roots/<uid>/<id>`); registering again refreshes both.
    /// Backends call it: the local one for this process's user, the
    /// daemon for its client.
    pub fn register_tree_for(
        &self,
        path: &Path,
        uid: u32,
        roots: &[GenerationRoot],
    ) -> Result<(), StoreError> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes().to_vec();
        let id = tree_id(&bytes);
        let mine = uid.to_string();
        // Roots first: a registration is never visible without them.
        let mut generations: Vec<(u64, String)> = roots
            .iter()
            .map(|r| (r.generation, r.item.as_str().to_owned()))
            .collect();
        generations.sort();
        let roots_record = db::TreeRoots {
            format_version: db::FORMAT_VERSION,
            path: bytes.clone(),
            uid,
            recorded: now_secs(),
            generations,
        };
        // Refused before anything is written: a record the reader would
        // refuse would stop every collection.
        let roots_bytes = self.encoded(&roots_record, "db/roots", &format!("{mine}/{id}"))?;
        match self.user_dir("db/roots", &mine) {
            Ok(dir) => {
                write_replace(&dir, &id, &roots_bytes, RECORD_MODE)
                    .map_err(self.io("db/roots", &format!("{mine}/{id}")))?;
                sync_dir(&dir).map_err(self.io("db/roots", &mine))?;
            }
            // A shared store made before `db/roots` existed: its members
            // cannot create it. Its collections read the trees themselves
            // (only a daemon store's rely on recorded roots).
            Err(StoreError::Io { source, .. })
                if !self.sealed && source.kind() == io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(e),
        }
        let dir = self.user_dir("db/trees", &mine)?;
        let record = db::TreeRegistration {
            format_version: db::FORMAT_VERSION,
            path: bytes,
            uid,
            registered: now_secs(),
        };
        let bytes = self.encoded(&record, "db/trees", &format!("{mine}/{id}"))?;
        write_replace(&dir, &id, &bytes, RECORD_MODE)
            .map_err(self.io("db/trees", &format!("{mine}/{id}")))?;
        sync_dir(&dir).map_err(self.io("db/trees", &mine))
    }

    /// `<sub>/<user>`, created (0755) when missing: each user registers in
    /// their own directory, so nobody can drop another user's roots
    /// (`db/trees` is sticky in a shared store).
    fn user_dir(&self, sub: &str, user: &str) -> Result<Dir, StoreError> {
        let root =
            Dir::open_ambient_dir(&self.root, ambient_authority()).map_err(self.io("", ""))?;
        root.create_dir_all(sub).map_err(self.io(sub, ""))?;
        let parent = root.open_dir(sub).map_err(self.io(sub, ""))?;
        if parent.symlink_metadata(user).is_err() {
            parent
                .create_dir(user)
                .or_else(|e| {
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(self.io(sub, user))?;
            parent
                .set_permissions(
                    user,
                    cap_std::fs::Permissions::from_std(
                        std::os::unix::fs::PermissionsExt::from_mode(0o755),
                    ),
                )
                .map_err(self.io(sub, user))?;
        }
        parent.open_dir(user).map_err(self.io(sub, user))
    }

    /// The roots recorded for the registration `file` (as [`Store::trees`]
    /// names it), if any were.
    pub fn recorded_roots(&self, file: &str) -> Result<Option<db::TreeRoots>, StoreError> {
        let path = self.root.join("db/roots").join(file);
        match std::fs::read(&path) {
            Ok(bytes) => db::decode(&bytes)
                .map(Some)
                .map_err(|source| StoreError::UnusableRoots { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Every readable tree registration, with its file (`<uid>/<id>`, or
    /// `<id>` for registrations written before per-user directories).
    pub fn trees(&self) -> Result<Vec<(String, db::TreeRegistration)>, StoreError> {
        let trees = self.db_trees()?;
        let mut out = Vec::new();
        let read_dir = |dir: &Dir,
                        prefix: &str,
                        out: &mut Vec<(String, db::TreeRegistration)>|
         -> Result<Vec<String>, StoreError> {
            let mut subdirs = Vec::new();
            for entry in dir.entries().map_err(self.io("db/trees", prefix))? {
                let entry = entry.map_err(self.io("db/trees", prefix))?;
                let Ok(file) = entry.file_name().into_string() else {
                    continue;
                };
                if file.starts_with('.') {
                    continue;
                }
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    subdirs.push(file);
                    continue;
                }
                if let Some(bytes) =
                    read_optional(dir, &file).map_err(self.io("db/trees", &file))?
                {
                    if let Ok(record) = db::decode::<db::TreeRegistration>(&bytes) {
                        out.push((format!("{prefix}{file}"), record));
                    }
                }
            }
            Ok(subdirs)
        };
        let subdirs = read_dir(&trees, "", &mut out)?;
        for sub in subdirs {
            if let Ok(dir) = trees.open_dir(&sub) {
                read_dir(&dir, &format!("{sub}/"), &mut out)?;
            }
        }
        Ok(out)
    }

    /// Drops a tree registration (its tree is gone); `file` as [`Store::trees`] names it.
    pub fn unregister_tree(&self, file: &str) -> Result<(), StoreError> {
        let trees = self.db_trees()?;
        remove_optional(&trees, file).map_err(self.io("db/trees", file))?;
        match std::fs::remove_file(self.root.join("db/roots").join(file)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.io("db/roots", file)(e)),
            _ => Ok(()),
        }
    }

    fn db_trees(&self) -> Result<Dir, StoreError> {
        let root =
            Dir::open_ambient_dir(&self.root, ambient_authority()).map_err(self.io("", ""))?;
        root.create_dir_all("db/trees")
            .map_err(self.io("db/trees", ""))?;
        root.open_dir("db/trees").map_err(self.io("db/trees", ""))
    }
}

/// The file name of a tree's registration.
pub fn tree_id(path_bytes: &[u8]) -> String {
    blake3::hash(path_bytes).to_hex()[..32].to_owned()
}
