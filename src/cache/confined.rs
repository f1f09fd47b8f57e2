//! A directory cache's (`file://`) files, reached only below its root.
//!
//! A cache directory is often writable by more people than the pusher
//! (a shared NFS export, a CI volume), and root pushes too. So nothing
//! planted in it may lead a read or a write out of it: every path is
//! walked component by component from a descriptor of the root, each
//! directory opened with `O_NOFOLLOW`, and a symbolic link met anywhere
//! below the root is refused with an error naming it (the root itself may
//! be a link: it is what the user configured). A file read must be a
//! regular file: it is checked before it is opened (a device's open has
//! effects) and again on the descriptor, which is opened non-blocking so
//! a FIFO planted in a race cannot hold the reader. Writes go to a new
//! `O_EXCL` temporary beside their target, then are placed with `linkat`
//! (create only: the first writer wins) or `renameat` (replace), both
//! within the one directory descriptor, so neither can follow a link.
//!
//! This module owns the system calls; [`super::transport`] owns what a
//! cache path means and the deadlines.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::transport::{Put, TransportError};

/// A temporary's serial within this process: with the pid, a name no
/// other writer picks (and `O_EXCL` refuses one that does).
static SERIAL: AtomicU64 = AtomicU64::new(0);

/// The root of a directory cache.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
}

/// `path`'s components, each a plain name (no `.`, `..` or empty part).
fn components(path: &str) -> Result<Vec<&str>, TransportError> {
    let parts: Vec<&str> = path.split('/').collect();
    if parts
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        return Err(TransportError::BadUrl {
            url: path.to_owned(),
            why: "a cache path is plain names joined by `/`".into(),
        });
    }
    Ok(parts)
}

/// What a non-regular file is, for messages.
fn kind_of(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Directory => "directory",
        FileType::Fifo => "FIFO",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Socket => "socket",
        FileType::Symlink => "symbolic link",
        _ => "special file",
    }
}

impl Root {
    /// The directory cache at `path`.
    pub fn new(path: PathBuf) -> Root {
        Root { path }
    }

