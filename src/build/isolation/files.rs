//! Files seen with a build user's rights (reading as one is
//! [`crate::users::as_user`]): giving the build directory to the build user
//! ([`give_to`]) and counting what a build wrote ([`tree_bytes`]), each
//! descriptor by descriptor, never following a link.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{AtFlags, Mode, OFlags};

use super::BuildUser;

/// Gives `dir` and everything under it to `user`, descriptor by
/// descriptor and never following a link. Run only while no process of
/// `user` exists (before a build's first command), on a tree the daemon
/// itself wrote under a parent only root reaches.
pub fn give_to(dir: BorrowedFd<'_>, user: BuildUser) -> io::Result<()> {
    give_at(dir, user, 0)
}

fn give_at(dir: BorrowedFd<'_>, user: BuildUser, depth: usize) -> io::Result<()> {
    use rustix::fs::{Gid, Uid};
    if depth > crate::store::canonical::MAX_DEPTH {
        return Err(io::Error::other("directories nested too deeply"));
    }
    let fd = rustix::fs::openat(
        dir,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::fs::fchown(
        &fd,
        Some(Uid::from_raw(user.uid)),
        Some(Gid::from_raw(user.gid)),
    )?;
    let mut subdirs: Vec<CString> = Vec::new();
    for entry in rustix::fs::Dir::read_from(&fd)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        rustix::fs::chownat(
            &fd,
            name,
            Some(Uid::from_raw(user.uid)),
            Some(Gid::from_raw(user.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        if entry.file_type() == rustix::fs::FileType::Directory {
            subdirs.push(name.to_owned());
        }
    }
    for name in subdirs {
        let child = rustix::fs::openat(
            &fd,
            name.as_c_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        give_at(child.as_fd(), user, depth + 1)?;
    }
    Ok(())
}

/// Bytes of the regular files under `dir`, read descriptor by descriptor
/// without following links; stops counting past `stop`.
pub fn tree_bytes(dir: BorrowedFd<'_>, stop: u64) -> io::Result<u64> {
    fn walk(dir: BorrowedFd<'_>, depth: usize, total: &mut u64, stop: u64) -> io::Result<()> {
        if depth > crate::store::canonical::MAX_DEPTH {
            return Err(io::Error::other("directories nested too deeply"));
        }
        let fd = rustix::fs::openat(
            dir,
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for entry in rustix::fs::Dir::read_from(&fd)? {
            let entry = entry?;
            let name = entry.file_name();
            if name == c"." || name == c".." || *total > stop {
                continue;
            }
            let st = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
            match rustix::fs::FileType::from_raw_mode(st.st_mode) {
                rustix::fs::FileType::RegularFile => *total += st.st_size as u64,
                rustix::fs::FileType::Directory => {
                    let child = rustix::fs::openat(
                        &fd,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    walk(child.as_fd(), depth + 1, total, stop)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
    let mut total = 0;
    walk(dir, 0, &mut total, stop)?;
    Ok(total)
}
