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
mod error;
pub mod link_mode;
pub mod links;
mod lock;
mod luarocks_changes;
pub mod profile;
pub mod switching;
pub mod takeover;
pub mod temp_name;

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(crate) use error::io_err;
pub use error::TreeError;
pub use link_mode::LinkMode;
pub use lock::TreeLock;
pub use luarocks_changes::LuaRocksChanges;
pub use profile::{Profile, ProfileRock};

/// The metadata directory inside a tree.
pub const META: &str = ".rockstore";

/// The marker of an adoption under way, in [`META`].
pub const ADOPTING: &str = "adopting";

/// The marker of a release under way, in [`META`].
pub const RELEASING: &str = "releasing";

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
