//! A rocks tree as a profile (DESIGN.md "Trees as profiles"):
//!
//! ```text
//! <tree>/.rockstore/generations/<N>   → <store>/store/<hash>-profile-<N>   (absolute symlink)
//! <tree>/.rockstore/generations/<N>.json  when it was made and what changed
//! <tree>/.rockstore/current           → generations/<N>    (replaced by symlink + rename)
//! <tree>/.rockstore/lock              the tree lock (fs2), held while changing the tree
//! <tree>/.rockstore/adopting          an adoption under way (see crate::adopt)
//! <tree>/.rockstore/releasing         a release under way
//! <tree>/.rockstore/switching         a switch under way (see [`switching`])
//! <tree>/share/lua/<5.x>/…, lib/lua/<5.x>/…, lib/luarocks/rocks-<5.x>/<name>/<ver>, bin/<cmd>
//!                                     one link per entry into `current` (see [`links`])
//! ```
//! A switch is one `rename` of `current`, so every entry both generations
//! have changes at once; what must follow it (the manifest, removing the
//! old generation's links) is finished by the next command when a kill or a
//! full disk stops it ([`switching`]). Every temporary name in a tree
//! follows one pattern ([`temp_name`]) and never outlives the tree lock of
//! the next command that changes the tree. A tree may share its prefix
//! with other content (`/usr/local`); only our links are ours, and
//! anything else at a place a generation needs is refused, never replaced
//! — except what an adoption takes over, which shows the same bytes.

pub mod binding;
pub mod link_mode;
pub mod links;
pub mod profile;
pub mod switching;
pub mod takeover;
pub mod temp_name;

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use link_mode::LinkMode;
pub use profile::{Profile, ProfileRock};

/// The metadata directory inside a tree.
pub const META: &str = ".rockstore";

/// The marker of an adoption under way, in [`META`].
pub const ADOPTING: &str = "adopting";

/// The marker of a release under way, in [`META`].
pub const RELEASING: &str = "releasing";

/// What LuaRocks did to a tree that rockstore did not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LuaRocksChanges {
    /// Rocks it installed: `(name, version)`.
    pub installed: Vec<(String, String)>,
    /// Rocks of the current generation it removed.
    pub removed: Vec<(String, String)>,
}

impl LuaRocksChanges {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.installed.is_empty() && self.removed.is_empty()
    }

    /// In words: "it installed a 1.0-1; it removed b 2.0-1".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.installed.is_empty() {
            parts.push(format!("it installed {}", examples(&self.installed)));
        }
        if !self.removed.is_empty() {
            parts.push(format!("it removed {}", examples(&self.removed)));
        }
        parts.join("; ")
    }
}

/// Up to five `name version`s, and how many more.
fn examples(rocks: &[(String, String)]) -> String {
    let mut shown: Vec<String> = rocks
        .iter()
        .take(5)
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    if rocks.len() > 5 {
        shown.push(format!("and {} more", rocks.len() - 5));
    }
    shown.join(", ")
}

