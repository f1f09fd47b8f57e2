//! A switch under way (`.rockstore/switching`): what makes a switch
//! complete when the tree says so, whatever kill or full disk stops it.
//!
//! A switch writes the marker first, then changes the tree: the new
//! generation's link (for a commit), the links the new generation adds
//! (dangling until the rename), the new manifests staged under temporary
//! names (so a full disk stops the switch before it happens), the rename of
//! `current`, the staged manifests renamed into place, the links the new
//! generation lacks removed; and the marker last. Until the marker is gone
//! the tree may show any mix of those steps, and [`finish`] — run by the
//! next command that takes the tree lock ([`super::Tree::lock_for_change`],
//! and `list` when the lock is free) or by the switch itself when a step
//! fails — makes the tree agree with whatever `current` names:
//!
//! - our links to entries `current` lacks go (the old generation's, or the
//!   ones made for a switch that never happened);
//! - each Lua version's manifest becomes `current`'s;
//! - every temporary name goes ([`super::temp_name`]);
//! - a generation the switch created but `current` does not name goes;
//! - then the marker.
//!
//! Each of these is idempotent, so a kill during [`finish`] leaves the
//! marker for the next command, and a failure (the disk still full) leaves
//! it too, with the error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io_err, links, temp_name, Tree, TreeError, META};

/// The marker's name in [`META`].
pub const SWITCHING: &str = "switching";

/// The marker's content.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Marker {
    /// The generation being switched to.
    pub generation: u64,
    /// Whether the switch creates that generation (a commit): it goes again
    /// when the switch does not happen.
    pub new: bool,
}

fn path(tree: &Tree) -> PathBuf {
    tree.root.join(META).join(SWITCHING)
}

/// Whether a switch of `tree` is under way or was interrupted.
pub fn pending(tree: &Tree) -> bool {
    std::fs::symlink_metadata(path(tree)).is_ok()
}

/// Writes the marker (temp file and rename), before the switch changes
/// anything.
pub fn mark(tree: &Tree, marker: Marker) -> Result<(), TreeError> {
    let path = path(tree);
    let temp = temp_name::beside(&path);
    let json = serde_json::to_vec(&marker).unwrap_or_default();
    std::fs::write(&temp, json).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io_err(&temp)(e)
    })?;
    std::fs::rename(&temp, &path).map_err(io_err(&path))
}

/// The LuaRocks manifests a switch stages before its rename: each one's
/// temporary name and final place.
#[derive(Debug, Default)]
pub struct Staged {
    manifests: Vec<(PathBuf, PathBuf)>,
}

/// Writes the manifests of the generation at `profile_root` beside the
/// tree's, under temporary names, for each version whose manifest differs:
/// the space they take is taken before the switch.
pub fn stage_manifests(
    tree: &Tree,
    profile_root: &Path,
    versions: &[String],
) -> Result<Staged, TreeError> {
    let mut staged = Staged::default();
    for v in versions {
        let rel = links::manifest_path(v);
        let from = profile_root.join(&rel);
        let bytes = std::fs::read(&from).map_err(io_err(&from))?;
        let to = tree.root.join(&rel);
        if std::fs::read(&to).is_ok_and(|b| b == bytes) {
            continue;
        }
        let temp = temp_name::beside(&to);
        staged.manifests.push((temp.clone(), to));
        if let Err(e) = std::fs::write(&temp, &bytes) {
            // A full disk leaves a partial file: it goes at once.
            let _ = std::fs::remove_file(&temp);
            return Err(io_err(&temp)(e));
        }
    }
    Ok(staged)
}

/// Renames the staged manifests into place (after the rename of `current`).
pub fn place_manifests(staged: &Staged) -> Result<(), TreeError> {
    for (temp, to) in &staged.manifests {
        std::fs::rename(temp, to).map_err(io_err(to))?;
    }
    Ok(())
}

/// Removes the marker: the switch is complete.
pub fn unmark(tree: &Tree) -> Result<(), TreeError> {
    let path = path(tree);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&path)(e)),
        _ => Ok(()),
    }
}

/// Makes the tree agree with `current` after an interrupted or failed
/// switch (see the module doc); nothing when no switch is pending. The
/// caller holds the tree lock. Whether there was one to finish.
pub fn finish(tree: &Tree) -> Result<bool, TreeError> {
    let path = path(tree);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(&path)(e)),
    };
    // An unreadable marker (a kill while it was written cannot leave one:
    // it is renamed into place) still means "make the tree agree".
    let marker: Option<Marker> = serde_json::from_slice(&bytes).ok();
    let meta = tree.root.join(META);
    let current_link = meta.join("current");
    let current = tree.current();
    let entries: BTreeSet<PathBuf> = if current.is_some() {
        links::entries_of(&current_link).map_err(io_err(&current_link))?
    } else {
        BTreeSet::new()
    };
    links::prune(&tree.root, &entries);
    if current.is_some() {
        for v in links::versions_in(&current_link).map_err(io_err(&current_link))? {
            links::write_manifest(&tree.root, &current_link, &v)?;
        }
    }
    temp_name::sweep(&tree.root);
    if let Some(m) = marker.filter(|m| m.new && current != Some(m.generation)) {
        let dir = meta.join("generations");
        for file in [m.generation.to_string(), format!("{}.json", m.generation)] {
            let gone = dir.join(file);
            match std::fs::remove_file(&gone) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err(&gone)(e));
                }
                _ => {}
            }
        }
    }
    unmark(tree)?;
    Ok(true)
}
