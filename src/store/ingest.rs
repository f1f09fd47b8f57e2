//! Reading a directory into the canonical tree model, in three modes:
//! copying an outside directory into a staging directory, normalising a
//! staging directory in place (what builds produce), and checking an admitted
//! item read-only (what `verify --contents` does).
//!
//! The walk is two-phase: directories are listed sequentially (cheap), then
//! every regular file is copied/hashed/normalised in parallel with rayon.
//! Everything is opened through cap-std handles rooted at the source and the
//! staging directory, so no entry name or link can make us read or write
//! outside them. Normalisation gives files 0444 (0555 when the owner could
//! execute), directories 0555, and every mtime 1 s after the epoch, whatever the
//! umask; the content hash never depends on any of it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use cap_std::fs::{Dir, FileTypeExt, MetadataExt as _, OpenOptions, OpenOptionsExt};
use rayon::prelude::*;

use super::canonical::{check_symlink_target, LinkDestination, LinkError, Node, MAX_DEPTH};
use super::failpoint::Failpoints;
use super::item_name::{NameError, PathComponent};

/// Mode of a regular file in the store.
pub const FILE_MODE: u32 = 0o444;
/// Mode of an executable file in the store.
pub const EXEC_MODE: u32 = 0o555;
/// Mode of a directory in the store.
pub const DIR_MODE: u32 = 0o555;
/// Mode of a staged item's root directory until it is renamed into place.
pub const STAGED_ROOT_MODE: u32 = 0o755;
/// The mtime every store file and directory gets (as Nix: 1 s after the epoch).
pub const FIXED_MTIME: Duration = Duration::from_secs(1);

const BIG_CHUNK: usize = 128 * 1024;

/// A staged tree that cannot become an item. `path` is relative to the tree.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading or writing failed.
    #[error("cannot read or write `{path}`")]
    Io {
        /// Entry involved.
        path: String,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// FIFO, socket or device node.
    #[error("`{path}` is a {kind}; items may only hold regular files, directories and symlinks")]
    SpecialFile {
        /// Entry involved.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A file with the setuid or setgid bit.
    #[error("`{path}` has the setuid or setgid bit; the store never holds privileged files")]
    Privileged {
        /// Entry involved.
        path: String,
    },
    /// A name the format cannot represent.
    #[error("bad entry name in `{dir}`: {source}")]
    BadName {
        /// Directory holding it.
        dir: String,
        /// The rule it breaks.
        #[source]
        source: NameError,
    },
    /// A symlink whose target is not allowed.
    #[error("symlink `{path}` -> `{target}` is refused: {source}")]
    BadSymlink {
        /// Entry involved.
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
        /// Entry involved.
        path: String,
        /// Its target.
        target: String,
        /// The item it enters.
        item: String,
    },
    /// A symlink target that is not UTF-8.
    #[error("symlink `{path}` has a target that is not valid UTF-8")]
    NonUtf8Target {
        /// Entry involved.
        path: String,
    },
    /// Nested too deeply.
    #[error("`{path}` is nested more than {MAX_DEPTH} directories deep")]
    TooDeep {
        /// Entry involved.
        path: String,
    },
}

fn io_err(path: &str) -> impl FnOnce(io::Error) -> IngestError + '_ {
    move |source| IngestError::Io {
        path: display_path(path),
        source,
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.to_owned()
    }
}

/// What the walk does with the files it reads.
pub enum Mode<'a> {
    /// Copy everything from this directory into the target (an empty staging dir).
    Copy(&'a Dir),
    /// The target is a staging directory: normalise it where it is.
    InPlace,
    /// The target is an admitted item: change nothing, report bad modes.
    Check,
}

/// A file or directory whose mode is wrong in an admitted item (Check mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeProblem {
    /// Path inside the item.
    pub path: String,
    /// What is wrong.
    pub what: String,
}

/// The result of a walk.
pub struct Walked {
    /// The tree as the canonical model sees it.
    pub root: Node,
    /// Check mode only: modes that are not the store's.
    pub mode_problems: Vec<ModeProblem>,
}

/// A regular file to process: its parent directories as handles (so each
/// open resolves one component, not a whole path) and its name.
struct FileJob {
    source_parent: Arc<Dir>,
    target_parent: Arc<Dir>,
    name: String,
    rel: String,
}

