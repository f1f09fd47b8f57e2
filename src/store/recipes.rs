//! What the store remembers about recipes: realisations (recipe key to
//! item), the facts of a build and where its sources came from.

use super::*;

impl Store {
    /// Records that `key` was built into `item`.
    pub fn record_realisation(&self, key: &RecipeKey, item: &ItemName) -> Result<(), StoreError> {
        let record = Realisation {
            format_version: db::FORMAT_VERSION,
            recipe_key: *key,
            item: item.as_str().to_owned(),
            created: now_secs(),
        };
        let file = key.to_hex();
        match write_replace(
            &self.db_realisations,
            &file,
            &self.encoded(&record, "db/realisations", &file)?,
            RECORD_MODE,
        ) {
            Ok(()) => {}
            // Another user's realisation of the same recipe stands.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(()),
            Err(e) => return Err(self.io("db/realisations", &file)(e)),
        }
        sync_dir(&self.db_realisations).map_err(self.io("db/realisations", ""))
    }

    /// The item a recipe was built into, if it is still in the store.
    pub fn realisation(&self, key: &RecipeKey) -> Result<Option<Item>, StoreError> {
        let file = key.to_hex();
        let Some(bytes) = read_optional(&self.db_realisations, &file)
            .map_err(self.io("db/realisations", &file))?
        else {
            return Ok(None);
        };
        let record: Realisation = db::decode(&bytes).map_err(|source| StoreError::Record {
            path: self.path_of("db/realisations", &file),
            source,
        })?;
        match ItemName::parse(&record.item) {
            // Never a damaged item, whatever its name says.
            Ok(name) => self.get_intact(&name),
            Err(_) => Ok(None),
        }
    }

    /// Records the source a realisation's build fetched (`db/sources/`).
    pub fn record_source(
        &self,
        key: &RecipeKey,
        url: &str,
        blake3: content_hash::FileHash,
    ) -> Result<(), StoreError> {
        let db = self.root.join("db");
        let dir = Dir::open_ambient_dir(&db, ambient_authority()).map_err(self.io("db", ""))?;
        if dir.symlink_metadata("sources").is_err() {
            match dir.create_dir("sources") {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.io("db", "sources")(e)),
            }
        }
        let sources = dir.open_dir("sources").map_err(self.io("db", "sources"))?;
        let record = db::SourceRecord {
            format_version: db::FORMAT_VERSION,
            recipe_key: *key,
            url: url.to_owned(),
            blake3,
        };
        let bytes = self.encoded(&record, "db/sources", &key.to_hex())?;
        write_replace(&sources, &key.to_hex(), &bytes, RECORD_MODE)
            .map_err(self.io("db/sources", &key.to_hex()))
    }

    /// Records what recipe `key` was built for (`db/facts/`).
    pub fn record_facts(&self, facts: &db::RecipeFacts) -> Result<(), StoreError> {
        let dir = self.user_dir_root("db/facts")?;
        let file = facts.recipe_key.to_hex();
        let bytes = self.encoded(facts, "db/facts", &file)?;
        write_replace(&dir, &file, &bytes, RECORD_MODE).map_err(self.io("db/facts", &file))
    }

    /// What recipe `key` was built for, when recorded.
    pub fn facts_of(&self, key: &RecipeKey) -> Result<Option<db::RecipeFacts>, StoreError> {
        self.keyed_record("db/facts", key)
    }

    /// `sub` under the root, created when missing.
    fn user_dir_root(&self, sub: &str) -> Result<Dir, StoreError> {
        let root =
            Dir::open_ambient_dir(&self.root, ambient_authority()).map_err(self.io("", ""))?;
        root.create_dir_all(sub).map_err(self.io(sub, ""))?;
        root.open_dir(sub).map_err(self.io(sub, ""))
    }

    /// The source a realisation's build fetched, when recorded.
    pub fn source_of(&self, key: &RecipeKey) -> Result<Option<db::SourceRecord>, StoreError> {
        self.keyed_record("db/sources", key)
    }

    /// The record named by `key` in `sub`, when there is one; one that
    /// cannot be read or decoded is an error.
    fn keyed_record<T: for<'de> serde::Deserialize<'de>>(
        &self,
        sub: &str,
        key: &RecipeKey,
    ) -> Result<Option<T>, StoreError> {
        let path = self.root.join(sub).join(key.to_hex());
        match std::fs::read(&path) {
            Ok(bytes) => db::decode(&bytes)
                .map(Some)
                .map_err(|source| StoreError::Record { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io { path, source: e }),
        }
    }
}
