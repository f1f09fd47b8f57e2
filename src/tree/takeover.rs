//! An adoption's take-over of LuaRocks' files (`.rockstore/adopting`):
//! which profile the adoption switches to and which places LuaRocks
//! deployed its links replace. Written before the switch; once the
//! profile is current, finishing replaces each place still holding
//! LuaRocks' copy (the same bytes) and removes the marker. Any command
//! that takes the tree lock to change the tree finishes it first, so a
//! kill after the switch leaves a tree that is adopted, whose last
//! replacements the next command makes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{io_err, links, Tree, TreeError, ADOPTING, META};

/// The marker's content.
#[derive(Debug, Serialize, Deserialize)]
pub struct Marker {
    /// The profile item the adoption switches to.
    pub profile: String,
    /// The places LuaRocks deployed that our links replace.
    pub taken_over: Vec<PathBuf>,
}

/// Writes the marker (temp file and rename).
pub fn mark(tree: &Tree, marker: &Marker) -> Result<(), TreeError> {
    let path = tree.root.join(META).join(ADOPTING);
    let temp = super::temp_name::beside(&path);
    let json = serde_json::to_vec_pretty(marker).unwrap_or_default();
    std::fs::write(&temp, json).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io_err(&temp)(e)
    })?;
    std::fs::rename(&temp, &path).map_err(io_err(&path))
}

/// Replaces each of `places` still holding LuaRocks' copy with our link;
/// `failpoint` is called after each.
pub fn take_over_all(
    tree: &Tree,
    places: &BTreeSet<PathBuf>,
    failpoint: &dyn Fn(&str),
) -> Result<(), TreeError> {
    for place in places {
        if links::occupant(&tree.root, place) == links::Occupant::OursHere {
            continue;
        }
        links::take_over(&tree.root, place)?;
        failpoint("adopt-took-over");
    }
    Ok(())
}

/// Finishes an adoption a kill interrupted after its switch, or drops the
/// marker of one interrupted before (the tree is then still LuaRocks').
/// Whether one was finished.
pub fn finish(tree: &Tree, failpoint: &dyn Fn(&str)) -> Result<bool, TreeError> {
    let path = tree.root.join(META).join(ADOPTING);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(false);
    };
    let marker: Option<Marker> = serde_json::from_slice(&bytes).ok();
    let meta = tree.root.join(META);
    let current_item = std::fs::read_link(meta.join("current"))
        .ok()
        .and_then(|g| std::fs::read_link(meta.join(g)).ok())
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let finished = match marker {
        Some(m) if current_item.as_deref() == Some(m.profile.as_str()) => {
            let places: BTreeSet<PathBuf> = m.taken_over.into_iter().collect();
            take_over_all(tree, &places, failpoint)?;
            true
        }
        _ => false,
    };
    std::fs::remove_file(&path).map_err(io_err(&path))?;
    Ok(finished)
}