/// Why a tree cannot be used or changed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// Something that is not ours sits where a profile link must go.
    #[error("{} is in the way: rockstore did not put it there and will not replace it.\nIf LuaRocks installed it, run `rockstore adopt {}`; else move it away, or install into another tree (--tree DIR)", path.display(), root.display())]
    Foreign {
        /// The tree.
        root: PathBuf,
        /// The path in the way.
        path: PathBuf,
    },
    /// A plain LuaRocks tree: rockstore manages none of its rocks yet, and
    /// the policy (`--no-adopt`, `rockstore_adopt = "explicit"`) asks for
    /// the explicit step.
    #[error("{} is a LuaRocks tree with {count} rock(s) ({per_version}: {examples}); rockstore does not manage it yet.\nRun `rockstore adopt {}` first: it takes them into the store as generation 1, and `rockstore release {}` gives the tree back", root.display(), root.display(), root.display())]
    PlainLuaRocks {
        /// The tree.
        root: PathBuf,
        /// `Lua 5.4: 2, Lua 5.1: 1`.
        per_version: String,
        /// How many rocks LuaRocks installed, over every Lua version.
        count: usize,
        /// A few of them, `name version`.
        examples: String,
    },
    /// LuaRocks changed an adopted tree behind rockstore's back.
    #[error("LuaRocks changed {} after rockstore last did: {what}.\nRun `rockstore adopt {}` to take the changes into a new generation", root.display(), root.display())]
    ChangedByLuaRocks {
        /// The tree.
        root: PathBuf,
        /// What changed, in words.
        what: String,
    },
    /// An adoption or release was killed midway.
    #[error("{what} of {} was interrupted; run `rockstore {command} {}` to finish it", root.display(), root.display())]
    Interrupted {
        /// The tree.
        root: PathBuf,
        /// "an adoption", "a release".
        what: &'static str,
        /// The command that finishes it.
        command: &'static str,
    },
    /// No such generation.
    #[error("tree {} has no generation {number}", root.display())]
    NoGeneration {
        /// The tree.
        root: PathBuf,
        /// The number asked for.
        number: u64,
    },
    /// Rollback from the first generation: nothing before it to go back
    /// to; what undoes it is removing its rocks.
    #[error("{} is at generation {current}, and has no generation before it to roll back to.\nTo undo what it installed, remove its rocks: `{undo}`", root.display())]
    NothingToRollBack {
        /// The tree.
        root: PathBuf,
        /// The current generation.
        current: u64,
        /// The command that removes its rocks.
        undo: String,
        /// The command that lists the tree's generations.
        list: String,
    },
    /// Deleting the current generation.
    #[error("generation {0} is current; switch to another one before deleting it")]
    DeleteCurrent(u64),
    /// The tree cannot be written.
    #[error("cannot write to the tree {}: permission denied.\nUse --local to install into your own tree (~/.luarocks), or --tree DIR", root.display())]
    NotWritable {
        /// The tree.
        root: PathBuf,
    },
    /// File system trouble.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A self-contained generation's files could not be placed.
    #[error(transparent)]
    Placement(Box<link_mode::LinkModeError>),
    /// A profile's metadata is unreadable.
    #[error("generation {number} of {}: unreadable profile metadata: {problem}", root.display())]
    BadProfile {
        /// The tree.
        root: PathBuf,
        /// The generation.
        number: u64,
        /// What is wrong.
        problem: String,
    },
}

impl crate::hint::Hint for TreeError {
    fn hints(&self) -> Vec<String> {
        match self {
            TreeError::NothingToRollBack { list, .. } => {
                vec![format!("`{list}` lists the tree's generations")]
            }
            _ => Vec::new(),
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a generation's sidecar file says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GenerationInfo {
    /// Seconds since the epoch.
    pub created: u64,
    /// What changed, in words (`install foo 1.0-1`).
    pub change: String,
    /// A copy of the generation's rocks, so a tree whose store is gone
    /// still answers `list`, `show`, `which` (profiles.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

/// One generation of a tree.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Its number.
    pub number: u64,
    /// The profile item it links to.
    pub item_path: PathBuf,
    /// Its sidecar, when readable.
    pub info: Option<GenerationInfo>,
}

/// A tree for one Lua version.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Absolute root.
    pub root: PathBuf,
    /// `5.x`.
    pub lua_version: String,
    /// How new generations reach the tree ([`link_mode`]).
    pub link_mode: LinkMode,
    /// How the last generation this process committed was placed.
    pub(crate) last_placed: std::sync::Arc<std::sync::Mutex<link_mode::Placed>>,
}

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
    /// A tree at `root` (made absolute) for `lua_version`.
    pub fn new(root: &Path, lua_version: &str) -> io::Result<Tree> {
        Ok(Tree {
            root: std::path::absolute(root)?,
            lua_version: lua_version.to_owned(),
            link_mode: LinkMode::default(),
            last_placed: Default::default(),
        })
    }