enum Pending {
    File(usize),
    Link(String),
    Dir(BTreeMap<PathComponent, Pending>),
}

/// One walk over `target` (and, when copying, over the source).
pub struct Ingest<'a> {
    /// What to do.
    pub mode: Mode<'a>,
    /// The staging directory (Copy, InPlace) or the item (Check).
    pub target: &'a Dir,
    /// Item directory names that symlinks may lead into (the references).
    pub allowed_items: &'a BTreeSet<String>,
    /// Test-only stopping points.
    pub failpoints: &'a Failpoints,
}

impl Ingest<'_> {
    /// Walks the tree, returning its model.
    pub fn run(&self) -> Result<Walked, IngestError> {
        raise_fd_limit();
        let mut jobs: Vec<FileJob> = Vec::new();
        let mut dirs: Vec<String> = Vec::new();
        let source_root = Arc::new(self.source().try_clone().map_err(io_err(""))?);
        let target_root = match self.mode {
            Mode::Copy(_) => Arc::new(self.target.try_clone().map_err(io_err(""))?),
            Mode::InPlace | Mode::Check => Arc::clone(&source_root),
        };
        let pending = self.walk_dir(&source_root, &target_root, "", 0, &mut jobs, &mut dirs)?;

        let results: Vec<Result<(Node, Option<ModeProblem>), IngestError>> =
            jobs.par_iter().map(|job| self.process_file(job)).collect();
        let mut files = Vec::with_capacity(results.len());
        let mut mode_problems = Vec::new();
        for result in results {
            let (node, problem) = result?;
            files.push(Some(node));
            mode_problems.extend(problem);
        }
        let root = assemble(pending, &mut files);

        match self.mode {
            Mode::Copy(_) | Mode::InPlace => {
                // Children before parents: a 0555 parent would forbid nothing
                // to root, but would to the owner of a per-user store.
                for rel in dirs.iter().rev() {
                    self.normalise_dir(rel, DIR_MODE)?;
                }
                // The root stays writable by its owner until it has been
                // renamed into `store/`: moving a directory to another
                // parent needs write permission on it (its `..` changes),
                // which root has anyway but a user of a shared store has
                // not. Admission then makes it 0555.
                self.normalise_dir("", STAGED_ROOT_MODE)?;
            }
            Mode::Check => {
                for rel in std::iter::once("").chain(dirs.iter().map(String::as_str)) {
                    mode_problems.extend(self.check_dir(rel)?);
                }
            }
        }
        mode_problems.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Walked {
            root,
            mode_problems,
        })
    }

    fn source(&self) -> &Dir {
        match self.mode {
            Mode::Copy(src) => src,
            Mode::InPlace | Mode::Check => self.target,
        }
    }

    fn walk_dir(
        &self,
        dir: &Arc<Dir>,
        target_dir: &Arc<Dir>,
        rel: &str,
        depth: usize,
        jobs: &mut Vec<FileJob>,
        dirs: &mut Vec<String>,
    ) -> Result<Pending, IngestError> {
        if depth > MAX_DEPTH {
            return Err(IngestError::TooDeep {
                path: display_path(rel),
            });
        }
        let mut entries = BTreeMap::new();
        for entry in dir.entries().map_err(io_err(rel))? {
            let entry = entry.map_err(io_err(rel))?;
            let raw = entry.file_name();
            let name = PathComponent::from_bytes(raw.as_bytes()).map_err(|source| {
                IngestError::BadName {
                    dir: display_path(rel),
                    source,
                }
            })?;
            let child = join(rel, name.as_str());
            let file_type = entry.file_type().map_err(io_err(&child))?;
            let pending = if file_type.is_dir() {
                let child_dir = Arc::new(dir.open_dir(name.as_str()).map_err(io_err(&child))?);
                let child_target = match self.mode {
                    Mode::Copy(_) => {
                        target_dir
                            .create_dir(name.as_str())
                            .map_err(io_err(&child))?;
                        Arc::new(target_dir.open_dir(name.as_str()).map_err(io_err(&child))?)
                    }
                    Mode::InPlace | Mode::Check => Arc::clone(&child_dir),
                };
                dirs.push(child.clone());
                self.walk_dir(&child_dir, &child_target, &child, depth + 1, jobs, dirs)?
            } else if file_type.is_symlink() {
                let target = dir
                    .read_link_contents(name.as_str())
                    .map_err(io_err(&child))?;
                let target = self.check_link(&child, depth, target)?;
                if let Mode::Copy(_) = self.mode {
                    target_dir
                        .symlink_contents(&target, name.as_str())
                        .map_err(io_err(&child))?;
                }
                Pending::Link(target)
            } else if file_type.is_file() {
                jobs.push(FileJob {
                    source_parent: Arc::clone(dir),
                    target_parent: Arc::clone(target_dir),
                    name: name.as_str().to_owned(),
                    rel: child,
                });
                Pending::File(jobs.len() - 1)
            } else {
                return Err(IngestError::SpecialFile {
                    path: child,
                    kind: special_kind(&file_type),
                });
            };
            entries.insert(name, pending);
        }
        Ok(Pending::Dir(entries))
    }

    fn check_link(&self, path: &str, depth: usize, target: PathBuf) -> Result<String, IngestError> {
        let target =
            target
                .into_os_string()
                .into_string()
                .map_err(|_| IngestError::NonUtf8Target {
                    path: path.to_owned(),
                })?;
        let bad = |source| IngestError::BadSymlink {
            path: path.to_owned(),
            target: target.clone(),
            source,
        };
        match check_symlink_target(&target, depth).map_err(bad)? {
            LinkDestination::Inside => {}
            LinkDestination::OtherItem(item) if self.allowed_items.contains(item) => {}
            LinkDestination::OtherItem(item) => {
                return Err(IngestError::UndeclaredReference {
                    path: path.to_owned(),
                    item: item.to_owned(),
                    target: target.clone(),
                })
            }
        }
        Ok(target)
    }

    fn process_file(&self, job: &FileJob) -> Result<(Node, Option<ModeProblem>), IngestError> {
        self.failpoints.hit("stage-file");
        let rel = job.rel.as_str();
        let name = job.name.as_str();
        let mut input = open_entry(&job.source_parent, name).map_err(io_err(rel))?;
        let meta = input.metadata().map_err(io_err(rel))?;
        if !meta.is_file() {
            // Replaced by something else since it was listed.
            return Err(IngestError::SpecialFile {
                path: rel.to_owned(),
                kind: "non-regular file",
            });
        }
        let mode = meta.mode();
        let executable = mode & 0o100 != 0;
        let io = || io_err(rel);
        let (size, digest, problem) = match self.mode {
            Mode::Copy(_) => {
                reject_privileged(rel, mode)?;
                let mut out = job
                    .target_parent
                    .open_with(
                        name,
                        OpenOptions::new().write(true).create_new(true).mode(0o600),
                    )
                    .map_err(io())?;
                let (size, digest) = hash_copy(&mut input, Some(&mut out)).map_err(io())?;
                finish_file(out.into_std(), executable).map_err(io())?;
                (size, digest, None)
            }
            Mode::InPlace => {
                reject_privileged(rel, mode)?;
                let (size, digest) =
                    hash_copy(&mut input, None::<&mut std::fs::File>).map_err(io())?;
                if meta.nlink() > 1 {
                    // A hard link may share its inode with a file outside the
                    // staging directory: chmod-ing it would change that file.
                    drop(input);
                    unshare(&job.target_parent, name).map_err(io())?;
                    input = open_entry(&job.target_parent, name).map_err(io())?;
                }
                finish_file(input, executable).map_err(io())?;
                (size, digest, None)
            }
            Mode::Check => {
                let (size, digest) =
                    hash_copy(&mut input, None::<&mut std::fs::File>).map_err(io())?;
                let perm = mode & 0o7777;
                let expected = if executable { EXEC_MODE } else { FILE_MODE };
                let problem = (perm != expected).then(|| ModeProblem {
                    path: rel.to_owned(),
                    what: format!("has mode {perm:04o}, expected {expected:04o}"),
                });
                (size, digest, problem)
            }
        };
        Ok((
            Node::File {
                executable,
                size,
                digest,
            },
            problem,
        ))
    }

    fn normalise_dir(&self, rel: &str, mode: u32) -> Result<(), IngestError> {
        let dir = open_readable(self.target, rel).map_err(io_err(rel))?;
        dir.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io_err(rel))?;
        dir.set_times(fixed_times()).map_err(io_err(rel))
    }

    fn check_dir(&self, rel: &str) -> Result<Option<ModeProblem>, IngestError> {
        let meta = open_dir(self.target, rel)
            .map_err(io_err(rel))?
            .dir_metadata()
            .map_err(io_err(rel))?;
        let perm = meta.mode() & 0o7777;
        Ok((perm != DIR_MODE).then(|| ModeProblem {
            path: display_path(rel),
            what: format!("is a directory with mode {perm:04o}, expected {DIR_MODE:04o}"),
        }))
    }
}

