//! The content-addressed store: one root directory holding immutable items,
//! their records, realisations and tree registrations.
//!
//! ```text
//! <root>/
//!   store-format                "rockstore store format 1\n"; refused if different
//!   store/<item name>/          items: files 0444/0555, dirs 0555, mtime 1
//!   db/items/<item name>        ItemRecord (bincode, see db.rs)
//!   db/listings/<item name>     the item's canonical stream (canonical.rs)
//!   db/realisations/<key hex>   Realisation
//!   db/trees/<id>               TreeRegistration
//!   tmp/                        staging directories, trash
//!   locks/store.lock            see lock.rs for the order
//!   locks/items/<item name>.lock, locks/recipes/<key hex>.lock
//! ```
//! An item is *visible* when its record exists; the record is written last,
//! after the directory was renamed into `store/` and synced, so a crash never
//! exposes half an item. A directory without a record is garbage left by an
//! interrupted admission: invisible, replaced by the next admission of the
//! same content, removed by `verify --repair` (store-format/v1/layout.md).

pub mod canonical;
pub mod content_hash;
pub mod daemon_store;
pub mod db;
pub mod failpoint;
pub mod ingest;
pub mod item_archive;
pub mod item_name;
pub mod lock;
pub mod remote;
mod remove;
pub mod seal;
pub mod shared;
pub mod stamps;
pub mod verify;

mod error;
mod recipes;
mod scratch;
mod trees;

pub use error::StoreError;
pub use scratch::{BuildDir, Staging};
pub use trees::tree_id;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt};

use crate::fs_atomic::{sync_dir, unique_name, write_replace};
use content_hash::{ContentHash, RecipeKey};
use db::{ItemKind, ItemRecord, Realisation, RecordError};
use failpoint::Failpoints;
use ingest::{Ingest, IngestError, Mode};
use item_name::{ItemName, NameError};
use lock::{LockError, LockGuard, LockMode, Reporter};

/// Contents of the `store-format` marker file.
pub const FORMAT_MARKER: &str = "rockstore store format 1\n";
/// Mode of record and listing files.
const RECORD_MODE: u32 = 0o444;
/// Where items' stamps are kept ([`stamps`]).
const STAMPS: &str = "db/stamps";

/// How a store is used by this process.
pub struct StoreOptions {
    /// Hears about waits.
    pub reporter: Arc<dyn Reporter>,
    /// Test-only stopping points.
    pub failpoints: Arc<Failpoints>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            reporter: Arc::new(lock::Silent),
            failpoints: Arc::new(Failpoints::none()),
        }
    }
}

thread_local! {
    /// Whom this thread admits items for: set by the daemon while it
    /// serves a client, so records name the member who asked (her quota
    /// counts what she admitted that nothing roots) and say whether the
    /// kind and references came from her word (an `add`).
    static ACTING: std::cell::Cell<Option<Acting>> = const { std::cell::Cell::new(None) };
}

/// Who an admission is for (see [`acting_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acting {
    /// The client's uid: the records' `creator_uid`.
    pub uid: u32,
    /// The kind and references are the client's word (a member's `add`),
    /// not what the daemon computed (a build, a profile) or a trusted
    /// user's.
    pub untrusted_record: bool,
}

/// Until the guard is dropped, items this thread admits are recorded as
/// admitted by `acting`.
pub fn acting_for(acting: Acting) -> ActingGuard {
    let previous = ACTING.with(|a| a.replace(Some(acting)));
    ActingGuard { previous }
}

/// Restores the previous [`acting_for`] when dropped.
pub struct ActingGuard {
    previous: Option<Acting>,
}

impl Drop for ActingGuard {
    fn drop(&mut self) {
        ACTING.with(|a| a.set(self.previous));
    }
}

fn acting() -> Option<Acting> {
    ACTING.with(std::cell::Cell::get)
}

/// What to admit: the name parts, kind and the declared relations.
#[derive(Debug, Clone)]
pub struct ItemSpec {
    /// Rock (or other) name.
    pub name: String,
    /// Version.
    pub version: String,
    /// What it holds.
    pub kind: ItemKind,
    /// Item names this item needs (symlinks may only leave the item into these).
    pub references: Vec<String>,
    /// The recipe it was built from, recorded as a realisation.
    pub recipe_key: Option<RecipeKey>,
}

/// One generation of a tree as a GC root: its number and profile item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationRoot {
    /// The generation's number.
    pub generation: u64,
    /// Its profile item.
    pub item: ItemName,
}

/// An admitted, visible item.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its directory name.
    pub name: ItemName,
    /// Absolute path of its directory.
    pub path: PathBuf,
    /// Its record.
    pub record: ItemRecord,
}