    pub(crate) fn meta(&self) -> PathBuf {
        self.root.join(META)
    }

    /// Whether this tree is managed by rockstore (has a current generation).
    pub fn is_profile(&self) -> bool {
        std::fs::symlink_metadata(self.meta().join("current")).is_ok()
    }

    /// What LuaRocks changed in the tree that rockstore did not: rocks it
    /// installed (real rock directories) and rocks of the current
    /// generation it removed (their link gone).
    pub fn luarocks_changes(&self) -> LuaRocksChanges {
        let profile = if self.is_profile() {
            self.current_profile().ok()
        } else {
            None
        };
        self.luarocks_changes_in(&self.lua_version, profile.as_ref())
    }

    /// [`Tree::luarocks_changes`] for Lua `version`, against `profile`
    /// (the current one, for any Lua version; none for a plain tree).
    fn luarocks_changes_in(&self, version: &str, profile: Option<&Profile>) -> LuaRocksChanges {
        let installed = links::luarocks_rocks(&self.root, version);
        let mut removed = Vec::new();
        let held: &[ProfileRock] = match profile {
            Some(p) if p.lua_version == version => &p.rocks,
            Some(p) => p.others.get(version).map_or(&[], Vec::as_slice),
            None => &[],
        };
        for rock in held {
            let reinstalled = installed
                .iter()
                .any(|(n, v)| *n == rock.name && *v == rock.version);
            if !reinstalled && !links::has_rock_link(&self.root, version, &rock.name, &rock.version)
            {
                removed.push((rock.name.clone(), rock.version.clone()));
            }
        }
        LuaRocksChanges { installed, removed }
    }

    /// What LuaRocks changed, per Lua version the tree holds rocks for
    /// (LuaRocks' or ours), the tree's own first; versions it did not
    /// change are left out.
    pub fn luarocks_changes_all(&self) -> Vec<(String, LuaRocksChanges)> {
        let mut versions = vec![self.lua_version.clone()];
        versions.extend(
            crate::lua_install::KNOWN_VERSIONS
                .iter()
                .map(|v| (*v).to_owned())
                .filter(|v| *v != self.lua_version),
        );
        // The profile is read once for every version.
        let profile = if self.is_profile() {
            self.current_profile().ok()
        } else {
            None
        };
        versions
            .into_iter()
            .map(|v| {
                let changes = self.luarocks_changes_in(&v, profile.as_ref());
                (v, changes)
            })
            .filter(|(_, c)| !c.is_empty())
            .collect()
    }

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
            let installed: Vec<(String, String)> = changes
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

