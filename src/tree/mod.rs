//! A rocks tree as a profile (DESIGN.md "Trees as profiles"):
//!
//! ```text
//! <tree>/.rockstore/generations/<N>   → <store>/store/<hash>-profile-<N>   (absolute symlink)
//! <tree>/.rockstore/generations/<N>.json  when it was made and what changed
//! <tree>/.rockstore/current           → generations/<N>    (replaced by symlink + rename)
//! <tree>/.rockstore/lock              the tree lock (fs2), held while changing the tree
//! <tree>/share/lua/<5.x>              → ../../.rockstore/current/share/lua/<5.x>
//! <tree>/lib/lua/<5.x>                → ../../.rockstore/current/lib/lua/<5.x>
//! <tree>/lib/luarocks/rocks-<5.x>     → ../../.rockstore/current/lib/luarocks/rocks-<5.x>
//! <tree>/bin/<cmd>                    → ../.rockstore/current/bin/<cmd>
//! ```
//! A switch is one `rename` of `current`, so every path above changes at
//! once. Commands a new generation adds get their `bin/` link before the
//! switch (dangling until then); commands it drops lose theirs after.
//! A tree may share its prefix with other content (`/usr/local`); only the
//! paths above are ours, and a real directory at one of them (a plain
//! LuaRocks tree, hand-installed modules) is refused, never replaced.

pub mod profile;

use std::fs::File;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use profile::{Profile, ProfileRock};

/// The metadata directory inside a tree.
pub const META: &str = ".rockstore";

/// Why a tree cannot be used or changed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// Something that is not ours sits where the profile links must go.
    #[error("{} holds a plain LuaRocks tree or other files at {} (a real directory, not rockstore's link); rockstore will not take it over.\nInstall into another tree (--tree DIR), or move those files away first", root.display(), path.display())]
    Foreign {
        /// The tree.
        root: PathBuf,
        /// The path in the way.
        path: PathBuf,
    },
    /// No such generation.
    #[error("tree {} has no generation {number}", root.display())]
    NoGeneration {
        /// The tree.
        root: PathBuf,
        /// The number asked for.
        number: u64,
    },
    /// Rollback from the first generation.
    #[error("tree {} has no generation before {current} to roll back to", root.display())]
    NothingToRollBack {
        /// The tree.
        root: PathBuf,
        /// The current generation.
        current: u64,
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

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
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
}

/// The held tree lock.
pub struct TreeLock {
    _file: File,
}

impl Tree {
    /// A tree at `root` (made absolute) for `lua_version`.
    pub fn new(root: &Path, lua_version: &str) -> io::Result<Tree> {
        Ok(Tree {
            root: std::path::absolute(root)?,
            lua_version: lua_version.to_owned(),
        })
    }

    fn meta(&self) -> PathBuf {
        self.root.join(META)
    }

    /// The paths a profile owns, relative to the root, with the link each
    /// should be.
    fn owned_links(&self) -> Vec<(PathBuf, PathBuf)> {
        let v = &self.lua_version;
        [
            format!("share/lua/{v}"),
            format!("lib/lua/{v}"),
            format!("lib/luarocks/rocks-{v}"),
        ]
        .into_iter()
        .map(|rel| {
            let target = PathBuf::from(format!("../../{META}/current/{rel}"));
            (PathBuf::from(rel), target)
        })
        .collect()
    }

    /// Whether this tree is managed by rockstore (has generations).
    pub fn is_profile(&self) -> bool {
        self.meta().join("generations").is_dir()
    }

    /// Refuses a tree whose owned paths hold something not ours.
    pub fn check_usable(&self) -> Result<(), TreeError> {
        for (rel, _) in self.owned_links() {
            let path = self.root.join(&rel);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {}
                Ok(m) if m.is_dir() && dir_is_empty(&path) => {}
                Ok(_) => {
                    return Err(TreeError::Foreign {
                        root: self.root.clone(),
                        path,
                    })
                }
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Takes the tree lock, creating `.rockstore/` if needed. Fails early,
    /// with a hint, when the tree cannot be written.
    pub fn lock(&self) -> Result<TreeLock, TreeError> {
        let meta = self.meta();
        if let Err(e) = std::fs::create_dir_all(meta.join("generations")) {
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
        Ok(TreeLock { _file: file })
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
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(number) = name.parse::<u64>() else {
                continue;
            };
            let Ok(item_path) = std::fs::read_link(entry.path()) else {
                continue;
            };
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
        let bytes = std::fs::read(link.join(profile::PROFILE_FILE)).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                TreeError::NoGeneration {
                    root: self.root.clone(),
                    number,
                }
            } else {
                io_err(&link)(e)
            }
        })?;
        serde_json::from_slice(&bytes).map_err(|e| TreeError::BadProfile {
            root: self.root.clone(),
            number,
            problem: e.to_string(),
        })
    }

