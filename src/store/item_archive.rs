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

// ---------------------------------------------------------------- writing

/// Reads the directory `dir` into the tree model (hashing every file),
/// with the caller's rights, refusing what an item cannot hold. `skip`
/// names top-level entries left out (`.git` of a working directory).
pub fn model(
    dir: BorrowedFd<'_>,
    policy: LinkPolicy<'_>,
    skip: &[&str],
) -> Result<Node, ArchiveError> {
    model_dir(dir, "", 0, policy, skip)
}

fn model_dir(
    dir: BorrowedFd<'_>,
    rel: &str,
    depth: usize,
    policy: LinkPolicy<'_>,
    skip: &[&str],
) -> Result<Node, ArchiveError> {
    if depth > MAX_DEPTH {
        return Err(ArchiveError::TooDeep(shown(rel).to_owned()));
    }
    let mut entries = std::collections::BTreeMap::new();
    for (name, kind) in list(dir, rel)? {
        if depth == 0 && skip.contains(&name.as_str()) {
            continue;
        }
        let path = join(rel, name.as_str());
        let node = match kind {
            Kind::Dir => {
                let child = open_dir(dir, name.as_str(), &path)?;
                model_dir(child.as_fd(), &path, depth + 1, policy, &[])?
            }
            Kind::Link => {
                let target = read_link(dir, name.as_str(), &path)?;
                check_link(policy, &path, depth, &target)?;
                Node::Symlink { target }
            }
            Kind::File => {
                let file = open_file(dir, name.as_str(), &path)?;
                let executable = file_mode(&file, &path)? & 0o100 != 0;
                let (size, digest) = hash_copy(&mut std::fs::File::from(file), None, &path)?;
                Node::File {
                    executable,
                    size,
                    digest,
                }
            }
            Kind::Special(what) => {
                if matches!(policy, LinkPolicy::Sources) {
                    continue; // a socket in a working directory is not a source
                }
                return Err(ArchiveError::SpecialFile { path, kind: what });
            }
        };
        entries.insert(name, node);
    }
    Ok(Node::Directory(entries))
}

/// Writes the archive of `dir`, whose model [`model`] made, to `out`.
/// A file that no longer has the size and bytes of the model is an
/// error (what was sent so far is then not a valid archive).
pub fn write(dir: BorrowedFd<'_>, root: &Node, out: &mut dyn Write) -> Result<(), ArchiveError> {
    out.write_all(MAGIC).map_err(io_at(""))?;
    write_node(dir, None, "", root, out)
}

fn write_node(
    parent: BorrowedFd<'_>,
    name: Option<&str>,
    path: &str,
    node: &Node,
    out: &mut dyn Write,
) -> Result<(), ArchiveError> {
    let put = |out: &mut dyn Write, bytes: &[u8]| out.write_all(bytes).map_err(io_at(path));
    match node {
        Node::File {
            executable,
            size,
            digest,
        } => {
            let name = name.unwrap_or(".");
            put(
                out,
                &[if *executable {
                    TAG_EXECUTABLE
                } else {
                    TAG_REGULAR
                }],
            )?;
            put(out, &size.to_le_bytes())?;
            put(out, digest)?;
            let file = open_file(parent, name, path)?;
            let mut counted = Counted { out, written: 0 };
            let (got, again) = hash_copy(
                &mut std::fs::File::from(file).take(*size + 1),
                Some(&mut counted),
                path,
            )?;
            if got != *size || again != *digest {
                return Err(ArchiveError::Changed(path.to_owned()));
            }
            Ok(())
        }
        Node::Symlink { target } => {
            put(out, &[TAG_SYMLINK])?;
            put(out, &(target.len() as u64).to_le_bytes())?;
            put(out, target.as_bytes())
        }
        Node::Directory(entries) => {
            let own;
            let dir = match name {
                Some(name) => {
                    own = open_dir(parent, name, path)?;
                    own.as_fd()
                }
                None => parent,
            };
            put(out, &[TAG_DIRECTORY])?;
            put(out, &(entries.len() as u64).to_le_bytes())?;
            for (child, node) in entries {
                put(out, &(child.as_str().len() as u64).to_le_bytes())?;
                put(out, child.as_str().as_bytes())?;
                write_node(
                    dir,
                    Some(child.as_str()),
                    &join(path, child.as_str()),
                    node,
                    out,
                )?;
            }
            Ok(())
        }
    }
}

