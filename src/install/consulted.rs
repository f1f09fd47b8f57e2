//! The trees a resolution consults for installed rocks: which ones the
//! deps mode names (LuaRocks' `map_trees`), and each one's rocks, read
//! once. A tree whose rocks cannot be read is an [`UnreadableTree`], not
//! a tree with no rocks; the installer refuses it when the deps mode
//! consults it.

use std::path::{Path, PathBuf};

use super::{DepsMode, Settings};
use crate::manifest::RepositoryManifest;
use crate::tree::Tree;

/// A tree consulted for dependencies: the target (whose rocks are the plan)
/// or another tree's installed rocks.
pub struct ConsultedTree {
    /// Root.
    pub root: PathBuf,
    /// Installed: name → (version, item when it is a rockstore tree).
    pub rocks: Vec<(String, String, Option<String>)>,
}

/// Another tree's rocks could not be read: never taken as "no rocks",
/// which would install a second copy or plan against a guess.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the rocks installed in {}: {reason}\nWhat that tree provides is unknown until it can be read: mend it, or take it out of rocks_trees (or use --deps-mode one, which consults only the target tree)", path.display())]
pub struct UnreadableTree {
    /// What could not be read (the tree, its profile or its manifest).
    pub path: PathBuf,
    /// Why.
    pub reason: String,
    /// The tree's current generation is gone with its store and no copy
    /// of its rock list is kept: nothing of it can load, so it provides
    /// nothing -- a warning, never a reason to stop.
    pub files_gone: bool,
}

impl ConsultedTree {
    /// Reads another tree: its rockstore profile when it has one, else its
    /// LuaRocks manifest (a plain LuaRocks tree); a tree or manifest that
    /// is not there has no rocks. Anything there that cannot be read is
    /// an error.
    pub fn read(root: &Path, lua_version: &str) -> Result<ConsultedTree, UnreadableTree> {
        let unreadable = |path: &Path, reason: String| UnreadableTree {
            path: path.to_path_buf(),
            reason,
            files_gone: false,
        };
        let tree = Tree::new(root, lua_version).map_err(|e| unreadable(root, e.to_string()))?;
        let mut rocks = Vec::new();
        if tree.is_profile() {
            let profile = tree.current_profile().map_err(|e| UnreadableTree {
                files_gone: tree.current().is_some_and(|n| generation_gone(&tree, n)),
                ..unreadable(root, e.to_string())
            })?;
            rocks = profile
                .rocks
                .into_iter()
                .map(|r| (r.name, r.version, Some(r.item)))
                .collect();
            return Ok(ConsultedTree {
                root: root.to_path_buf(),
                rocks,
            });
        }
        let manifest = tree.rocks_dir().join("manifest");
        let limit = crate::lua::Limits::MANIFEST.source_bytes;
        match crate::lua::read_source(&manifest, limit) {
            Ok(bytes) => {
                let m = RepositoryManifest::from_bytes(&manifest.display().to_string(), &bytes)
                    .map_err(|e| unreadable(root, e.to_string()))?;
                for (name, versions) in m.repository {
                    for version in versions.keys() {
                        rocks.push((name.clone(), version.clone(), None));
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => return Err(unreadable(root, format!("{}: {e}", manifest.display()))),
        }
        Ok(ConsultedTree {
            root: root.to_path_buf(),
            rocks,
        })
    }
}

/// Whether generation `number` of `tree` is gone (its link leads nowhere),
/// as opposed to there and unreadable.
fn generation_gone(tree: &Tree, number: u64) -> bool {
    let link = tree
        .root
        .join(crate::tree::META)
        .join("generations")
        .join(number.to_string());
    matches!(
        std::fs::metadata(&link).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::NotFound)
    )
}

/// The trees whose rocks satisfy dependencies under `mode` (LuaRocks'
/// `map_trees`).
pub(crate) fn consulted_roots(settings: &Settings, mode: DepsMode) -> Vec<PathBuf> {
    let target = &settings.target.root;
    match mode {
        DepsMode::One | DepsMode::None => vec![target.clone()],
        DepsMode::All => {
            let mut all = settings.rocks_trees.clone();
            if !all.contains(target) {
                all.insert(0, target.clone());
            }
            all
        }
        DepsMode::Order => match settings.rocks_trees.iter().position(|t| t == target) {
            Some(i) => settings.rocks_trees[i..].to_vec(),
            None => Vec::new(),
        },
    }
}