    /// Records a new generation linking to `item_path` and makes it current.
    pub fn commit(
        &self,
        lock: &TreeLock,
        item_path: &Path,
        change: &str,
        created: u64,
    ) -> Result<u64, TreeError> {
        let dir = self.meta().join("generations");
        let number = self
            .generations()?
            .last()
            .map_or(1, |g| g.number + 1)
            .max(self.current().map_or(1, |c| c + 1));
        let info = GenerationInfo {
            created,
            change: change.to_owned(),
        };
        let info_path = dir.join(format!("{number}.json"));
        let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
        std::fs::write(&info_path, json).map_err(io_err(&info_path))?;
        let link = dir.join(number.to_string());
        let temp = dir.join(format!(".{number}.tmp"));
        let _ = std::fs::remove_file(&temp);
        symlink(item_path, &temp).map_err(io_err(&temp))?;
        std::fs::rename(&temp, &link).map_err(io_err(&link))?;
        self.switch(lock, number)?;
        Ok(number)
    }

    /// Makes generation `number` current: one rename of `current`.
    pub fn switch(&self, _lock: &TreeLock, number: u64) -> Result<(), TreeError> {
        let gen_link = self.meta().join("generations").join(number.to_string());
        if std::fs::read_link(&gen_link).is_err() {
            return Err(TreeError::NoGeneration {
                root: self.root.clone(),
                number,
            });
        }
        let new_commands = self.commands_of(&gen_link);
        self.ensure_links(&new_commands)?;
        let meta = self.meta();
        let temp = meta.join(format!(".current-{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        symlink(format!("generations/{number}"), &temp).map_err(io_err(&temp))?;
        std::fs::rename(&temp, meta.join("current")).map_err(io_err(&meta))?;
        if let Ok(dir) = std::fs::File::open(&meta) {
            let _ = dir.sync_all();
        }
        self.prune_bin_links(&new_commands);
        Ok(())
    }

    /// Removes every `bin/` link of ours to a command the current
    /// generation lacks: the previous generation's, and any a killed switch
    /// made for a generation that never became current. Others' files in
    /// `bin/` are never touched.
    fn prune_bin_links(&self, commands: &[String]) {
        let bin = self.root.join("bin");
        let Ok(entries) = std::fs::read_dir(&bin) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if commands.contains(&name) {
                continue;
            }
            let ours = PathBuf::from(format!("../{META}/current/bin/{name}"));
            if std::fs::read_link(entry.path()).is_ok_and(|t| t == ours) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn commands_of(&self, profile_root: &Path) -> Vec<String> {
        std::fs::read_dir(profile_root.join("bin"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Creates the tree's links into `current` (and `bin/` links for
    /// `commands`), refusing to replace anything that is not ours.
    fn ensure_links(&self, commands: &[String]) -> Result<(), TreeError> {
        self.check_usable()?;
        for (rel, target) in self.owned_links() {
            let path = self.root.join(&rel);
            if std::fs::read_link(&path).is_ok_and(|t| t == target) {
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            if std::fs::symlink_metadata(&path).is_ok() {
                // An empty directory or a stale link of ours.
                let _ = std::fs::remove_dir(&path);
                let _ = std::fs::remove_file(&path);
            }
            symlink(&target, &path).map_err(io_err(&path))?;
        }
        if !commands.is_empty() {
            let bin = self.root.join("bin");
            std::fs::create_dir_all(&bin).map_err(io_err(&bin))?;
            for cmd in commands {
                let path = bin.join(cmd);
                let target = PathBuf::from(format!("../{META}/current/bin/{cmd}"));
                match std::fs::read_link(&path) {
                    Ok(t) if t == target => continue,
                    Ok(_) => {
                        let _ = std::fs::remove_file(&path);
                    }
                    Err(_) if std::fs::symlink_metadata(&path).is_ok() => {
                        return Err(TreeError::Foreign {
                            root: self.root.clone(),
                            path,
                        })
                    }
                    Err(_) => {}
                }
                symlink(&target, &path).map_err(io_err(&path))?;
            }
        }
        Ok(())
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

fn dir_is_empty(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}
