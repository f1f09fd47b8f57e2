//! A program's identity: which file a name like `gcc` runs, and the blake3
//! hash of its bytes. The recipe key holds the C compiler's
//! ([`crate::build::recipe`]), and the host probes ([`super::probes`]) are kept
//! for as long as the program they asked stays the same.
//!
//! Hashing a compiler reads a megabyte or more each time; the hash is kept
//! in the probe cache under the file's `(dev, ino, size, mtime, ctime)`,
//! which no write can leave unchanged (ctime cannot be set by a user; a
//! write in the very tick the hash was taken is caught by the racy rule of
//! [`super::probes`], which hashes again). The file is opened once, non
//! blocking (a FIFO named `gcc` never hangs us), and refused unless it is
//! a regular file of at most [`MAX_PROGRAM_SIZE`].
//!
//! What this module does not do: read the environment. The `PATH` to
//! search is handed in by the caller (the command line's
//! [`crate::env_vars::EnvVars`]).

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The largest program hashed: compilers are tens of MB at most.
pub const MAX_PROGRAM_SIZE: u64 = 512 << 20;

/// Why a program has no identity.
#[derive(Debug, thiserror::Error)]
pub enum CompilerError {
    /// Nothing of that name on `PATH` (or at the path given).
    #[error("`{program}` was not found on PATH")]
    NotFound {
        /// The program as named.
        program: String,
    },
    /// A directory, FIFO, device or socket.
    #[error("{} is not a regular file, so it cannot be the compiler; set CC to a compiler's path", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
    },
    /// Larger than any compiler.
    #[error("{} is {size} bytes, more than the {} MiB a compiler may be; refusing to hash it", path.display(), MAX_PROGRAM_SIZE >> 20)]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Opening or reading failed.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What identifies a file's current contents without reading them: its
/// device and inode, size, and modification and change times (seconds and
/// nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_mtime`, `st_mtime_nsec`.
    pub mtime: (i64, i64),
    /// `st_ctime`, `st_ctime_nsec`.
    pub ctime: (i64, i64),
}

/// An opened program: where it is, its stamp, and the open file (read only
/// when its hash is needed).
pub struct Opened {
    /// The path it was opened at (as resolved, links not followed).
    pub path: PathBuf,
    /// Its stamp, from the open file.
    pub stamp: FileStamp,
    file: std::fs::File,
}

/// The file `program` names: itself when it holds a `/`, else the first
/// regular file of that name in `path_var`'s directories, as `execvp`
/// searches.
pub fn resolve(program: &str, path_var: Option<&OsStr>) -> Result<PathBuf, CompilerError> {
    let not_found = || CompilerError::NotFound {
        program: program.to_owned(),
    };
    if program.is_empty() {
        return Err(not_found());
    }
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let dirs = path_var.ok_or_else(not_found)?;
    std::env::split_paths(dirs)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or_else(not_found)
}

/// Opens `path` for hashing: non-blocking, close-on-exec, a regular file
/// of at most [`MAX_PROGRAM_SIZE`].
pub fn open(path: &Path) -> Result<Opened, CompilerError> {
    let io = |source| CompilerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC).bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CompilerError::NotFound {
                    program: path.display().to_string(),
                }
            } else {
                io(e)
            }
        })?;
    let st = rustix::fs::fstat(&file).map_err(|e| io(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(CompilerError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let size = st.st_size as u64;
    if size > MAX_PROGRAM_SIZE {
        return Err(CompilerError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    Ok(Opened {
        path: path.to_path_buf(),
        stamp: FileStamp {
            dev: st.st_dev,
            ino: st.st_ino,
            size,
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        },
        file,
    })
}

impl Opened {
    /// blake3 of the bytes (at most the size checked at open, plus one
    /// byte to notice a file still growing).
    pub fn hash(self) -> Result<[u8; 32], CompilerError> {
        let mut hasher = blake3::Hasher::new();
        let mut limited = (&self.file).take(MAX_PROGRAM_SIZE + 1);
        let read =
            std::io::copy(&mut limited, &mut hasher).map_err(|source| CompilerError::Io {
                path: self.path.clone(),
                source,
            })?;
        if read > MAX_PROGRAM_SIZE {
            return Err(CompilerError::TooLarge {
                path: self.path,
                size: read,
            });
        }
        Ok(*hasher.finalize().as_bytes())
    }
}

/// The identity the recipe key records for build variable `CC`: the
/// variable as written and the hex hash of the program it runs (its last
/// word, so `ccache gcc` is gcc), `"{cc}\n{hash}"`. A compiler that is
/// not found has an empty hash; one that cannot be hashed has the reason
/// instead, so it never matches a compiler that could.
pub fn recipe_identity(cc: &str, hash: Result<[u8; 32], CompilerError>) -> String {
    match hash {
        Ok(h) => format!("{cc}\n{}", blake3::Hash::from_bytes(h).to_hex()),
        Err(CompilerError::NotFound { .. }) => format!("{cc}\n"),
        Err(e) => format!("{cc}\nunhashable: {e}"),
    }
}

/// The program a `CC` value runs: its last word, as the recipe key has
/// always taken it.
pub fn program_of(cc: &str) -> Option<&str> {
    cc.split_whitespace().last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_refuses_what_is_not_a_program() {
        let tmp = tempfile::tempdir().expect("tmp");
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).expect("bin");
        std::fs::write(bin.join("cc"), b"#!/bin/sh\n").expect("cc");
        std::fs::create_dir(bin.join("dir")).expect("dir");
        let path = std::ffi::OsString::from(format!("/nonexistent::{}", bin.display()));
        assert_eq!(resolve("cc", Some(&path)).expect("cc"), bin.join("cc"));
        assert!(matches!(
            resolve("nope", Some(&path)),
            Err(CompilerError::NotFound { .. })
        ));
        assert!(matches!(
            resolve("cc", None),
            Err(CompilerError::NotFound { .. })
        ));
        assert!(matches!(
            open(&bin.join("dir")),
            Err(CompilerError::NotRegular { .. })
        ));
        let fifo = bin.join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("fifo");
        // Opened non-blocking: refused at once, never waiting for a writer.
        assert!(matches!(open(&fifo), Err(CompilerError::NotRegular { .. })));
        let opened = open(&bin.join("cc")).expect("open");
        assert_eq!(opened.stamp.size, 10);
        assert_eq!(
            opened.hash().expect("hash"),
            *blake3::hash(b"#!/bin/sh\n").as_bytes()
        );
    }

    #[test]
    fn recipe_identity_keeps_its_text() {
        let h = *blake3::hash(b"x").as_bytes();
        assert_eq!(
            recipe_identity("gcc", Ok(h)),
            format!("gcc\n{}", blake3::hash(b"x").to_hex())
        );
        assert_eq!(
            recipe_identity(
                "gcc",
                Err(CompilerError::NotFound {
                    program: "gcc".into()
                })
            ),
            "gcc\n"
        );
        assert_eq!(program_of("ccache gcc"), Some("gcc"));
    }
}
