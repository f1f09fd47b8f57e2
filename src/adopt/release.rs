//! A profile tree given back to LuaRocks: every link of ours becomes a real
//! copy of what it shows (rock directories too), then `.rockstore/` goes.
//!
//! `.rockstore/releasing` marks a release under way: each replacement is one
//! atomic step showing the same bytes, and a killed release is finished by
//! running it again (every command refuses the tree until then). Removing
//! `current` is the point after which the tree is LuaRocks' again.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{io_err, AdoptError};
use crate::store::Store;
use crate::tree::{links, switching, temp_name, Tree, ADOPTING, META, RELEASING};

/// What a release did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Released {
    /// The rocks the tree holds.
    #[serde(serialize_with = "crate::rock_id::as_pairs")]
    pub rocks: Vec<crate::rock_id::RockId>,
    /// How many links became files or directories.
    pub replaced: usize,
    /// Whether the tree was a profile at all.
    pub was_profile: bool,
}

/// Gives `tree` back to LuaRocks.
pub fn release(store: &Store, tree: &Tree) -> Result<Released, AdoptError> {
    let meta = tree.root.join(META);
    if std::fs::symlink_metadata(&meta).is_err() {
        // Not rockstore's: nothing to give back, and nothing written.
        return Ok(Released::default());
    }
    let lock = tree.lock()?;
    if meta.join(ADOPTING).exists() {
        // Finish what was started, then give it all back.
        super::finish_interrupted(store, tree)?;
    }
    // A switch a kill stopped is finished, and the temporary names a
    // killed release (or anything else) left go, before anything is read.
    switching::finish(tree)?;
    temp_name::sweep(&tree.root);
    let released = release_locked(store, tree, &meta);
    if released.is_err() {
        // A full disk leaves partial copies under temporary names.
        temp_name::sweep(&tree.root);
    }
    let released = released?;
    if !released.was_profile && !meta.join(RELEASING).exists() {
        // A tree rockstore never managed: `.rockstore/` goes again if
        // taking the lock made it.
        tree.unlock_unused(lock);
        return Ok(released);
    }
    drop(lock);
    std::fs::remove_dir_all(&meta).map_err(io_err(&meta))?;
    Ok(released)
}

fn release_locked(store: &Store, tree: &Tree, meta: &Path) -> Result<Released, AdoptError> {
    let marker = meta.join(RELEASING);
    let mut released = Released::default();
    if tree.is_profile() {
        released.was_profile = true;
        released.rocks = tree
            .current_profile()?
            .rocks
            .into_iter()
            .map(|r| r.id())
            .collect();
        // Read all it will copy before the marker says a release is under
        // way: a generation that cannot be read stops it here, unchanged.
        let current = meta.join("current");
        let entries = links::entries_of(&current).map_err(io_err(&current))?;
        let versions = links::versions_in(&current).map_err(io_err(&current))?;
        super::write_atomic(&marker, b"release\n")?;
        for rel in entries {
            if links::occupant(&tree.root, &rel) != links::Occupant::OursHere {
                continue;
            }
            materialise(&tree.root, &rel)?;
            released.replaced += 1;
            store.failpoint("release-replaced");
        }
        // The manifest is a real file already; make sure it is the
        // current generation's.
        for v in versions {
            links::write_manifest(&tree.root, &current, &v)?;
        }
        std::fs::remove_file(&current).map_err(io_err(&current))?;
        store.failpoint("release-unlinked");
    }
    Ok(released)
}

/// Replaces our link at `rel` by a real copy of what it shows.
fn materialise(root: &Path, rel: &Path) -> Result<(), AdoptError> {
    let path = root.join(rel);
    let shown = std::fs::metadata(&path).map_err(io_err(&path))?;
    let temp = beside(&path);
    if shown.is_dir() {
        // A rock directory: its item's files but the deployed `lua/` and
        // `lib/`, as LuaRocks keeps it.
        let _ = std::fs::remove_dir_all(&temp);
        std::fs::create_dir(&temp).map_err(io_err(&temp))?;
        for entry in std::fs::read_dir(&path).map_err(io_err(&path))?.flatten() {
            let name = entry.file_name();
            if name == "lua" || name == "lib" {
                continue;
            }
            copy_tree(&entry.path(), &temp.join(&name))?;
        }
        crate::store::failpoint::hit("release-copied");
        links::exchange(&temp, &path)?;
        // `temp` is now our link.
        std::fs::remove_file(&temp).map_err(io_err(&temp))?;
    } else {
        copy_file(&path, &temp)?;
        std::fs::rename(&temp, &path).map_err(io_err(&path))?;
    }
    Ok(())
}

fn beside(path: &Path) -> PathBuf {
    temp_name::beside(path)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), AdoptError> {
    let meta = std::fs::metadata(from).map_err(io_err(from))?;
    if meta.is_dir() {
        std::fs::create_dir_all(to).map_err(io_err(to))?;
        for entry in std::fs::read_dir(from).map_err(io_err(from))?.flatten() {
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        copy_file(from, to)
    }
}

/// A copy with LuaRocks' modes: 0755 for what is executable, else 0644.
fn copy_file(from: &Path, to: &Path) -> Result<(), AdoptError> {
    let bytes = std::fs::read(from).map_err(io_err(from))?;
    let executable = std::fs::metadata(from).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    let _ = std::fs::remove_file(to);
    std::fs::write(to, bytes).map_err(io_err(to))?;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).map_err(io_err(to))
}
