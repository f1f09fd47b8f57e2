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
//!
//! This file owns the layout, opening a store, its locks and whom an
//! admission is for; `admit` makes items, `items` reads, finds and deletes
//! them, `recipes` and `trees` keep the other records, `scratch` the
//! staging and build directories.

pub mod canonical;
pub mod content_hash;
pub mod daemon_store;
pub mod db;
pub mod failpoint;
pub mod identity;
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

mod admit;
mod error;
mod items;
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
            identity::STORE_ID,
            identity::new_id().as_bytes(),
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
