//! File locks (fs2 `flock`) that order the store's writers: the store lock,
//! per-item admission locks and per-recipe build locks.
//!
//! Lock order (always taken in this order, never the reverse):
//! 1. `locks/store.lock` — shared for everything that reads or adds (add,
//!    install, verify); exclusive for what deletes (GC, `verify --repair`).
//!    A staging directory in `tmp/` lives only while its owner holds the
//!    shared lock, so an exclusive holder may sweep `tmp/`.
//! 2. `locks/recipes/<recipe key hex>.lock` — exclusive while one process
//!    builds a recipe, so two installers never build the same thing twice.
//! 3. `locks/items/<item name>.lock` — exclusive around the rename of an item
//!    into `store/` and the writing of its record.
//!
//! Locks are `flock`s: they die with their process, so a killed rockstore
//! never leaves the store locked. Lock files are never deleted while the store
//! is shared-locked (deleting one under a waiter would split the lock in two).

use std::io;
use std::path::{Path, PathBuf};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

// A wait is told as [`Event::Wait`] through the library's one reporter,
// before blocking on a lock another process holds; the CLI prints it.
use crate::reporter::Event;
pub use crate::reporter::{Quiet as Silent, Reporter};

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once.
    Shared,
    /// One holder, no shared holders.
    Exclusive,
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct LockGuard {
    _file: Option<std::fs::File>,
    /// A daemon's client: what keeps the daemon holding the lock for it
    /// (the connection), until it is dropped.
    _held: Option<Box<dyn std::fmt::Debug + Send + Sync>>,
    mode: LockMode,
}

impl LockGuard {
    /// A lock another process holds for as long as `keeper` lives.
    pub fn held_by(keeper: Box<dyn std::fmt::Debug + Send + Sync>, mode: LockMode) -> LockGuard {
        LockGuard {
            _file: None,
            _held: Some(keeper),
            mode,
        }
    }

    /// The mode this guard holds.
    pub fn mode(&self) -> LockMode {
        self.mode
    }
}

/// A lock that could not be taken.
#[derive(Debug, thiserror::Error)]
#[error("cannot lock {}", path.display())]
pub struct LockError {
    /// The lock file.
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: io::Error,
}

/// Takes `name` in `dir` in `mode`, creating the file if needed. If another
/// process holds it, tells `reporter` what it waits for, then blocks.
pub fn acquire(
    dir: &Dir,
    dir_path: &Path,
    name: &str,
    mode: LockMode,
    what: &str,
    reporter: &dyn Reporter,
) -> Result<LockGuard, LockError> {
    acquire_waiting(dir, dir_path, name, mode, what, reporter, None)
}

/// [`acquire`], waiting at most `wait` for the holders; then an error of
/// kind `TimedOut`.
pub fn acquire_waiting(
    dir: &Dir,
    dir_path: &Path,
    name: &str,
    mode: LockMode,
    what: &str,
    reporter: &dyn Reporter,
    wait: Option<std::time::Duration>,
) -> Result<LockGuard, LockError> {
    let path = dir_path.join(name);
    let err = |source| LockError {
        path: path.clone(),
        source,
    };
    // Opened read-only (enough for flock), so a lock file another user of a
    // shared store created is usable; created with an explicit mode when
    // missing, and if another process creates it first, opened again.
    let file = match dir.open(name) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match dir.open_with(
                name,
                OpenOptions::new().write(true).create_new(true).mode(0o644),
            ) {
                Ok(file) => {
                    // Whatever the umask.
                    file.set_permissions(cap_std::fs::Permissions::from_std(
                        std::os::unix::fs::PermissionsExt::from_mode(0o644),
                    ))
                    .map_err(err)?;
                    file
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    dir.open(name).map_err(err)?
                }
                Err(e) => return Err(err(e)),
            }
        }
        Err(e) => return Err(err(e)),
    };
    let file = file.into_std();
    let try_lock = match mode {
        LockMode::Shared => fs2::FileExt::try_lock_shared(&file),
        LockMode::Exclusive => fs2::FileExt::try_lock_exclusive(&file),
    };
    match try_lock {
        Ok(()) => {}
        Err(e)
            if e.kind() == fs2::lock_contended_error().kind()
                || e.kind() == io::ErrorKind::WouldBlock =>
        {
            reporter.report(Event::Wait {
                what,
                lock_file: &path,
            });
            match wait {
                None => match mode {
                    LockMode::Shared => fs2::FileExt::lock_shared(&file),
                    LockMode::Exclusive => fs2::FileExt::lock_exclusive(&file),
                }
                .map_err(err)?,
                Some(wait) => {
                    // flock has no timeout: try again until the deadline.
                    let deadline = std::time::Instant::now() + wait;
                    loop {
                        let tried = match mode {
                            LockMode::Shared => fs2::FileExt::try_lock_shared(&file),
                            LockMode::Exclusive => fs2::FileExt::try_lock_exclusive(&file),
                        };
                        match tried {
                            Ok(()) => break,
                            Err(e)
                                if e.kind() == fs2::lock_contended_error().kind()
                                    || e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(e) => return Err(err(e)),
                        }
                        if std::time::Instant::now() >= deadline {
                            return Err(err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!(
                                    "still held after {} s by others ({what}); nothing was done, try again when they are finished",
                                    wait.as_secs()
                                ),
                            )));
                        }
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                }
            }
        }
        Err(e) => return Err(err(e)),
    }
    Ok(LockGuard {
        _file: Some(file),
        _held: None,
        mode,
    })
}
