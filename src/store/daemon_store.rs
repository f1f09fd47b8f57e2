//! `store init --daemon`: a store only its owner writes (the daemon's
//! user). Everything is owned by the owner; no directory is group- or
//! world-writable; the lock files are the owner's alone (0600, in a 0700
//! `locks/`), so no client can hold a lock; `tmp/` is 0755 so build users
//! reach the build directories handed to them. A store made by `store
//! init --shared` is converted in place: owners and modes fixed, its
//! shared-mode leftovers (trust marks) dropped, and every item re-hashed.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::verify::VerifyOptions;
use super::{Store, StoreError, StoreOptions};

/// The marker `store init --daemon` writes: its presence makes every
/// other user a client of the daemon.
pub const MARKER: &str = "daemon-store";

/// The socket of a store's daemon.
pub fn socket_path(store_root: &Path) -> std::path::PathBuf {
    store_root.join("daemon.socket")
}

/// Why a store could not become a daemon store.
#[derive(Debug, thiserror::Error)]
pub enum DaemonStoreError {
    /// Fixing owners or modes failed.
    #[error("cannot take over {}: {source}", path.display())]
    Take {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An item does not match its name.
    #[error("{0} items do not match their names (see `rockstore verify --contents`); repair the store (`rockstore verify --repair`) before converting it")]
    Corrupt(usize),
}

impl Store {
    /// Creates a daemon store at `root`, or converts the store there.
    pub fn init_daemon(root: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let store = Store::open(root, options)?;
        let take = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io {
                path: path.clone(),
                source: io::Error::other(DaemonStoreError::Take { path, source }),
            }
        };
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        // The store lock exists from the start, owned like the rest.
        drop(store.lock(super::lock::LockMode::Shared)?);
        let trust = store.root.join("db/trust");
        if trust.exists() {
            std::fs::remove_dir_all(&trust).map_err(take(&trust))?;
        }
        fix_tree(&store.root, &store.root, uid, gid).map_err(take(&store.root))?;
        let marker = store.root.join(MARKER);
        std::fs::write(&marker, "rockstore daemon store 1\n").map_err(take(&marker))?;
        std::fs::set_permissions(&marker, PermissionsExt::from_mode(0o644))
            .map_err(take(&marker))?;
        let report = store.verify(VerifyOptions {
            contents: true,
            repair: false,
        })?;
        if !report.is_clean() {
            return Err(StoreError::Io {
                path: store.root.clone(),
                source: io::Error::other(DaemonStoreError::Corrupt(report.problems.len())),
            });
        }
        for item in store.list()? {
            super::seal::seal_tree(&item.path).map_err(take(&item.path))?;
        }
        Ok(store)
    }
}

/// The mode a path of a daemon store has: items keep theirs (read-only
/// already, checked by verify), every other directory 0755 (`locks/`
/// 0700), lock files 0600, records and the rest 0444 or 0644 as they are
/// but never group- or world-writable.
fn fix_tree(root: &Path, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    }
    let rel = path.strip_prefix(root).unwrap_or(path);
    let in_items = rel.starts_with("store") && rel != Path::new("store");
    // Links are never chmod'ed; the daemon's socket stays connectable.
    let socket = std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type());
    if !meta.file_type().is_symlink() && !socket {
        let mode = meta.mode() & 0o7777;
        let wanted = if in_items {
            mode & !0o7022
        } else if rel == Path::new("locks") || rel.starts_with("locks") && meta.is_dir() {
            0o700
        } else if rel.starts_with("locks") {
            0o600
        } else if meta.is_dir() {
            0o755
        } else {
            mode & !0o7022
        };
        if wanted != mode {
            std::fs::set_permissions(path, PermissionsExt::from_mode(wanted))?;
        }
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            fix_tree(root, &entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}