/// The length in bytes of the archive of `root` (what [`write`] writes).
pub fn encoded_len(root: &Node) -> u64 {
    fn node(n: &Node) -> u64 {
        match n {
            Node::File { size, .. } => 1 + 8 + DIGEST_LEN as u64 + size,
            Node::Symlink { target } => 1 + 8 + target.len() as u64,
            Node::Directory(entries) => {
                1 + 8
                    + entries
                        .iter()
                        .map(|(name, child)| 8 + name.as_str().len() as u64 + node(child))
                        .sum::<u64>()
            }
        }
    }
    MAGIC.len() as u64 + node(root)
}

/// A writer that counts (so a file that grew is caught).
struct Counted<'w> {
    out: &'w mut dyn Write,
    written: u64,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

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

// ---------------------------------------------------------------- reading

/// Reads one archive from `input` into the empty directory `target`,
/// checking everything as it goes; returns the tree model of what was
/// written. On error, whatever was written stays for the caller to remove
/// with its staging directory.
pub fn read_into(
    input: &mut dyn Read,
    target: BorrowedFd<'_>,
    policy: LinkPolicy<'_>,
    finish: Finish,
    limits: Limits,
) -> Result<Node, ArchiveError> {
    let mut reader = Reader {
        input,
        read: 0,
        entries: 0,
        limits,
        policy,
        finish,
    };
    let mut magic = [0u8; 16];
    reader.exact(&mut magic, "")?;
    if &magic != MAGIC {
        return Err(ArchiveError::BadMagic);
    }
    let root = reader.node(target, None, "", 0)?;
    // Exactly one root node: the caller knows the archive's length and
    // checks that nothing follows (a stream has no end marker of its own).
    Ok(root)
}

/// Checks that `input` has nothing left (after [`read_into`]).
pub fn expect_end(input: &mut dyn Read) -> Result<(), ArchiveError> {
    let mut one = [0u8; 1];
    loop {
        match input.read(&mut one) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(ArchiveError::Trailing),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_at("")(e)),
        }
    }
}

struct Reader<'a> {
    input: &'a mut dyn Read,
    read: u64,
    entries: u64,
    limits: Limits,
    policy: LinkPolicy<'a>,
    finish: Finish,
}

