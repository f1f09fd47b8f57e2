//! Deleting read-only trees (staging leftovers, trash, swept items): every
//! directory is made writable by its owner first, children before removal.

use std::io;
use std::os::unix::fs::PermissionsExt as _;

use cap_std::fs::Dir;

/// Removes `name` (a directory tree, file or symlink) inside `parent`.
/// A missing entry is not an error.
pub fn remove_tree(parent: &Dir, name: &str) -> io::Result<()> {
    let meta = match parent.symlink_metadata(name) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return parent.remove_file(name);
    }
    empty_and_remove(parent, name)
}

/// One pass per directory: make it writable, unlink its files, recurse into
/// its subdirectories, then remove it.
fn empty_and_remove(parent: &Dir, name: &str) -> io::Result<()> {
    parent.set_permissions(
        name,
        cap_std::fs::Permissions::from_std(std::fs::Permissions::from_mode(0o700)),
    )?;
    let dir = parent.open_dir(name)?;
    for entry in dir.entries()? {
        let entry = entry?;
        let child = entry.file_name();
        if entry.file_type()?.is_dir() {
            match child.to_str() {
                Some(child) => empty_and_remove(&dir, child)?,
                None => dir.remove_dir_all(&child)?,
            }
        } else {
            dir.remove_file(&child)?;
        }
    }
    drop(dir);
    parent.remove_dir(name)
}
