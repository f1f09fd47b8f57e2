//! Which store a tree belongs to (store-format v1 profiles.md "The
//! tree's store"): `<tree>/.rockstore/store.json` records the store's path
//! and identity (`<store>/store-id`), the link mode the tree last used and
//! the tree's own path. A tree found at another path than it records is a
//! copy (`cp -a`, a tarball, a Docker layer): the caller registers it as a
//! root and says so, then records the new path.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::store::identity::{new_id, STORE_ID};

use super::link_mode::{self, LinkMode};
use super::META;
use super::{profile, GenerationInfo, Profile};

/// The file in `.rockstore/`.
pub const FILE: &str = "store.json";

/// What `.rockstore/store.json` says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Binding {
    /// The store's root, absolute.
    pub store: PathBuf,
    /// The store's `store-id` (empty when it could not be read or made).
    #[serde(default)]
    pub store_id: String,
    /// The link mode the tree last used.
    #[serde(default)]
    pub link_mode: LinkMode,
    /// The tree's path when this was written.
    pub tree: PathBuf,
}

/// Why the binding cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// The tree belongs to another store than the one named.
    #[error("the tree {} belongs to the store {}, not to {}; nothing was changed.\nDrop --store (and ROCKSTORE_STORE) to use the tree's store, or use another tree", tree.display(), recorded.display(), given.display())]
    OtherStore {
        /// The tree.
        tree: PathBuf,
        /// Its store.
        recorded: PathBuf,
        /// The store asked for.
        given: PathBuf,
    },
    /// The tree's store is gone.
    #[error("the store {} of the tree {} is missing.\nRun `rockstore --tree {} doctor --fix` to rebuild what the tree needs into a store (or pass --store DIR to name another)", store.display(), tree.display(), tree.display())]
    StoreMissing {
        /// The tree.
        tree: PathBuf,
        /// Its store.
        store: PathBuf,
    },
}

impl crate::hint::Hint for BindingError {}

/// The store's identity: `<store>/store-id`, made (random) when missing
/// and the store can be written; empty when neither.
pub fn store_id(store: &Path) -> String {
    let path = store.join(STORE_ID);
    if let Ok(id) = std::fs::read_to_string(&path) {
        return id.trim().to_owned();
    }
    let id = new_id();
    if id.is_empty() {
        return id;
    }
    let temp = store.join(super::temp_name::of(STORE_ID));
    let written = std::fs::write(&temp, &id).and_then(|()| {
        // Another process may have made one meanwhile: theirs stands.
        std::fs::hard_link(&temp, &path)
    });
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => id,
        Err(_) => std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    }
}

/// Whether `a` and `b` name one store: the same directory, or stores with
/// the same identity.
pub fn same_store(a: &Path, b: &Path) -> bool {
    let ident = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    if a == b {
        return true;
    }
    match (ident(a), ident(b)) {
        (Some(x), Some(y)) if x == y => return true,
        _ => {}
    }
    let read = |p: &Path| {
        std::fs::read_to_string(p.join(STORE_ID))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    matches!((read(a), read(b)), (Some(x), Some(y)) if x == y)
}

/// The binding of the tree at `root`, when it has one.
pub fn read(root: &Path) -> Option<Binding> {
    let bytes = std::fs::read(root.join(META).join(FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes the binding (temporary name, then rename); best effort: a tree
/// without one still works, it only explains itself less.
pub fn write(root: &Path, binding: &Binding) -> io::Result<()> {
    let path = root.join(META).join(FILE);
    let temp = super::temp_name::beside(&path);
    let json = serde_json::to_vec_pretty(binding).unwrap_or_default();
    std::fs::write(&temp, json)?;
    std::fs::rename(&temp, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Whether the tree at `root` has moved: it records another path, and
/// that path is not this directory (a copy, not the same tree reached
/// another way).
pub fn moved(root: &Path, binding: &Binding) -> bool {
    if binding.tree == root {
        return false;
    }
    let ident = |p: &Path| {
        std::fs::metadata(p.join(META))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    ident(root).is_none() || ident(root) != ident(&binding.tree)
}

/// The store a generation link leads to: `<store>/store/<item>` gives
/// `<store>`; none for a relative (self-contained) one.
pub fn store_of_item(item_path: &Path) -> Option<PathBuf> {
    if item_path.is_relative() {
        return None;
    }
    item_path.parent()?.parent().map(Path::to_path_buf)
}

/// What a tree knows of itself without its store: its generations'
/// sidecar copies, whether their files are there, its binding.
impl super::Tree {
    /// The copy of generation `number`'s rocks its sidecar keeps.
    pub fn sidecar_profile(&self, number: u64) -> Option<Profile> {
        let path = self
            .meta()
            .join("generations")
            .join(format!("{number}.json"));
        let info: GenerationInfo = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        info.profile
    }

    /// Whether generation `number`'s files are all there: its link leads
    /// to its profile (in the store or in the tree).
    pub fn generation_present(&self, number: u64) -> bool {
        let link = self.meta().join("generations").join(number.to_string());
        link.join(profile::PROFILE_FILE).exists()
    }

    /// Records which store the tree belongs to, its link mode and its
    /// path ([`binding`]), from the profile item just committed.
    pub(crate) fn record_binding(&self, item_path: &Path) {
        let Some(store) = store_of_item(item_path) else {
            return;
        };
        let _ = write(
            &self.root,
            &Binding {
                store_id: store_id(&store),
                store,
                link_mode: self.link_mode,
                tree: self.root.clone(),
            },
        );
    }

    /// How the last committed generation's files were placed.
    pub fn placed(&self) -> link_mode::Placed {
        self.last_placed.lock().map(|p| *p).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_id_is_made_once_and_names_the_store() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = store_id(tmp.path());
        assert_eq!(a.len(), 32);
        assert_eq!(store_id(tmp.path()), a);
        let other = tempfile::tempdir().expect("tmp");
        assert!(!same_store(tmp.path(), other.path()));
        std::fs::write(other.path().join(STORE_ID), &a).expect("write");
        assert!(same_store(tmp.path(), other.path()));
    }
}
