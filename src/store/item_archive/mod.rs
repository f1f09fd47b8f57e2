//! The item archive (store-format/v1/serialization.md, "The archive
//! form"): the canonical stream with every file's contents right after its
//! digest. It is how a tree travels — a client's `store add` and `make`
//! sources to the daemon, a binary cache's blobs — as Nix's NAR does.
//!
//! Writing reads a directory with the writer's own rights, descriptor by
//! descriptor, never following a link and never opening anything but a
//! regular file (non-blocking, so a FIFO cannot stall it). Reading streams
//! into an empty directory and checks every rule of the canonical stream
//! as it goes — magic, tags, names, order, depth, link targets — plus each
//! file's bytes against its digest and the whole against a byte budget; it
//! returns the tree model, so the content hash of what arrived is known
//! from the bytes received, never from the sender's word.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, Timestamps};

use super::canonical::{check_symlink_target, LinkDestination, LinkError, Node, MAX_DEPTH};
use super::content_hash::DIGEST_LEN;
use super::ingest::{DIR_MODE, EXEC_MODE, FILE_MODE, FIXED_MTIME, STAGED_ROOT_MODE};
use super::item_name::{NameError, PathComponent, MAX_COMPONENT_LEN};

/// The 16 bytes that open every archive (and version it).
pub const MAGIC: &[u8; 16] = b"rockstore:nar:1\n";

const TAG_REGULAR: u8 = 1;
const TAG_EXECUTABLE: u8 = 2;
const TAG_SYMLINK: u8 = 3;
const TAG_DIRECTORY: u8 = 4;

/// Longest symlink target accepted (Linux's `PATH_MAX`).
pub const MAX_TARGET: u64 = 4096;

/// Which symlink targets a tree may hold.
#[derive(Debug, Clone, Copy)]
pub enum LinkPolicy<'a> {
    /// An item's: inside the item, or into one of these item names.
    Item(&'a BTreeSet<String>),
    /// A working directory's (`make`'s sources): any target; a build only
    /// follows it with the build's own rights.
    Sources,
}

/// How files and directories are left once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// As the store keeps them: files 0444/0555, directories 0555 (the
    /// root 0755 until it is renamed into `store/`), every mtime fixed.
    Item,
    /// Writable by their owner (0644/0755, directories 0755): sources a
    /// build works in.
    Writable,
}

/// Bounds on what one archive may make the reader write.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of the whole archive (structure and contents).
    pub max_bytes: u64,
    /// Files, links and directories together.
    pub max_entries: u64,
}

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading the source or the stream, or writing the target, failed.
    #[error("cannot read or write `{path}`")]
    Io {
        /// The entry involved (`.` for the root).
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Not an archive of this version.
    #[error("not a rockstore archive (bad magic or unknown format version)")]
    BadMagic,
    /// The stream ended in the middle.
    #[error("the archive ends early, inside `{0}`")]
    Truncated(String),
    /// An unknown node tag.
    #[error("unknown node tag {tag:#04x} at `{path}`")]
    BadTag {
        /// The tag found.
        tag: u8,
        /// Where.
        path: String,
    },
    /// An entry name that breaks the name rules.
    #[error("bad entry name in `{dir}`")]
    BadName {
        /// The directory holding it.
        dir: String,
        /// The rule it breaks.
        #[source]
        source: NameError,
    },
    /// Entries out of order or repeated.
    #[error("entries of `{0}` are not in strictly increasing bytewise order")]
    Unsorted(String),
    /// A symlink target that is empty, too long, not UTF-8 or has NUL.
    #[error("symlink `{0}` has an empty, overlong or non-UTF-8 target")]
    BadTarget(String),
    /// A symlink whose target the policy refuses.
    #[error("symlink `{path}` -> `{target}` is refused")]
    RefusedLink {
        /// The link.
        path: String,
        /// Its target.
        target: String,
        /// Why.
        #[source]
        source: LinkError,
    },
    /// A symlink into an item that is not a declared reference.
    #[error("symlink `{path}` -> `{target}` points into `{item}`, which is not one of this item's references")]
    UndeclaredReference {
        /// The link.
        path: String,
        /// Its target.
        target: String,
        /// The item it enters.
        item: String,
    },
    /// A file whose bytes are not the digest the archive gave.
    #[error("the contents of `{0}` do not match the digest the archive gives for it")]
    DigestMismatch(String),
    /// A file that changed while it was being written out.
    #[error("`{0}` changed while it was being archived")]
    Changed(String),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("`{0}` is nested more than {MAX_DEPTH} directories deep")]
    TooDeep(String),
    /// More bytes or entries than allowed.
    #[error("the archive is larger than allowed ({what} over {limit})")]
    TooLarge {
        /// What ran over (`bytes`, `entries`).
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// Bytes after the root node.
    #[error("bytes follow the archive's root node")]
    Trailing,
    /// A FIFO, socket or device, or a file with the setuid or setgid bit.
    #[error("`{path}` is a {kind}; only regular files, directories and symlinks travel")]
    SpecialFile {
        /// The entry.
        path: String,
        /// What it is.
        kind: &'static str,
    },
}

