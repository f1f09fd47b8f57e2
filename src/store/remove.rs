//! Deleting read-only trees (staging leftovers, trash, swept items): every
//! directory is made writable by its owner first, children before removal.

use std::io;

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

/// Removes the directory tree `name` inside `parent`, known to be a
/// directory (a renamed item).
pub fn remove_dir_tree(parent: &Dir, name: &str) -> io::Result<()> {
    empty_and_remove(parent, name)
}

/// One pass per directory, straight on descriptors (this is GC's inner
/// loop): open it, make it writable, unlink its files, recurse into its
/// subdirectories, then remove it.
fn empty_and_remove(parent: &Dir, name: &str) -> io::Result<()> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    fn remove_at(parent: std::os::fd::BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<()> {
        let fd = rustix::fs::openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))?;
        let mut children = Vec::new();
        for entry in rustix::fs::Dir::read_from(&fd)? {
            let entry = entry?;
            let child = entry.file_name();
            if child == c"." || child == c".." {
                continue;
            }
            let is_dir = match entry.file_type() {
                rustix::fs::FileType::Directory => true,
                // Filesystems without d_type: ask.
                rustix::fs::FileType::Unknown => {
                    rustix::fs::statat(&fd, child, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
                        rustix::fs::FileType::from_raw_mode(st.st_mode)
                            == rustix::fs::FileType::Directory
                    })
                }
                _ => false,
            };
            children.push((child.to_owned(), is_dir));
        }
        for (child, is_dir) in children {
            if is_dir {
                remove_at(std::os::fd::AsFd::as_fd(&fd), &child)?;
            } else {
                rustix::fs::unlinkat(&fd, child.as_c_str(), AtFlags::empty())?;
            }
        }
        drop(fd);
        rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
        Ok(())
    }
    let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
    remove_at(std::os::fd::AsFd::as_fd(parent), &name)
}
