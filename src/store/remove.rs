//! Deleting read-only trees (staging leftovers, trash, swept items). Items
//! are 0555 directories; a directory is made writable by its owner only
//! when an unlink inside it is refused, so root (and anything else that
//! may write regardless of mode) pays nothing for it.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use cap_std::fs::Dir;
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

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
    remove_dir_tree(parent, name)
}

/// Removes the directory tree `name` inside `parent`, known to be a
/// directory (a swept item, a build's leftovers). This is GC's inner loop,
/// so it works straight on descriptors: one open and one read per
/// directory. A tree deeper than [`INLINE_DEPTH`] (a build user can make
/// one of any depth) is not followed down by recursion: its deep
/// subdirectories are moved up beside `name` and removed in turn, so the
/// stack and the open descriptors stay bounded.
pub fn remove_dir_tree(parent: &Dir, name: &str) -> io::Result<()> {
    let name = CString::new(name).map_err(io::Error::other)?;
    let mut pending = vec![name];
    let mut moved = 0u64;
    while let Some(next) = pending.pop() {
        // `true`: the parent (`store/`, `tmp/`) has its mode by design,
        // and it must never be changed to delete something in it.
        let mut walk = Walk {
            top: parent.as_fd(),
            pending: &mut pending,
            moved: &mut moved,
        };
        walk.remove_at(parent.as_fd(), &next, &mut true, 0)?;
    }
    Ok(())
}

/// How deep removal recurses before it moves a subtree up instead: deeper
/// than any item may be (`canonical::MAX_DEPTH`), so only a build's
/// leftovers are ever moved.
const INLINE_DEPTH: usize = 300;

struct Walk<'a> {
    top: BorrowedFd<'a>,
    pending: &'a mut Vec<CString>,
    moved: &'a mut u64,
}

/// Unlinks `child` in `dir`; when the directory's mode refuses it, makes the
/// directory writable once (`writable` remembers) and tries again.
fn unlink_in(
    dir: BorrowedFd<'_>,
    child: &CStr,
    flags: AtFlags,
    writable: &mut bool,
) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, child, flags) {
        Err(Errno::ACCESS | Errno::PERM) => {
            // A sealed item (store::seal): the directory (once) and the
            // entry lose the immutable flag; the directory its mode (once).
            if !*writable {
                let _ = super::seal::set(dir, false);
                rustix::fs::fchmod(dir, Mode::from_raw_mode(0o700))?;
                *writable = true;
            }
            let kind = if flags.contains(AtFlags::REMOVEDIR) {
                OFlags::DIRECTORY
            } else {
                OFlags::empty()
            };
            if let Ok(entry) = rustix::fs::openat(
                dir,
                child,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | kind,
                Mode::empty(),
            ) {
                let _ = super::seal::set(entry.as_fd(), false);
            }
            Ok(rustix::fs::unlinkat(dir, child, flags)?)
        }
        other => Ok(other?),
    }
}

impl Walk<'_> {
    /// `parent_writable` is the parent's state for [`unlink_in`].
    fn remove_at(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        parent_writable: &mut bool,
        depth: usize,
    ) -> io::Result<()> {
        let fd = rustix::fs::openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
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
        let mut writable = false;
        for (child, is_dir) in children {
            if is_dir && depth >= INLINE_DEPTH {
                *self.moved += 1;
                let away = CString::new(format!(
                    ".rockstore-deep-{}-{}",
                    std::process::id(),
                    self.moved
                ))
                .map_err(io::Error::other)?;
                if !writable {
                    // Moving out of it needs write permission on it.
                    let _ = super::seal::set(fd.as_fd(), false);
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))?;
                    writable = true;
                }
                rustix::fs::renameat(&fd, &child, self.top, &away)?;
                self.pending.push(away);
            } else if is_dir {
                self.remove_at(fd.as_fd(), &child, &mut writable, depth + 1)?;
            } else {
                unlink_in(fd.as_fd(), &child, AtFlags::empty(), &mut writable)?;
            }
        }
        drop(fd);
        unlink_in(parent, name, AtFlags::REMOVEDIR, parent_writable)
    }
}
