//! Items immutable even to root: in a daemon store every admitted item
//! gets the filesystem's immutable flag (`FS_IMMUTABLE_FL`, `chattr +i`)
//! on each file and directory, so a stray `sudo luarocks install` into a
//! rockstore tree (whose `share/lua/5.x` leads into items) fails instead of
//! changing bytes every user shares. Deleting (GC, repair) clears the flag
//! first, only where an unlink was refused. A filesystem without the flag
//! (tmpfs before 6.x, some overlays) leaves items protected by their modes
//! and ownership alone; that costs root's protection, nothing else.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::{IFlags, Mode, OFlags};

/// Sets the immutable flag on `root` and everything under it (links
/// themselves cannot carry it and are skipped). `Ok(false)`: the
/// filesystem does not support the flag.
pub fn seal_tree(root: &Path) -> io::Result<bool> {
    let fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    seal_dir(fd.as_fd())
}

fn seal_dir(dir: BorrowedFd<'_>) -> io::Result<bool> {
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let kind = entry.file_type();
        let flags = match kind {
            rustix::fs::FileType::Directory => OFlags::DIRECTORY,
            rustix::fs::FileType::RegularFile => OFlags::empty(),
            _ => continue,
        };
        let child = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | flags,
            Mode::empty(),
        )?;
        if kind == rustix::fs::FileType::Directory && !seal_dir(child.as_fd())? {
            return Ok(false);
        }
        if !set(child.as_fd(), true)? {
            return Ok(false);
        }
    }
    set(dir, true)
}

/// Sets or clears the flag on one open file. `Ok(false)`: unsupported.
pub fn set(fd: BorrowedFd<'_>, immutable: bool) -> io::Result<bool> {
    let flags = match rustix::fs::ioctl_getflags(fd) {
        Ok(f) => f,
        Err(rustix::io::Errno::NOTTY | rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::INVAL) => {
            return Ok(false)
        }
        Err(e) => return Err(e.into()),
    };
    let wanted = if immutable {
        flags | IFlags::IMMUTABLE
    } else {
        flags - IFlags::IMMUTABLE
    };
    if wanted == flags {
        return Ok(true);
    }
    match rustix::fs::ioctl_setflags(fd, wanted) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOTTY | rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::INVAL) => {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}
