//! The tree lock (`.rockstore/lock`, fs2, exclusive) and what is checked
//! once it is held, before a tree is changed: an adoption or release that
//! was interrupted, a switch a kill stopped, what LuaRocks changed. Also
//! giving back a lock whose change installed nothing (and the tree it
//! made), and the repairs a read-only command makes when the lock is free.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::luarocks_changes::examples;
use super::{io_err, switching, takeover, temp_name, Tree, TreeError, ADOPTING, RELEASING};

/// The held tree lock.
pub struct TreeLock {
    file: File,
    /// The directories taking the lock created (the tree's root and the
    /// ones above it that were missing, then `.rockstore/` and
    /// `generations/`), outermost first: [`Tree::unlock_unused`] removes
    /// them when nothing was installed after all.
    created: Vec<PathBuf>,
}

impl Tree {
    /// Refuses a tree whose adoption or release was interrupted.
    fn check_not_interrupted(&self) -> Result<(), TreeError> {
        if self.meta().join(ADOPTING).exists() {
            return Err(TreeError::Interrupted {
                root: self.root.clone(),
                what: "an adoption",
                command: "adopt",
            });
        }
        if self.meta().join(RELEASING).exists() {
            return Err(TreeError::Interrupted {
                root: self.root.clone(),
                what: "a release",
                command: "release",
            });
        }
        Ok(())
    }

    /// Refuses a tree rockstore cannot change as it stands: a plain
    /// LuaRocks tree (adopt it first), one LuaRocks changed since, or one
    /// whose adoption or release was interrupted. Every Lua version the
    /// tree holds counts.
    pub fn check_usable(&self) -> Result<(), TreeError> {
        self.check_not_interrupted()?;
        let changes = self.luarocks_changes_all();
        if changes.is_empty() {
            return Ok(());
        }
        if !self.is_profile() {
            let installed: Vec<crate::rock_id::RockId> = changes
                .iter()
                .flat_map(|(_, c)| c.installed.iter().cloned())
                .collect();
            return Err(TreeError::PlainLuaRocks {
                root: self.root.clone(),
                per_version: changes
                    .iter()
                    .map(|(v, c)| format!("Lua {v}: {}", c.installed.len()))
                    .collect::<Vec<_>>()
                    .join(", "),
                count: installed.len(),
                examples: examples(&installed),
            });
        }
        Err(TreeError::ChangedByLuaRocks {
            root: self.root.clone(),
            what: changes
                .iter()
                .map(|(v, c)| format!("for Lua {v}, {}", c.describe()))
                .collect::<Vec<_>>()
                .join("; "),
        })
    }

    /// Takes the tree lock, creating `.rockstore/` if needed. Fails early,
    /// with a hint, when the tree cannot be written.
    pub fn lock(&self) -> Result<TreeLock, TreeError> {
        let meta = self.meta();
        let generations = meta.join("generations");
        let mut created: Vec<PathBuf> = generations
            .ancestors()
            .take_while(|d| !d.exists())
            .map(Path::to_path_buf)
            .collect();
        created.reverse();
        if let Err(e) = std::fs::create_dir_all(&generations) {
            if e.kind() == io::ErrorKind::PermissionDenied {
                return Err(TreeError::NotWritable {
                    root: self.root.clone(),
                });
            }
            return Err(io_err(&meta)(e));
        }
        let path = meta.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    TreeError::NotWritable {
                        root: self.root.clone(),
                    }
                } else {
                    io_err(&path)(e)
                }
            })?;
        fs2::FileExt::lock_exclusive(&file).map_err(io_err(&path))?;
        // A lock file another process removed while we waited (see
        // [`Tree::unlock_unused`]) locks nothing: take the one there now.
        let held = rustix::fs::fstat(&file).map_err(|e| io_err(&path)(e.into()))?;
        match rustix::fs::stat(&path) {
            Ok(now) if now.st_dev == held.st_dev && now.st_ino == held.st_ino => {}
            _ => {
                drop(file);
                return self.lock();
            }
        }
        Ok(TreeLock { file, created })
    }

    /// Gives the lock back after a change that installed nothing; when
    /// taking it made the tree (nothing was there), the tree goes again,
    /// as LuaRocks leaves no tree behind a failed install. The lock file
    /// is removed while held; a process that waited on it takes the lock
    /// afresh (see [`Tree::lock`]).
    pub fn unlock_unused(&self, lock: TreeLock) {
        if lock.created.is_empty() || self.current().is_some() {
            return;
        }
        let only_lock = std::fs::read_dir(self.meta()).is_ok_and(|entries| {
            entries
                .flatten()
                .all(|e| e.file_name() == "lock" || e.file_name() == "generations")
        });
        if !only_lock {
            return;
        }
        let _ = std::fs::remove_file(self.meta().join("lock"));
        for dir in lock.created.iter().rev() {
            // Only empty directories go: anything written since stays.
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
        drop(lock.file);
    }

    /// Takes the tree lock to change the tree: refused, with what to do,
    /// when [`Tree::check_usable`] says so.
    pub fn lock_for_change(&self) -> Result<TreeLock, TreeError> {
        self.lock_for_change_with(false)
    }

    /// [`Tree::lock_for_change`] for a command that adopts what LuaRocks
    /// installed or changed under the lock it returns (`crate::adopt::
    /// first_touch`): only an interrupted release refuses.
    pub fn lock_for_adopting_change(&self) -> Result<TreeLock, TreeError> {
        self.lock_for_change_with(true)
    }

    fn lock_for_change_with(&self, adopting_first: bool) -> Result<TreeLock, TreeError> {
        let adopting = self.meta().join(ADOPTING).exists();
        if !self.meta().exists() && !adopting_first {
            // A tree not ours yet is checked before the lock creates
            // `.rockstore/`: a refused one gets none.
            self.check_usable()?;
        }
        let lock = self.lock()?;
        if adopting {
            // An adoption killed after its switch is finished here (see
            // [`takeover`]); one killed before leaves a LuaRocks tree.
            // Either way its temporary names go (LuaRocks' old copy of a
            // rock directory an exchange took out among them).
            takeover::finish(self, &|_| {})?;
            temp_name::sweep(&self.root);
        }
        // A switch a kill or a full disk stopped is completed (or undone)
        // before anything else reads the tree.
        switching::finish(self)?;
        // A marker or generation link a kill left half written.
        temp_name::sweep_meta(&self.root);
        if adopting_first {
            self.check_not_interrupted()?;
        } else {
            self.check_usable()?;
        }
        Ok(lock)
    }

    /// Finishes a switch a kill stopped ([`switching::finish`]), and
    /// removes what a kill left half written in `.rockstore/`, when the
    /// tree lock is free at once and this process may write the tree; for
    /// read-only commands (`list`), which never wait for a lock nor fail
    /// for this. Whether the tree was repaired.
    pub fn finish_interrupted_switch(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let pending = switching::pending(self);
        if !pending && !temp_name::any_in_meta(&self.root) {
            return false;
        }
        // Another user's tree (root listing it) is not written to.
        let mine = std::fs::metadata(self.meta())
            .is_ok_and(|m| m.uid() == rustix::process::geteuid().as_raw());
        if !mine {
            return false;
        }
        let path = self.meta().join("lock");
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else {
            return false;
        };
        if fs2::FileExt::try_lock_exclusive(&file).is_err() {
            return false;
        }
        let _held = TreeLock {
            file,
            created: Vec::new(),
        };
        // A marker or generation link a kill left half written goes too.
        let finished = pending && switching::finish(self).unwrap_or(false);
        !temp_name::sweep_meta(&self.root).is_empty() || finished
    }
}