fn io_at(path: &str) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: shown(path).to_owned(),
        source,
    }
}

fn errno_at(path: &str) -> impl FnOnce(rustix::io::Errno) -> ArchiveError + '_ {
    move |e| ArchiveError::Io {
        path: shown(path).to_owned(),
        source: e.into(),
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() {
        "."
    } else {
        path
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

fn cname(name: &str) -> CString {
    // Names are validated path components: no NUL.
    CString::new(name).unwrap_or_default()
}

/// The flags every open of a stranger's entry uses: never a link, never
/// blocking (a FIFO), never inherited by a child.
const SAFE_OPEN: OFlags = OFlags::NOFOLLOW
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOCTTY);

fn check_link(
    policy: LinkPolicy<'_>,
    path: &str,
    depth: usize,
    target: &str,
) -> Result<(), ArchiveError> {
    let LinkPolicy::Item(allowed) = policy else {
        return Ok(());
    };
    match check_symlink_target(target, depth) {
        Ok(LinkDestination::Inside) => Ok(()),
        Ok(LinkDestination::OtherItem(item)) if allowed.contains(item) => Ok(()),
        Ok(LinkDestination::OtherItem(item)) => Err(ArchiveError::UndeclaredReference {
            path: path.to_owned(),
            target: target.to_owned(),
            item: item.to_owned(),
        }),
        Err(source) => Err(ArchiveError::RefusedLink {
            path: path.to_owned(),
            target: target.to_owned(),
            source,
        }),
    }
}

mod read;
mod write;

pub use read::{expect_end, read_into};
pub use write::{encoded_len, model, write};

// ------------------------------------------- descriptor helpers for both

enum Kind {
    Dir,
    File,
    Link,
    Special(&'static str),
}

/// The entries of `dir`, sorted bytewise, validated as names.
fn list(dir: BorrowedFd<'_>, rel: &str) -> Result<Vec<(PathComponent, Kind)>, ArchiveError> {
    // Listing needs a readable descriptor of its own (the given one may be
    // O_PATH, and reading moves its offset).
    let fd = rustix::fs::openat(
        dir,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno_at(rel))?;
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(&fd).map_err(errno_at(rel))? {
        let entry = entry.map_err(errno_at(rel))?;
        let raw = entry.file_name().to_bytes();
        if raw == b"." || raw == b".." {
            continue;
        }
        let name = PathComponent::from_bytes(raw).map_err(|source| ArchiveError::BadName {
            dir: shown(rel).to_owned(),
            source,
        })?;
        let path = join(rel, name.as_str());
        let stat = rustix::fs::statat(&fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(errno_at(&path))?;
        use rustix::fs::FileType as T;
        let kind = match T::from_raw_mode(stat.st_mode) {
            T::Directory => Kind::Dir,
            T::RegularFile if stat.st_mode & 0o6000 != 0 => Kind::Special("setuid or setgid file"),
            T::RegularFile => Kind::File,
            T::Symlink => Kind::Link,
            T::Fifo => Kind::Special("FIFO"),
            T::Socket => Kind::Special("socket"),
            T::CharacterDevice => Kind::Special("character device"),
            T::BlockDevice => Kind::Special("block device"),
            T::Unknown => Kind::Special("special file"),
        };
        out.push((name, kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn open_dir(dir: BorrowedFd<'_>, name: &str, path: &str) -> Result<OwnedFd, ArchiveError> {
    rustix::fs::openat(
        dir,
        cname(name).as_c_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | SAFE_OPEN,
        Mode::empty(),
    )
    .map_err(errno_at(path))
}

/// Opens a regular file; anything else (a FIFO put in its place since the
/// listing, a link) is refused without blocking.
fn open_file(dir: BorrowedFd<'_>, name: &str, path: &str) -> Result<OwnedFd, ArchiveError> {
    let fd = rustix::fs::openat(
        dir,
        cname(name).as_c_str(),
        OFlags::RDONLY | SAFE_OPEN,
        Mode::empty(),
    )
    .map_err(errno_at(path))?;
    let stat = rustix::fs::fstat(&fd).map_err(errno_at(path))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile
        || stat.st_mode & 0o6000 != 0
    {
        return Err(ArchiveError::SpecialFile {
            path: path.to_owned(),
            kind: "non-regular or privileged file",
        });
    }
    Ok(fd)
}

fn file_mode(fd: &OwnedFd, path: &str) -> Result<u32, ArchiveError> {
    Ok(rustix::fs::fstat(fd).map_err(errno_at(path))?.st_mode)
}

fn read_link(dir: BorrowedFd<'_>, name: &str, path: &str) -> Result<String, ArchiveError> {
    let raw =
        rustix::fs::readlinkat(dir, cname(name).as_c_str(), Vec::new()).map_err(errno_at(path))?;
    let bytes = raw.into_bytes();
    if bytes.is_empty() || bytes.len() as u64 > MAX_TARGET {
        return Err(ArchiveError::BadTarget(path.to_owned()));
    }
    String::from_utf8(bytes).map_err(|_| ArchiveError::BadTarget(path.to_owned()))
}

/// Reads `input` to the end, hashing it, writing it to `output` if given.
fn hash_copy(
    input: &mut dyn Read,
    mut output: Option<&mut dyn Write>,
    path: &str,
) -> Result<(u64, [u8; DIGEST_LEN]), ArchiveError> {
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_at(path)(e)),
        };
        hasher.update(&buffer[..n]);
        if let Some(out) = output.as_mut() {
            out.write_all(&buffer[..n]).map_err(io_at(path))?;
        }
        size += n as u64;
    }
    Ok((size, *hasher.finalize().as_bytes()))
}
fn set_fixed_times(fd: BorrowedFd<'_>, path: &str) -> Result<(), ArchiveError> {
    let t = rustix::fs::Timespec {
        tv_sec: FIXED_MTIME.as_secs() as i64,
        tv_nsec: 0,
    };
    rustix::fs::futimens(
        fd,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
    )
    .map_err(errno_at(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::canonical;

    fn limits() -> Limits {
        Limits {
            max_bytes: 1 << 20,
            max_entries: 1000,
        }
    }

    fn tree(root: &std::path::Path) {
        std::fs::create_dir_all(root.join("lua/a")).expect("dirs");
        std::fs::write(root.join("lua/a/init.lua"), "return 1").expect("file");
        std::fs::write(root.join("tool"), "#!/bin/sh\n").expect("file");
        std::fs::set_permissions(
            root.join("tool"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        std::os::unix::fs::symlink("lua/a/init.lua", root.join("link")).expect("link");
        std::fs::create_dir(root.join("empty")).expect("dir");
    }

    fn open(path: &std::path::Path) -> OwnedFd {
        rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open")
    }

    fn archive_of(root: &std::path::Path) -> (Node, Vec<u8>) {
        let fd = open(root);
        let none = BTreeSet::new();
        let node = model(fd.as_fd(), LinkPolicy::Item(&none), &[]).expect("model");
        let mut out = Vec::new();
        write(fd.as_fd(), &node, &mut out).expect("write");
        assert_eq!(encoded_len(&node), out.len() as u64);
        (node, out)
    }

    #[test]
    fn round_trip_gives_the_same_tree_and_hash() {
        let tmp = tempfile::tempdir().expect("tmp");
        let src = tmp.path().join("src");
        tree(&src);
        let (node, bytes) = archive_of(&src);
        let dest = tmp.path().join("dest");
        std::fs::create_dir(&dest).expect("dest");
        let none = BTreeSet::new();
        let got = read_into(
            &mut bytes.as_slice(),
            open(&dest).as_fd(),
            LinkPolicy::Item(&none),
            Finish::Item,
            limits(),
        )
        .expect("read");
        assert_eq!(got, node);
        assert_eq!(
            canonical::content_hash(&got),
            canonical::content_hash(&node)
        );
        assert_eq!(
            std::fs::read(dest.join("lua/a/init.lua")).expect("f"),
            b"return 1"
        );
        // The same archive again is the same model: it depends on bytes only.
        let (again, bytes2) = archive_of(&dest);
        assert_eq!(again, node);
        assert_eq!(bytes2, bytes);
    }

    fn read_fails(bytes: &[u8], policy: LinkPolicy<'_>, limits: Limits) -> ArchiveError {
        let tmp = tempfile::tempdir().expect("tmp");
        read_into(
            &mut &bytes[..],
            open(tmp.path()).as_fd(),
            policy,
            Finish::Item,
            limits,
        )
        .expect_err("must fail")
    }

    #[test]
    fn altered_truncated_and_oversized_archives_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let src = tmp.path().join("src");
        tree(&src);
        let (_, bytes) = archive_of(&src);
        let none = BTreeSet::new();
        let pos = bytes
            .windows(8)
            .position(|w| w == b"return 1")
            .expect("contents");
        let mut altered = bytes.clone();
        altered[pos] = b'R';
        assert!(matches!(
            read_fails(&altered, LinkPolicy::Item(&none), limits()),
            ArchiveError::DigestMismatch(p) if p == "lua/a/init.lua"
        ));
        assert!(matches!(
            read_fails(&bytes[..bytes.len() - 3], LinkPolicy::Item(&none), limits()),
            ArchiveError::Truncated(_)
        ));
        assert!(matches!(
            read_fails(
                &bytes,
                LinkPolicy::Item(&none),
                Limits {
                    max_bytes: 100,
                    max_entries: 1000
                }
            ),
            ArchiveError::TooLarge { what: "bytes", .. }
        ));
        assert!(matches!(
            read_fails(
                &bytes,
                LinkPolicy::Item(&none),
                Limits {
                    max_bytes: 1 << 20,
                    max_entries: 3
                }
            ),
            ArchiveError::TooLarge {
                what: "entries",
                ..
            }
        ));
        assert!(matches!(
            read_fails(b"rockstore:tree:1\x04", LinkPolicy::Item(&none), limits()),
            ArchiveError::BadMagic
        ));
    }

    #[test]
    fn links_out_of_an_item_are_refused_but_travel_as_sources() {
        let tmp = tempfile::tempdir().expect("tmp");
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).expect("src");
        std::os::unix::fs::symlink("/etc/passwd", src.join("out")).expect("link");
        let fd = open(&src);
        let none = BTreeSet::new();
        assert!(matches!(
            model(fd.as_fd(), LinkPolicy::Item(&none), &[]),
            Err(ArchiveError::RefusedLink { .. })
        ));
        let node = model(fd.as_fd(), LinkPolicy::Sources, &[]).expect("sources");
        let mut bytes = Vec::new();
        write(fd.as_fd(), &node, &mut bytes).expect("write");
        assert!(matches!(
            read_fails(&bytes, LinkPolicy::Item(&none), limits()),
            ArchiveError::RefusedLink { .. }
        ));
        let dest = tmp.path().join("dest");
        std::fs::create_dir(&dest).expect("dest");
        read_into(
            &mut bytes.as_slice(),
            open(&dest).as_fd(),
            LinkPolicy::Sources,
            Finish::Writable,
            limits(),
        )
        .expect("sources read");
        assert_eq!(
            std::fs::read_link(dest.join("out")).expect("link").to_str(),
            Some("/etc/passwd")
        );
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let tmp = tempfile::tempdir().expect("tmp");
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).expect("src");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            src.join("fifo"),
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .expect("mkfifo");
        let none = BTreeSet::new();
        assert!(matches!(
            model(open(&src).as_fd(), LinkPolicy::Item(&none), &[]),
            Err(ArchiveError::SpecialFile { kind: "FIFO", .. })
        ));
        // A working directory's FIFO is simply not a source.
        assert!(model(open(&src).as_fd(), LinkPolicy::Sources, &[]).is_ok());
    }
}