    /// The root's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, rel: &str, source: std::io::Error) -> TransportError {
        TransportError::Io {
            path: self.path.join(rel),
            source,
        }
    }

    fn link(&self, rel: &str) -> TransportError {
        TransportError::Link {
            path: self.path.join(rel),
        }
    }

    /// Why `rel` (below `dir`, whose open failed with `errno`) cannot be
    /// used: a link, or something else where a directory or file belongs.
    fn refused(&self, dir: &OwnedFd, name: &str, rel: &str, errno: Errno) -> TransportError {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => self.link(rel),
            Ok(st) => TransportError::NotRegular {
                path: self.path.join(rel),
                kind: kind_of(FileType::from_raw_mode(st.st_mode)),
            },
            Err(_) => self.io(rel, errno.into()),
        }
    }

    /// The directory `parts` names, opened without following any link;
    /// `None` when one of them is absent and `create` is false.
    fn walk(&self, parts: &[&str], create: bool) -> Result<Option<OwnedFd>, TransportError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        // The root is opened following links: it is what the user named.
        let mut dir = match rustix::fs::openat(CWD, &self.path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if !create => return Ok(None),
            Err(Errno::NOENT) => {
                std::fs::create_dir_all(&self.path).map_err(|source| self.io("", source))?;
                rustix::fs::openat(CWD, &self.path, flags, Mode::empty())
                    .map_err(|e| self.io("", e.into()))?
            }
            Err(e) => return Err(self.io("", e.into())),
        };
        for (i, name) in parts.iter().enumerate() {
            let rel = parts[..=i].join("/");
            if create {
                match rustix::fs::mkdirat(&dir, *name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(self.io(&rel, e.into())),
                }
            }
            dir = match rustix::fs::openat(&dir, *name, flags | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if !create => return Ok(None),
                // A link gives ELOOP (O_NOFOLLOW); a file, ENOTDIR.
                Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                    return Err(self.refused(&dir, name, &rel, e))
                }
                Err(e) => return Err(self.io(&rel, e.into())),
            };
        }
        Ok(Some(dir))
    }

    /// The directory holding `rel` and its file name.
    fn parent<'a>(
        &self,
        rel: &'a str,
        create: bool,
    ) -> Result<Option<(OwnedFd, &'a str)>, TransportError> {
        let parts = components(rel)?;
        let (name, dirs) = parts.split_last().ok_or_else(|| TransportError::BadUrl {
            url: rel.to_owned(),
            why: "an empty cache path".into(),
        })?;
        Ok(self.walk(dirs, create)?.map(|dir| (dir, *name)))
    }

    /// Opens regular file `rel` to read; `None` when it is absent.
    pub fn open(&self, rel: &str) -> Result<Option<File>, TransportError> {
        let Some((dir, name)) = self.parent(rel, false)? else {
            return Ok(None);
        };
        // Checked before the open, as opening a device has effects.
        if self.stat(&dir, name, rel)?.is_none() {
            return Ok(None);
        }
        // Non-blocking: a FIFO swapped in after the check opens at once
        // instead of waiting for a writer, and is refused below.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e @ Errno::LOOP) => return Err(self.refused(&dir, name, rel, e)),
            Err(e) => return Err(self.io(rel, e.into())),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| self.io(rel, e.into()))?;
        let file_type = FileType::from_raw_mode(st.st_mode);
        if file_type != FileType::RegularFile {
            return Err(TransportError::NotRegular {
                path: self.path.join(rel),
                kind: kind_of(file_type),
            });
        }
        Ok(Some(File::from(fd)))
    }

    /// The size of regular file `name` in `dir`; `None` when absent; an
    /// error when it is a link or not a regular file.
    fn stat(&self, dir: &OwnedFd, name: &str, rel: &str) -> Result<Option<u64>, TransportError> {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => Ok(Some(st.st_size as u64)),
                FileType::Symlink => Err(self.link(rel)),
                other => Err(TransportError::NotRegular {
                    path: self.path.join(rel),
                    kind: kind_of(other),
                }),
            },
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(self.io(rel, e.into())),
        }
    }

    /// Whether regular file `rel` exists, and its size.
    pub fn head(&self, rel: &str) -> Result<Option<u64>, TransportError> {
        match self.parent(rel, false)? {
            Some((dir, name)) => self.stat(&dir, name, rel),
            None => Ok(None),
        }
    }

    /// Writes `bytes` to `rel` whole: a new temporary beside it, synced,
    /// then linked (`create_only`: an existing file wins) or renamed over.
    pub fn write(&self, rel: &str, bytes: &[u8], create_only: bool) -> Result<Put, TransportError> {
        let Some((dir, name)) = self.parent(rel, true)? else {
            return Err(self.io(rel, std::io::ErrorKind::NotFound.into()));
        };
        // Refused before anything is written: a link where the file goes
        // is someone's plant (a rename would only replace the link, but
        // the cache would then hold what the planter did not expect).
        if let Err(e @ TransportError::Link { .. }) = self.stat(&dir, name, rel) {
            return Err(e);
        }
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut made = None;
        // Bounded: a name is taken only by a leftover of a killed writer
        // of the same pid and serial.
        for _ in 0..16 {
            let temp = format!(
                ".{name}.tmp-{}-{}",
                std::process::id(),
                SERIAL.fetch_add(1, Ordering::Relaxed)
            );
            match rustix::fs::openat(&dir, temp.as_str(), flags, Mode::from_raw_mode(0o644)) {
                Ok(fd) => {
                    made = Some((temp, File::from(fd)));
                    break;
                }
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(self.io(rel, e.into())),
            }
        }
        let Some((temp, mut out)) = made else {
            return Err(self.io(rel, std::io::ErrorKind::AlreadyExists.into()));
        };
        let written = out.write_all(bytes).and_then(|()| out.sync_all());
        drop(out);
        let placed = match written {
            Err(source) => Err(self.io(rel, source)),
            Ok(()) if create_only => {
                // A hard link cannot replace: the first writer wins.
                match rustix::fs::linkat(&dir, temp.as_str(), &dir, name, AtFlags::empty()) {
                    Ok(()) => Ok(Put::Written),
                    Err(Errno::EXIST) => match self.stat(&dir, name, rel) {
                        Err(e @ TransportError::Link { .. }) => Err(e),
                        _ => Ok(Put::Exists),
                    },
                    Err(e) => Err(self.io(rel, e.into())),
                }
            }
            Ok(()) => rustix::fs::renameat(&dir, temp.as_str(), &dir, name)
                .map(|()| Put::Written)
                .map_err(|e| self.io(rel, e.into())),
        };
        // After a rename the temporary is gone already.
        let _ = rustix::fs::unlinkat(&dir, temp.as_str(), AtFlags::empty());
        placed
    }

    /// Deletes `rel`; an absent file is no error. A link there is removed
    /// itself (unlinking never follows one).
    pub fn delete(&self, rel: &str) -> Result<(), TransportError> {
        let Some((dir, name)) = self.parent(rel, false)? else {
            return Ok(());
        };
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(self.io(rel, e.into())),
        }
    }

    /// The names in directory `rel`, dot files left out (a writer's
    /// temporaries); none when it is absent.
    pub fn list(&self, rel: &str) -> Result<Vec<String>, TransportError> {
        let Some(dir) = self.walk(&components(rel)?, false)? else {
            return Ok(Vec::new());
        };
        let entries = rustix::fs::Dir::read_from(&dir).map_err(|e| self.io(rel, e.into()))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io(rel, e.into()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}
