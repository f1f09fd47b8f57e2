//! One store, many users (store-format/v1/shared.md).
//!
//! `store init --shared --group G` gives every directory an explicit owner,
//! group and mode, whatever the umask: directories users add entries to are
//! `3775` (setgid, so entries inherit the group; sticky, so nobody removes or
//! replaces another user's entry), the rest `2755`. Items, records and
//! listings are read-only for everyone (`0555`/`0444`), lock files `0644`
//! (a read-only descriptor is enough for `flock`). Only the store owner or
//! root deletes items (GC, repair).
//!
//! Trust by content: before an item another user admitted is linked into a
//! tree, it is re-hashed against its name, once per user; the result is
//! remembered in `db/trust/<uid>/<item>`. Items admitted by the linking user,
//! by root or by the store owner are trusted as they are.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::item_name::ItemName;
use super::{Store, StoreError, StoreOptions};

/// Directories users create entries in: setgid + sticky + group-writable.
pub const SHARED_DIRS: [&str; 13] = [
    "store",
    "db/items",
    "db/listings",
    "db/realisations",
    "db/sources",
    "db/facts",
    "db/trees",
    "db/roots",
    "db/trust",
    "tmp",
    "locks",
    "locks/items",
    "locks/recipes",
];
/// Directories only the owner writes.
pub const OWNER_DIRS: [&str; 2] = ["", "db"];

/// Mode of [`SHARED_DIRS`].
pub const SHARED_DIR_MODE: u32 = 0o3775;
/// Mode of [`OWNER_DIRS`].
pub const OWNER_DIR_MODE: u32 = 0o2755;

/// Why a store cannot be shared or an item cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// No such group.
    #[error("no group named `{0}` (create it with groupadd, and add the store's users to it)")]
    NoGroup(String),
    /// Setting owner, group or mode failed.
    #[error("cannot set the owner, group or mode of {}", path.display())]
    Chown {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The gid of group `name` (from /etc/group, so no NSS library is needed).
pub fn group_id(name: &str) -> Result<u32, SharedError> {
    let text = std::fs::read_to_string("/etc/group").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let group = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            (group == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| SharedError::NoGroup(name.to_owned()))
}

fn set(path: &Path, gid: u32, mode: u32) -> Result<(), SharedError> {
    let err = |source| SharedError::Chown {
        path: path.to_path_buf(),
        source,
    };
    rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
        .map_err(|e| err(io::Error::from(e)))?;
    // chown clears setgid on some systems: set the mode last.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)
}

impl Store {
    /// Creates (or converts) the store at `root` as a shared store for
    /// `group`, with explicit modes.
    pub fn init_shared(root: &Path, gid: u32, options: StoreOptions) -> Result<Store, StoreError> {
        let store = Store::open(root, options)?;
        let shared = |source: SharedError| StoreError::Io {
            path: root.to_path_buf(),
            source: io::Error::other(source.to_string()),
        };
        for dir in OWNER_DIRS {
            set(&store.root.join(dir), gid, OWNER_DIR_MODE).map_err(shared)?;
        }
        for dir in SHARED_DIRS {
            let path = store.root.join(dir);
            std::fs::create_dir_all(&path).map_err(store.io(dir, ""))?;
            set(&path, gid, SHARED_DIR_MODE).map_err(shared)?;
        }
        set(&store.root.join("store-format"), gid, 0o444).map_err(shared)?;
        // The store lock exists from the start, so every user can open it.
        let _ = store.lock(super::lock::LockMode::Shared)?;
        set(&store.root.join("locks/store.lock"), gid, 0o644).map_err(shared)?;
        Ok(store)
    }

    /// The uid owning the store root (its administrator).
    pub fn owner_uid(&self) -> Result<u32, StoreError> {
        std::fs::metadata(&self.root)
            .map(|m| m.uid())
            .map_err(self.io("", ""))
    }

    /// Whether the calling user may delete items (GC, repair): the store
    /// owner or root.
    pub fn may_sweep(&self) -> Result<bool, StoreError> {
        let me = rustix::process::geteuid().as_raw();
        Ok(me == 0 || me == self.owner_uid()?)
    }

    /// Checks an item before it is linked into a tree (see the module doc).
    pub fn check_trusted(&self, name: &ItemName) -> Result<(), StoreError> {
        let me = rustix::process::geteuid().as_raw();
        let Some(record) = self.read_record(name.as_str())? else {
            return Err(StoreError::NotFound(name.to_string()));
        };
        // In a daemon store only the daemon admits, after hashing what it
        // copied itself; `creator_uid` names the client it admitted for,
        // not a writer to distrust.
        if self.is_daemon_store() {
            return Ok(());
        }
        if record.creator_uid == me
            || record.creator_uid == 0
            || record.creator_uid == self.owner_uid()?
        {
            return Ok(());
        }
        let marker = self
            .root
            .join("db/trust")
            .join(me.to_string())
            .join(name.as_str());
        if marker.exists() {
            return Ok(());
        }
        let names_match = super::ItemName::new(&record.hash, &record.name, &record.version)
            .ok()
            .as_ref()
            == Some(name);
        let (problems, intact) = self.check_contents(name, &record, false);
        if !names_match || !intact {
            let detail = problems
                .iter()
                .map(|p| match &p.file {
                    Some(f) => format!("{f}: {}", p.what),
                    None => p.what.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(StoreError::Untrusted {
                item: name.to_string(),
                creator_uid: record.creator_uid,
                problem: if detail.is_empty() {
                    "its record does not match its name".to_owned()
                } else {
                    detail
                },
            });
        }
        // Remember, best effort: a failed write only costs a re-check.
        if let Some(dir) = marker.parent() {
            if std::fs::create_dir_all(dir).is_ok() {
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
                let _ = std::fs::write(&marker, b"");
            }
        }
        Ok(())
    }
}