fn assemble(pending: Pending, files: &mut [Option<Node>]) -> Node {
    match pending {
        Pending::File(i) => files[i].take().unwrap_or_else(Node::empty_dir),
        Pending::Link(target) => Node::Symlink { target },
        Pending::Dir(entries) => Node::Directory(
            entries
                .into_iter()
                .map(|(name, child)| (name, assemble(child, files)))
                .collect(),
        ),
    }
}

/// Opens the entry `name` of `dir` for reading as it is: never through a
/// link, never blocking (a FIFO that took a file's place since the listing
/// is refused by the caller's type check, not waited on).
fn open_entry(dir: &Dir, name: &str) -> io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    Ok(std::fs::File::from(fd))
}

/// Replaces `name` in `dir` by a private copy of itself.
fn unshare(dir: &Dir, name: &str) -> io::Result<()> {
    let temp = format!("{name}.rockstore-unshare");
    let mut src = dir.open(name)?;
    let mut dst = dir.open_with(
        &temp,
        OpenOptions::new().write(true).create_new(true).mode(0o600),
    )?;
    io::copy(&mut src, &mut dst)?;
    dir.rename(&temp, dir, name)
}

/// Each directory of a walked tree holds two handles until the walk ends, so
/// a wide tree needs more descriptors than the usual soft limit of 1024;
/// the hard limit is ours to use.
fn raise_fd_limit() {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if limit.current < limit.maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}