impl Reader<'_> {
    fn count(&mut self, n: u64) -> Result<(), ArchiveError> {
        self.read = self.read.saturating_add(n);
        if self.read > self.limits.max_bytes {
            return Err(ArchiveError::TooLarge {
                what: "bytes",
                limit: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    fn exact(&mut self, buf: &mut [u8], path: &str) -> Result<(), ArchiveError> {
        self.count(buf.len() as u64)?;
        self.input.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                ArchiveError::Truncated(shown(path).to_owned())
            } else {
                io_at(path)(e)
            }
        })
    }

    fn u64(&mut self, path: &str) -> Result<u64, ArchiveError> {
        let mut b = [0u8; 8];
        self.exact(&mut b, path)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A length-prefixed string of at most `max` bytes.
    fn bytes(&mut self, max: u64, path: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        let len = self.u64(path)?;
        if len > max {
            return Ok(None);
        }
        let mut buf = vec![0u8; len as usize];
        self.exact(&mut buf, path)?;
        Ok(Some(buf))
    }

    fn entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ArchiveError::TooLarge {
                what: "entries",
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    /// Reads one node and makes it as `name` in `parent` (`None`: the
    /// node is the root, `parent` itself, which must be a directory).
    fn node(
        &mut self,
        parent: BorrowedFd<'_>,
        name: Option<&PathComponent>,
        path: &str,
        depth: usize,
    ) -> Result<Node, ArchiveError> {
        if depth > MAX_DEPTH {
            return Err(ArchiveError::TooDeep(shown(path).to_owned()));
        }
        self.entry()?;
        let mut tag = [0u8; 1];
        self.exact(&mut tag, path)?;
        match (tag[0], name) {
            (TAG_REGULAR | TAG_EXECUTABLE, Some(name)) => {
                let executable = tag[0] == TAG_EXECUTABLE;
                let size = self.u64(path)?;
                let mut digest = [0u8; DIGEST_LEN];
                self.exact(&mut digest, path)?;
                self.count(size)?;
                let fd = rustix::fs::openat(
                    parent,
                    cname(name.as_str()).as_c_str(),
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | SAFE_OPEN,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(errno_at(path))?;
                let mut file = std::fs::File::from(fd);
                let mut limited = (&mut *self.input).take(size);
                let (got, actual) = hash_copy(&mut limited, Some(&mut file), path)?;
                if got != size {
                    return Err(ArchiveError::Truncated(path.to_owned()));
                }
                if actual != digest {
                    return Err(ArchiveError::DigestMismatch(path.to_owned()));
                }
                let mode = match (self.finish, executable) {
                    (Finish::Item, true) => EXEC_MODE,
                    (Finish::Item, false) => FILE_MODE,
                    (Finish::Writable, true) => 0o755,
                    (Finish::Writable, false) => 0o644,
                };
                self.close_file(file, mode, path)?;
                Ok(Node::File {
                    executable,
                    size,
                    digest,
                })
            }
            (TAG_SYMLINK, Some(name)) => {
                let target = self
                    .bytes(MAX_TARGET, path)?
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|t| !t.is_empty() && !t.contains('\0'))
                    .ok_or_else(|| ArchiveError::BadTarget(path.to_owned()))?;
                check_link(self.policy, path, depth.saturating_sub(1), &target)?;
                rustix::fs::symlinkat(target.as_str(), parent, cname(name.as_str()).as_c_str())
                    .map_err(errno_at(path))?;
                Ok(Node::Symlink { target })
            }
            (TAG_DIRECTORY, _) => {
                let own;
                let dir = match name {
                    Some(name) => {
                        rustix::fs::mkdirat(
                            parent,
                            cname(name.as_str()).as_c_str(),
                            Mode::from_raw_mode(0o700),
                        )
                        .map_err(errno_at(path))?;
                        own = open_dir(parent, name.as_str(), path)?;
                        own.as_fd()
                    }
                    None => parent,
                };
                let count = self.u64(path)?;
                let mut entries = std::collections::BTreeMap::new();
                let mut last: Option<PathComponent> = None;
                for _ in 0..count {
                    let raw = self.bytes(MAX_COMPONENT_LEN as u64, path)?.ok_or_else(|| {
                        ArchiveError::BadName {
                            dir: shown(path).to_owned(),
                            source: NameError::TooLong(String::new(), MAX_COMPONENT_LEN),
                        }
                    })?;
                    let child = PathComponent::from_bytes(&raw).map_err(|source| {
                        ArchiveError::BadName {
                            dir: shown(path).to_owned(),
                            source,
                        }
                    })?;
                    if last.as_ref().is_some_and(|prev| prev >= &child) {
                        return Err(ArchiveError::Unsorted(shown(path).to_owned()));
                    }
                    let child_path = join(path, child.as_str());
                    let node = self.node(dir, Some(&child), &child_path, depth + 1)?;
                    last = Some(child.clone());
                    entries.insert(child, node);
                }
                let mode = match (self.finish, name) {
                    (Finish::Item, Some(_)) => DIR_MODE,
                    (Finish::Item, None) => STAGED_ROOT_MODE,
                    (Finish::Writable, _) => 0o755,
                };
                self.close_dir(dir, mode, path)?;
                Ok(Node::Directory(entries))
            }
            (TAG_REGULAR | TAG_EXECUTABLE | TAG_SYMLINK, None) => Err(ArchiveError::BadTag {
                tag: tag[0],
                path: ".".to_owned(),
            }),
            (tag, _) => Err(ArchiveError::BadTag {
                tag,
                path: shown(path).to_owned(),
            }),
        }
    }

    fn close_file(&self, file: std::fs::File, mode: u32, path: &str) -> Result<(), ArchiveError> {
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(errno_at(path))?;
        if self.finish == Finish::Item {
            set_fixed_times(file.as_fd(), path)?;
        }
        Ok(())
    }

    fn close_dir(&self, dir: BorrowedFd<'_>, mode: u32, path: &str) -> Result<(), ArchiveError> {
        // An O_PATH descriptor cannot be fchmod'ed: open the directory itself.
        let fd = rustix::fs::openat(
            dir,
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno_at(path))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(errno_at(path))?;
        if self.finish == Finish::Item {
            set_fixed_times(fd.as_fd(), path)?;
        }
        Ok(())
    }
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