    /// Every generation, oldest first.
    pub fn generations(&self) -> Result<Vec<Generation>, TreeError> {
        let dir = self.meta().join("generations");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            // An entry that cannot be read is an error, never a generation
            // that is not there: GC keeps what generations name.
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(number) = name.parse::<u64>() else {
                continue;
            };
            let item_path = std::fs::read_link(entry.path()).map_err(io_err(&entry.path()))?;
            let info = std::fs::read(dir.join(format!("{number}.json")))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            out.push(Generation {
                number,
                item_path,
                info,
            });
        }
        out.sort_by_key(|g| g.number);
        Ok(out)
    }

    /// The number the next committed generation gets.
    pub fn next_generation(&self) -> Result<u64, TreeError> {
        Ok(self.generations()?.last().map_or(1, |g| g.number + 1))
    }

    /// The current generation's number.
    pub fn current(&self) -> Option<u64> {
        let link = std::fs::read_link(self.meta().join("current")).ok()?;
        link.file_name()?.to_str()?.parse().ok()
    }

    /// The current profile (empty when the tree has none yet).
    pub fn current_profile(&self) -> Result<Profile, TreeError> {
        match self.current() {
            None => Ok(Profile::empty(&self.lua_version)),
            Some(n) => self.profile_of(n),
        }
    }

    /// The profile of generation `number`.
    pub fn profile_of(&self, number: u64) -> Result<Profile, TreeError> {
        let link = self.meta().join("generations").join(number.to_string());
        let read = std::fs::read(link.join(profile::PROFILE_FILE));
        if let Err(e) = &read {
            // The store (or the item) is gone: the sidecar's copy answers.
            if e.kind() == io::ErrorKind::NotFound {
                if let Some(p) = self.sidecar_profile(number) {
                    return Ok(p.for_lua(&self.lua_version));
                }
            }
        }
        let bytes = read.map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                TreeError::NoGeneration {
                    root: self.root.clone(),
                    number,
                }
            } else {
                io_err(&link)(e)
            }
        })?;
        let profile: Profile =
            serde_json::from_slice(&bytes).map_err(|e| TreeError::BadProfile {
                root: self.root.clone(),
                number,
                problem: e.to_string(),
            })?;
        Ok(profile.for_lua(&self.lua_version))
    }

    /// Records a new generation linking to `item_path` and makes it current.
    pub fn commit(
        &self,
        lock: &TreeLock,
        item_path: &Path,
        change: &str,
        created: u64,
    ) -> Result<u64, TreeError> {
        self.commit_taking_over(lock, item_path, change, created, &BTreeSet::new())
    }

    /// [`Tree::commit`], switching as [`Tree::switch_taking_over`] does.
    pub fn commit_taking_over(
        &self,
        _lock: &TreeLock,
        item_path: &Path,
        change: &str,
        created: u64,
        taken_over: &BTreeSet<PathBuf>,
    ) -> Result<u64, TreeError> {
        let dir = self.meta().join("generations");
        let number = self
            .generations()?
            .last()
            .map_or(1, |g| g.number + 1)
            .max(self.current().map_or(1, |c| c + 1));
        let profile_copy = std::fs::read(item_path.join(profile::PROFILE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let info = GenerationInfo {
            created,
            change: change.to_owned(),
            profile: profile_copy,
        };
        // In a self-contained mode the generation's files are placed in
        // the tree first: a failure (a full disk) leaves the tree as it was.
        let link_target = if self.link_mode.is_self_contained() {
            let (dest, placed) = link_mode::place(self.link_mode, &self.meta(), item_path)
                .map_err(|e| TreeError::Placement(Box::new(e)))?;
            if let Ok(mut last) = self.last_placed.lock() {
                *last = placed;
            }
            PathBuf::from("..")
                .join(link_mode::PROFILES)
                .join(dest.file_name().unwrap_or_default())
        } else {
            item_path.to_path_buf()
        };
        // The marker comes first: a generation a kill leaves behind
        // before it became current goes with it (see [`switching`]).
        switching::mark(
            self,
            switching::Marker {
                generation: number,
                new: true,
            },
        )?;
        let recorded = (|| {
            let info_path = dir.join(format!("{number}.json"));
            let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
            fs_write_whole(&info_path, &json)?;
            let link = dir.join(number.to_string());
            let temp = temp_name::beside(&link);
            let _ = std::fs::remove_file(&temp);
            symlink(&link_target, &temp).map_err(io_err(&temp))?;
            std::fs::rename(&temp, &link).map_err(io_err(&link))
        })();
        recorded
            .and_then(|()| self.switch_marked(number, taken_over))
            .map_err(|e| self.after_failed_switch(e))?;
        self.record_binding(item_path);
        Ok(number)
    }

    /// Makes generation `number` current: one rename of `current`.
    pub fn switch(&self, lock: &TreeLock, number: u64) -> Result<(), TreeError> {
        self.switch_taking_over(lock, number, &BTreeSet::new())
    }

    /// [`Tree::switch`], leaving the places in `taken_over` (what LuaRocks
    /// deployed, which an adoption replaces right after) as they are.
    pub fn switch_taking_over(
        &self,
        _lock: &TreeLock,
        number: u64,
        taken_over: &BTreeSet<PathBuf>,
    ) -> Result<(), TreeError> {
        let gen_link = self.meta().join("generations").join(number.to_string());
        if std::fs::read_link(&gen_link).is_err() {
            return Err(TreeError::NoGeneration {
                root: self.root.clone(),
                number,
            });
        }
        switching::mark(
            self,
            switching::Marker {
                generation: number,
                new: false,
            },
        )?;
        self.switch_marked(number, taken_over)
            .map_err(|e| self.after_failed_switch(e))
    }

    /// The switch proper, with the marker written (see [`switching`] for
    /// the order and what a kill at each step leaves).
    fn switch_marked(&self, number: u64, taken_over: &BTreeSet<PathBuf>) -> Result<(), TreeError> {
        let gen_link = self.meta().join("generations").join(number.to_string());
        links::convert_directory_links(&self.root)?;
        let versions = links::versions_in(&gen_link).map_err(io_err(&gen_link))?;
        let entries = links::entries_of(&gen_link).map_err(io_err(&gen_link))?;
        let survey = links::check(&self.root, &entries, taken_over)?;
        links::ensure(&self.root, &versions, &survey)?;
        let staged = switching::stage_manifests(self, &gen_link, &versions)?;
        crate::store::failpoint::hit("switch-staged");
        let meta = self.meta();
        let temp = temp_name::beside(&meta.join("current"));
        let _ = std::fs::remove_file(&temp);
        symlink(format!("generations/{number}"), &temp).map_err(io_err(&temp))?;
        std::fs::rename(&temp, meta.join("current")).map_err(io_err(&meta))?;
        if let Ok(dir) = std::fs::File::open(&meta) {
            let _ = dir.sync_all();
        }
        crate::store::failpoint::hit("switch-renamed");
        switching::place_manifests(&staged)?;
        links::prune(&self.root, &entries);
        crate::store::failpoint::hit("switch-pruned");
        // A placed generation a failed commit left behind goes.
        link_mode::remove_unused(&self.meta());
        switching::unmark(self)
    }

    /// After a switch step failed: the tree is made to agree with
    /// whatever `current` names now (the switch undone before its rename,
    /// completed after it). When even that fails (the disk is still full),
    /// the marker stays for the next command. The original error is
    /// returned.
    fn after_failed_switch(&self, error: TreeError) -> TreeError {
        let _ = switching::finish(self);
        link_mode::remove_unused(&self.meta());
        error
    }

    /// Deletes generation links (never the current one); GC then frees
    /// what no generation uses.
    pub fn delete_generations(&self, _lock: &TreeLock, numbers: &[u64]) -> Result<(), TreeError> {
        let current = self.current();
        let dir = self.meta().join("generations");
        for &n in numbers {
            if Some(n) == current {
                return Err(TreeError::DeleteCurrent(n));
            }
        }
        for &n in numbers {
            let link = dir.join(n.to_string());
            if std::fs::symlink_metadata(&link).is_err() {
                return Err(TreeError::NoGeneration {
                    root: self.root.clone(),
                    number: n,
                });
            }
            std::fs::remove_file(&link).map_err(io_err(&link))?;
            let _ = std::fs::remove_file(dir.join(format!("{n}.json")));
        }
        link_mode::remove_unused(&self.meta());
        Ok(())
    }

    /// `share/lua/5.x` etc. as seen by Lua: the paths `rockstore path`
    /// prints.
    pub fn lua_dir(&self) -> PathBuf {
        self.root.join("share/lua").join(&self.lua_version)
    }

    /// `lib/lua/5.x`.
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib/lua").join(&self.lua_version)
    }

    /// `lib/luarocks/rocks-5.x`.
    pub fn rocks_dir(&self) -> PathBuf {
        self.root
            .join("lib/luarocks")
            .join(format!("rocks-{}", self.lua_version))
    }

    /// `bin`.
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }
}

/// Writes a small file whole or not at all: a full disk leaves no partial
/// file behind.
fn fs_write_whole(path: &Path, bytes: &[u8]) -> Result<(), TreeError> {
    std::fs::write(path, bytes).map_err(|e| {
        let _ = std::fs::remove_file(path);
        io_err(path)(e)
    })
}