fn reject_privileged(rel: &str, mode: u32) -> Result<(), IngestError> {
    if mode & 0o6000 != 0 {
        return Err(IngestError::Privileged {
            path: rel.to_owned(),
        });
    }
    Ok(())
}

fn special_kind(file_type: &cap_std::fs::FileType) -> &'static str {
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

fn fixed_times() -> std::fs::FileTimes {
    let t = UNIX_EPOCH + FIXED_MTIME;
    std::fs::FileTimes::new().set_accessed(t).set_modified(t)
}

fn finish_file(file: std::fs::File, executable: bool) -> io::Result<()> {
    let mode = if executable { EXEC_MODE } else { FILE_MODE };
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.set_times(fixed_times())
}

/// Opens a directory for reading, as a file: cap-std's `Dir` handles are
/// `O_PATH` on Linux, on which fchmod, futimens and fsync fail with EBADF.
pub fn open_readable(root: &Dir, rel: &str) -> io::Result<std::fs::File> {
    Ok(root
        .open(if rel.is_empty() { "." } else { rel })?
        .into_std())
}

/// Opens `rel` under `root` (`""` is `root` itself).
pub fn open_dir(root: &Dir, rel: &str) -> io::Result<Dir> {
    if rel.is_empty() {
        root.try_clone()
    } else {
        root.open_dir(rel)
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 1 << 20]);
}

/// Reads `input` to the end, hashing it and writing it to `output` if given.
/// Large reads are hashed with blake3's multi-threaded mode.
fn hash_copy(
    input: &mut impl Read,
    mut output: Option<&mut impl Write>,
) -> io::Result<(u64, [u8; 32])> {
    BUFFER.with(|cell| {
        let mut buffer = cell.borrow_mut();
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        loop {
            let n = match input.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = &buffer[..n];
            if n >= BIG_CHUNK {
                hasher.update_rayon(chunk);
            } else {
                hasher.update(chunk);
            }
            if let Some(out) = output.as_mut() {
                out.write_all(chunk)?;
            }
            size += n as u64;
        }
        Ok((size, *hasher.finalize().as_bytes()))
    })
}