/// An open store.
pub struct Store {
    root: PathBuf,
    items: Dir,
    db_items: Dir,
    db_listings: Dir,
    db_realisations: Dir,
    tmp: Dir,
    /// `locks/`, `locks/items`, `locks/recipes`; none for a daemon's client
    /// (the daemon's alone).
    lock_dirs: Option<[Dir; 3]>,
    options: StoreOptions,
    /// A daemon store this process does not own: it reads, and asks the
    /// daemon for every write (see `stores::open`).
    daemon_client: bool,
    /// A daemon store: admitted items are made immutable.
    sealed: bool,
    /// The group-writable layout of `store init --shared`: any member of
    /// the group may have written an item's bytes.
    shared_layout: bool,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    /// Opens the store at `root`, creating it (and its parents) if missing.
    pub fn open(root: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let open_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Open { path, source }
        };
        let root = std::path::absolute(root).map_err(open_err(root))?;
        let root_dir = loop {
            match Dir::open_ambient_dir(&root, ambient_authority()) {
                Ok(dir) => {
                    let empty = dir.entries().map_err(open_err(&root))?.next().is_none();
                    if !empty {
                        break dir;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(open_err(&root)(e)),
            }
            create_skeleton(&root).map_err(open_err(&root))?;
        };
        match root_dir.read_to_string("store-format") {
            Ok(marker) if marker == FORMAT_MARKER => {}
            Ok(found) => {
                return Err(StoreError::UnsupportedFormat {
                    path: root,
                    found: found.trim_end().to_owned(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotAStore { path: root })
            }
            Err(e) => return Err(open_err(&root)(e)),
        }
        let sub = |name: &str| root_dir.open_dir(name).map_err(open_err(&root.join(name)));
        let marker = match root_dir.metadata(daemon_store::MARKER) {
            Ok(marker) => Some(marker),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(open_err(&root.join(daemon_store::MARKER))(e)),
        };
        let sealed = marker.is_some();
        let daemon_client = marker
            .as_ref()
            .is_some_and(|m| m.uid() != rustix::process::geteuid().as_raw());
        let lock_dirs = if daemon_client {
            None
        } else {
            Some([sub("locks")?, sub("locks/items")?, sub("locks/recipes")?])
        };
        let shared_layout = root_dir
            .metadata("store")
            .map_err(open_err(&root.join("store")))?
            .mode()
            & 0o020
            != 0;
        Ok(Store {
            sealed,
            shared_layout,
            lock_dirs,
            daemon_client,
            items: sub("store")?,
            db_items: sub("db/items")?,
            db_listings: sub("db/listings")?,
            db_realisations: sub("db/realisations")?,
            tmp: sub("tmp")?,
            root,
            options,
        })
    }

    /// How this process uses the store.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Marks a named stopping point for crash tests (see [`failpoint`]).
    pub fn failpoint(&self, point: &str) {
        self.options.failpoints.hit(point);
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an item's directory is (whether or not it exists).
    pub fn item_path(&self, name: &ItemName) -> PathBuf {
        self.root.join("store").join(name.as_str())
    }

    fn path_of(&self, sub: &str, name: &str) -> PathBuf {
        self.root.join(sub).join(name)
    }

    fn io(&self, sub: &str, name: &str) -> impl FnOnce(io::Error) -> StoreError {
        let path = self.path_of(sub, name);
        move |source| StoreError::Io { path, source }
    }

    /// The lock directories; a daemon's client has none.
    fn lock_dirs(&self) -> Result<&[Dir; 3], StoreError> {
        self.lock_dirs.as_ref().ok_or_else(|| StoreError::Io {
            path: self.root.join("locks"),
            source: io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the store's locks belong to its daemon",
            ),
        })
    }

    /// Whether this is a daemon store this process does not own: it may
    /// read it, and asks its daemon for every write.
    pub fn is_daemon_client(&self) -> bool {
        self.daemon_client
    }

    /// Whether this store has the group-writable layout of `store init
    /// --shared`, which root never links from.
    pub fn is_shared_layout(&self) -> bool {
        self.shared_layout
    }

    /// Whether this is a daemon store (whoever opened it).
    pub fn is_daemon_store(&self) -> bool {
        self.sealed
    }

    /// Takes the store lock: shared to read or add, exclusive to delete.
    /// A daemon's client has no locks (they are the daemon's alone; its
    /// backend asks the daemon to hold one instead).
    pub fn lock(&self, mode: LockMode) -> Result<LockGuard, StoreError> {
        let what = match mode {
            LockMode::Shared => {
                "the store lock (another rockstore is collecting garbage or repairing the store)"
            }
            LockMode::Exclusive => {
                "exclusive use of the store (other rockstore processes are using it)"
            }
        };
        Ok(lock::acquire(
            &self.lock_dirs()?[0],
            &self.root.join("locks"),
            "store.lock",
            mode,
            what,
            &*self.options.reporter,
        )?)
    }

    /// [`Store::lock`], waiting at most `wait` for other holders.
    pub fn lock_within(
        &self,
        mode: LockMode,
        wait: std::time::Duration,
    ) -> Result<LockGuard, StoreError> {
        let what = match mode {
            LockMode::Shared => "the store lock (another rockstore is collecting garbage)",
            LockMode::Exclusive => "exclusive use of the store (installs are in flight)",
        };
        Ok(lock::acquire_waiting(
            &self.lock_dirs()?[0],
            &self.root.join("locks"),
            "store.lock",
            mode,
            what,
            &*self.options.reporter,
            Some(wait),
        )?)
    }

    /// Takes the build lock of a recipe, so no two processes build it at once.
    pub fn lock_recipe(&self, key: &RecipeKey) -> Result<LockGuard, StoreError> {
        let what = format!("another process building recipe {}", key.to_hex());
        let name = format!("{}.lock", key.to_hex());
        Ok(lock::acquire(
            &self.lock_dirs()?[2],
            &self.root.join("locks/recipes"),
            &name,
            LockMode::Exclusive,
            &what,
            &*self.options.reporter,
        )?)
    }

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
    fn encoded<T: serde::Serialize>(
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
        let text = stamps::render(&stamps::digest(&taken));
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
        let recorded = std::fs::read_to_string(self.root.join(STAMPS).join(name.as_str())).ok();
        let now = stamps::take(&item.path).ok().map(|s| stamps::digest(&s));
        if let (Some(r), Some(n)) = (recorded.as_deref().and_then(stamps::parse), now.as_deref()) {
            if r == n {
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

    fn read_record(&self, file: &str) -> Result<Option<ItemRecord>, StoreError> {
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
    fn record_names(&self) -> Result<Vec<String>, StoreError> {
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

/// The directories of an empty store.
const SKELETON: [&str; 8] = [
    "store",
    "db/items",
    "db/listings",
    "db/realisations",
    "db/trees",
    "tmp",
    "locks/items",
    "locks/recipes",
];

/// Builds a complete empty store next to `root` and renames it into place,
/// so concurrent first users never see half a store. Losing the race to
/// another process is fine: the caller then opens the winner's store.
fn create_skeleton(root: &Path) -> io::Result<()> {
    let parent = root
        .parent()
        .ok_or_else(|| io::Error::other("the store root has no parent directory"))?;
    std::fs::create_dir_all(parent)?;
    let parent_dir = Dir::open_ambient_dir(parent, ambient_authority())?;
    let temp = unique_name(".rockstore-new");
    parent_dir.create_dir(&temp)?;
    let build = || -> io::Result<()> {
        let dir = parent_dir.open_dir(&temp)?;
        for sub in SKELETON {
            dir.create_dir_all(sub)?;
        }
        write_replace(&dir, "store-format", FORMAT_MARKER.as_bytes(), 0o444)?;
        // The store's identity, which trees record (tree::binding); an
        // older store gets one when a tree first records it.
        write_replace(
            &dir,
            crate::tree::binding::STORE_ID,
            crate::tree::binding::new_id().as_bytes(),
            0o444,
        )?;
        let name = root
            .file_name()
            .ok_or_else(|| io::Error::other("the store root has no name"))?;
        // rename(2) replaces an empty directory but fails on a non-empty one.
        parent_dir.rename(&temp, &parent_dir, name)?;
        sync_dir(&parent_dir)
    };
    match build() {
        Ok(()) => Ok(()),
        // The root is a mount point (a Docker volume or cache mount, a
        // tmpfs): nothing can be renamed over it, so the skeleton is made
        // in it, the format marker last. A racing opener may see it
        // half-made and say it is not a store; run again and it is.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
            let _ = remove::remove_tree(&parent_dir, &temp);
            build_in_place(root)
        }
        Err(e) => {
            let _ = remove::remove_tree(&parent_dir, &temp);
            let lost_race = matches!(e.raw_os_error(), Some(code) if code == rustix::io::Errno::NOTEMPTY.raw_os_error() || code == rustix::io::Errno::EXIST.raw_os_error());
            if lost_race {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// [`create_skeleton`] in an existing empty directory that cannot be
/// replaced (a mount point).
fn build_in_place(root: &Path) -> io::Result<()> {
    let dir = Dir::open_ambient_dir(root, ambient_authority())?;
    for sub in SKELETON {
        dir.create_dir_all(sub)?;
    }
    write_replace(&dir, "store-format", FORMAT_MARKER.as_bytes(), 0o444)?;
    sync_dir(&dir)
}

fn read_optional(dir: &Dir, name: &str) -> io::Result<Option<Vec<u8>>> {
    match dir.read(name) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn remove_optional(dir: &Dir, name: &str) -> io::Result<()> {
    match dir.remove_file(name) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
