//! Unpacking source archives and rock files (`.tar.gz`, `.tgz`, `.tar.bz2`,
//! `.tar.xz`, `.tar`, `.zip`, `.rock`) written by strangers. Every entry is
//! written through a `cap-std` handle on the destination, and checked before
//! that: no absolute paths, no `..`, no devices, no entry inside a link.
//! Symlinks are judged once the whole archive is out, by resolving them
//! through the handle, link by link as the kernel would (a lexical check is
//! unsound: `a/..` is not `.` when `a` is a link). A refused archive leaves a
//! partly filled destination, which the caller (a build's temporary
//! directory) throws away.
//!
//! Sizes are bounded as bytes come out of the decompressor, for every
//! format: a total, a number of entries, and a compression ratio past a
//! floor, so a bomb is refused after a few MiB rather than after the disk
//! or the memory fills. The input is read as a stream (a file), never whole.

use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

use cap_std::fs::{Dir, DirBuilder, OpenOptions, Permissions};
use cap_std::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Bounds on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes that may come out of the decompressor.
    pub total_bytes: u64,
    /// Number of entries.
    pub entries: u64,
    /// Past [`Limits::ratio_floor`] bytes out, at most this many bytes out
    /// per byte in.
    pub max_ratio: u64,
    /// Bytes out before the ratio is checked (small archives of text
    /// compress well and are harmless).
    pub ratio_floor: u64,
    /// Memory the xz decoder may use (its dictionary), in KiB.
    pub xz_memory_kib: u32,
}

impl Limits {
    /// Generous for any real rock (the largest sources on luarocks.org are
    /// tens of MB and compress 3–10×), small enough that a bomb is refused
    /// after `ratio_floor` bytes.
    pub const DEFAULT: Limits = Limits {
        total_bytes: 1 << 30,
        entries: 200_000,
        max_ratio: 100,
        ratio_floor: 32 << 20,
        xz_memory_kib: 256 << 10,
    };
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The file name has no extension we can unpack.
    #[error("{file}: unknown archive type (expected .tar.gz, .tgz, .tar.bz2, .tar.xz, .tar, .zip or .rock)")]
    UnknownType {
        /// The archive.
        file: String,
    },
    /// The bytes are not a valid archive (truncated, corrupt).
    #[error("{file} is corrupt or truncated")]
    Corrupt {
        /// The archive.
        file: String,
        /// What the decoder said.
        #[source]
        source: io::Error,
    },
    /// An entry would land outside the destination.
    #[error("{file}: entry `{entry}` would be written outside the unpack directory; refusing the archive")]
    UnsafePath {
        /// The archive.
        file: String,
        /// The entry's path as written in the archive.
        entry: String,
    },
    /// A symlink pointing outside the destination.
    #[error("{file}: symlink `{entry}` points to `{target}`, which resolves outside the unpack directory; refusing the archive")]
    UnsafeLink {
        /// The archive.
        file: String,
        /// The link.
        entry: String,
        /// Where it points.
        target: String,
    },
    /// A hard link to something that is not an earlier file of the archive.
    #[error("{file}: hard link `{entry}` names `{target}`, which is not a file earlier in the archive; refusing the archive")]
    UnsafeHardLink {
        /// The archive.
        file: String,
        /// The link.
        entry: String,
        /// What it names.
        target: String,
    },
    /// A device node, FIFO or other special entry.
    #[error("{file}: entry `{entry}` is a device or other special file; refusing the archive")]
    SpecialFile {
        /// The archive.
        file: String,
        /// The entry.
        entry: String,
    },
    /// More bytes or entries than [`Limits`] allow.
    #[error("{file} unpacks to more than {limit}; refusing it")]
    TooLarge {
        /// The archive.
        file: String,
        /// Which bound, in words.
        limit: String,
    },
    /// Writing the unpacked files failed.
    #[error("cannot write `{entry}` while unpacking {file}")]
    Write {
        /// The archive.
        file: String,
        /// The entry.
        entry: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The container formats we unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// tar compressed with gzip.
    TarGz,
    /// tar compressed with bzip2.
    TarBz2,
    /// tar compressed with xz.
    TarXz,
    /// plain tar.
    Tar,
    /// zip (also `.rock` files).
    Zip,
}

impl Kind {
    /// The kind by file name, as LuaRocks decides it (by extension).
    pub fn of(file_name: &str) -> Option<Kind> {
        let lower = file_name.to_ascii_lowercase();
        let ends = |s: &str| lower.ends_with(s);
        Some(if ends(".tar.gz") || ends(".tgz") {
            Kind::TarGz
        } else if ends(".tar.bz2") || ends(".tbz2") || ends(".tbz") {
            Kind::TarBz2
        } else if ends(".tar.xz") || ends(".txz") {
            Kind::TarXz
        } else if ends(".tar") {
            Kind::Tar
        } else if ends(".zip") || ends(".rock") {
            Kind::Zip
        } else {
            return None;
        })
    }
}

/// Unpacks `bytes` (named `file` for messages and for its kind) into `dest`.
pub fn unpack(bytes: &[u8], file: &str, dest: &Dir, limits: Limits) -> Result<(), ArchiveError> {
    unpack_reader(
        io::Cursor::new(bytes),
        bytes.len() as u64,
        file,
        dest,
        limits,
    )
}

/// Unpacks the archive `input` (`input_len` bytes, named `file` for
/// messages and for its kind) into `dest`, streaming.
pub fn unpack_reader<R: Read + Seek>(
    input: R,
    input_len: u64,
    file: &str,
    dest: &Dir,
    limits: Limits,
) -> Result<(), ArchiveError> {
    let kind = Kind::of(file).ok_or_else(|| ArchiveError::UnknownType {
        file: file.to_owned(),
    })?;
    let mut w = Writer {
        file,
        dest,
        limits,
        input_len,
        entries: 0,
        links: Vec::new(),
        produced: Default::default(),
    };
    let input = io::BufReader::new(input);
    match kind {
        Kind::TarGz => w.tar(w.bounded(flate2::bufread::GzDecoder::new(input))),
        Kind::TarBz2 => w.tar(w.bounded(bzip2::bufread::BzDecoder::new(input))),
        Kind::TarXz => w.tar(w.bounded(lzma_rust2::XzReader::new_mem_limit(
            input,
            true,
            limits.xz_memory_kib,
        ))),
        Kind::Tar => w.tar(w.bounded(input)),
        Kind::Zip => w.zip(input),
    }?;
    w.check_links()
}

/// A stream of unpacked bytes, counted against the bounds of the whole
/// unpack: every `Bounded` of one unpack (the decompressed tar stream, each
/// zip entry, each hard-link copy) adds to the same `produced` count. Past
/// a bound, reads fail with [`Exceeded`], which the writer turns into
/// [`ArchiveError::TooLarge`].
struct Bounded<R> {
    inner: R,
    produced: std::rc::Rc<std::cell::Cell<u64>>,
    total: u64,
    ratio_cap: Option<u64>,
    ratio_floor: u64,
    ratio: u64,
}

/// Which bound a [`Bounded`] stream hit.
#[derive(Debug)]
struct Exceeded(String);

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Exceeded {}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let out = self.produced.get() + n as u64;
        self.produced.set(out);
        if out > self.total {
            return Err(io::Error::other(Exceeded(format!(
                "{} MiB",
                self.total >> 20
            ))));
        }
        if let Some(cap) = self.ratio_cap {
            if out > self.ratio_floor && out > cap {
                return Err(io::Error::other(Exceeded(format!(
                    "{} times its own size ({cap} bytes; a decompression bomb?)",
                    self.ratio
                ))));
            }
        }
        Ok(n)
    }
}

struct Writer<'a> {
    file: &'a str,
    dest: &'a Dir,
    limits: Limits,
    input_len: u64,
    entries: u64,
    /// Symlinks written so far, in order: no later entry may pass through
    /// one, and each is resolved once the archive is out.
    links: Vec<PathBuf>,
    /// Bytes unpacked so far, shared by every [`Bounded`] of this unpack.
    produced: std::rc::Rc<std::cell::Cell<u64>>,
}

/// A checked relative path inside the destination.
fn safe_relative(entry: &str) -> Option<PathBuf> {
    if entry.contains('\0') || entry.starts_with('/') || entry.starts_with('\\') {
        return None;
    }
    let mut out = PathBuf::new();
    for component in Path::new(entry).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The longest symlink target read from a zip entry.
const PATH_MAX: u64 = 4096;

/// Most links followed while resolving one, as the kernel's `MAXSYMLINKS`.
const MAX_HOPS: u32 = 40;

/// Resolves `target`, read from a link in the directory `at` (components
/// from the root), through `dest` as the kernel would; `false` when any
/// step leaves the root, or the chain is too long (a loop).
fn resolves_inside(
    dest: &Dir,
    at: &mut Vec<std::ffi::OsString>,
    target: &Path,
    hops: &mut u32,
) -> bool {
    if target.as_os_str().is_empty() || target.is_absolute() {
        return false;
    }
    for component in target.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if at.pop().is_none() {
                    return false;
                }
            }
            Component::Normal(name) => {
                at.push(name.to_owned());
                let here: PathBuf = at.iter().collect();
                let Ok(meta) = dest.symlink_metadata(&here) else {
                    // Missing: the kernel stops here (ENOENT), inside.
                    continue;
                };
                if meta.is_symlink() {
                    *hops += 1;
                    if *hops > MAX_HOPS {
                        return false;
                    }
                    let Ok(next) = dest.read_link(&here) else {
                        return false;
                    };
                    at.pop();
                    if !resolves_inside(dest, at, &next, hops) {
                        return false;
                    }
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

impl Writer<'_> {
    fn corrupt(&self, source: io::Error) -> ArchiveError {
        ArchiveError::Corrupt {
            file: self.file.to_owned(),
            source,
        }
    }

    fn write_err(&self, entry: &Path) -> impl FnOnce(io::Error) -> ArchiveError {
        let file = self.file.to_owned();
        let entry = entry.display().to_string();
        move |source| ArchiveError::Write {
            file,
            entry,
            source,
        }
    }

    fn checked(&mut self, entry: &str) -> Result<Option<PathBuf>, ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.entries {
            return Err(ArchiveError::TooLarge {
                file: self.file.to_owned(),
                limit: format!("{} entries", self.limits.entries),
            });
        }
        let unsafe_path = || ArchiveError::UnsafePath {
            file: self.file.to_owned(),
            entry: entry.to_owned(),
        };
        let path = safe_relative(entry).ok_or_else(unsafe_path)?;
        if path
            .ancestors()
            .skip(1)
            .any(|a| self.links.iter().any(|l| l == a))
        {
            return Err(unsafe_path());
        }
        // `./` itself: nothing to create.
        Ok((!path.as_os_str().is_empty()).then_some(path))
    }

    fn mkdir(&self, path: &Path) -> Result<(), ArchiveError> {
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o755);
        self.dest
            .create_dir_with(path, &builder)
            .map_err(self.write_err(path))
    }

    fn parent(&self, path: &Path) -> Result<(), ArchiveError> {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => self.mkdir(p),
            _ => Ok(()),
        }
    }

    fn regular(
        &mut self,
        path: &Path,
        mut content: impl Read,
        executable: bool,
    ) -> Result<(), ArchiveError> {
        self.parent(path)?;
        // A later entry replaces an earlier one, as tar does; never write
        // through a symlink left by an earlier entry.
        if let Ok(meta) = self.dest.symlink_metadata(path) {
            if !meta.is_dir() {
                self.dest.remove_file(path).map_err(self.write_err(path))?;
            }
        }
        let mut options = OpenOptions::new();
        options
            .write(true)
            .create_new(true)
            .mode(if executable { 0o755 } else { 0o644 });
        let mut out = self
            .dest
            .open_with(path, &options)
            .map_err(self.write_err(path))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_err(e)),
            };
            out.write_all(&buf[..n]).map_err(self.write_err(path))?;
        }
        if executable {
            out.set_permissions(Permissions::from_mode(0o755))
                .map_err(self.write_err(path))?;
        }
        Ok(())
    }

    fn symlink(&mut self, path: &Path, target: &str) -> Result<(), ArchiveError> {
        if target.is_empty() || target.starts_with('/') || target.contains('\0') {
            return Err(ArchiveError::UnsafeLink {
                file: self.file.to_owned(),
                entry: path.display().to_string(),
                target: target.to_owned(),
            });
        }
        self.parent(path)?;
        if self.dest.symlink_metadata(path).is_ok() {
            self.dest.remove_file(path).map_err(self.write_err(path))?;
        }
        self.dest
            .symlink(target, path)
            .map_err(self.write_err(path))?;
        self.links.push(path.to_path_buf());
        Ok(())
    }

    /// Every link, resolved through the handle over the final tree.
    fn check_links(&self) -> Result<(), ArchiveError> {
        for link in &self.links {
            let Ok(target) = self.dest.read_link(link) else {
                continue; // replaced by a later entry
            };
            let mut at: Vec<std::ffi::OsString> = link
                .parent()
                .into_iter()
                .flat_map(Path::components)
                .map(|c| c.as_os_str().to_owned())
                .collect();
            if !resolves_inside(self.dest, &mut at, &target, &mut 0) {
                return Err(ArchiveError::UnsafeLink {
                    file: self.file.to_owned(),
                    entry: link.display().to_string(),
                    target: target.display().to_string(),
                });
            }
        }
        Ok(())
    }

    fn bounded<R: Read>(&self, inner: R) -> Bounded<R> {
        Bounded {
            inner,
            produced: std::rc::Rc::clone(&self.produced),
            total: self.limits.total_bytes,
            ratio_cap: self.input_len.checked_mul(self.limits.max_ratio),
            ratio_floor: self.limits.ratio_floor,
            ratio: self.limits.max_ratio,
        }
    }

    /// A read error: a bound that was hit, or a corrupt stream.
    fn read_err(&self, e: io::Error) -> ArchiveError {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Exceeded>())
        {
            Some(Exceeded(limit)) => ArchiveError::TooLarge {
                file: self.file.to_owned(),
                limit: limit.clone(),
            },
            None => self.corrupt(e),
        }
    }

    fn tar(&mut self, reader: impl Read) -> Result<(), ArchiveError> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| self.read_err(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.read_err(e))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                continue;
            }
            let Some(path) = self.checked(&raw)? else {
                continue;
            };
            match kind {
                tar::EntryType::Directory => self.mkdir(&path)?,
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mode = entry.header().mode().map_err(|e| self.corrupt(e))?;
                    self.regular(&path, &mut entry, mode & 0o111 != 0)?;
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    self.symlink(&path, &target)?;
                }
                tar::EntryType::Link => {
                    // A hard link to an earlier file: copy its bytes.
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let refused = || ArchiveError::UnsafeHardLink {
                        file: self.file.to_owned(),
                        entry: raw.clone(),
                        target: target.clone(),
                    };
                    let source = safe_relative(&target)
                        .filter(|s| !s.as_os_str().is_empty())
                        .ok_or_else(refused)?;
                    // Never through a link, never anything but a file.
                    let is_file = self
                        .dest
                        .symlink_metadata(&source)
                        .is_ok_and(|m| m.is_file())
                        && !source
                            .ancestors()
                            .skip(1)
                            .any(|a| self.links.iter().any(|l| l == a));
                    if !is_file {
                        return Err(refused());
                    }
                    let original = self.dest.open(&source).map_err(|_| refused())?;
                    let executable = {
                        use cap_std::fs::PermissionsExt as _;
                        original
                            .metadata()
                            .is_ok_and(|m| m.permissions().mode() & 0o100 != 0)
                    };
                    // Counted with the rest: a thousand links to one big
                    // file are a thousand copies.
                    let counted = self.bounded(original);
                    self.regular(&path, counted, executable)?;
                }
                tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {}
                _ => {
                    return Err(ArchiveError::SpecialFile {
                        file: self.file.to_owned(),
                        entry: raw,
                    })
                }
            }
        }
        Ok(())
    }

    fn zip<R: Read + Seek>(&mut self, input: R) -> Result<(), ArchiveError> {
        let mut archive =
            zip::ZipArchive::new(input).map_err(|e| self.corrupt(io::Error::other(e)))?;
        for i in 0..archive.len() {
            let mut entry = archive
                .by_index(i)
                .map_err(|e| self.corrupt(io::Error::other(e)))?;
            let raw = entry.name().to_owned();
            let Some(path) = self.checked(&raw)? else {
                continue;
            };
            let mode = entry.unix_mode().unwrap_or(0o644);
            if entry.is_dir() {
                self.mkdir(&path)?;
            } else if entry.is_symlink() {
                let mut target = String::new();
                (&mut entry)
                    .take(PATH_MAX)
                    .read_to_string(&mut target)
                    .map_err(|e| self.corrupt(e))?;
                self.symlink(&path, &target)?;
            } else if mode & 0o170000 != 0 && mode & 0o170000 != 0o100000 {
                return Err(ArchiveError::SpecialFile {
                    file: self.file.to_owned(),
                    entry: raw,
                });
            } else {
                let counted = self.bounded(&mut entry);
                self.regular(&path, counted, mode & 0o111 != 0)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_are_refused() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "a/\0b"] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
        assert_eq!(safe_relative("./a/./b"), Some(PathBuf::from("a/b")));
    }

    #[test]
    fn hard_link_copies_count_towards_the_total() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1 << 20);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "big", &vec![0u8; 1 << 20][..])
            .expect("file");
        for i in 0..20 {
            let mut link = tar::Header::new_gnu();
            link.set_entry_type(tar::EntryType::Link);
            link.set_size(0);
            tar.append_link(&mut link, format!("copy{i}"), "big")
                .expect("link");
        }
        let bytes = tar.into_inner().expect("tar");
        let dest = tempfile::tempdir().expect("tmp");
        let dir = Dir::open_ambient_dir(dest.path(), cap_std::ambient_authority()).expect("dir");
        let limits = Limits {
            total_bytes: 8 << 20,
            max_ratio: u64::MAX / (64 << 20),
            ..Limits::DEFAULT
        };
        let err = unpack(&bytes, "links.tar", &dir, limits).expect_err("21 MiB out of 8");
        assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn kinds_by_extension() {
        assert_eq!(Kind::of("x-1.0.tar.gz"), Some(Kind::TarGz));
        assert_eq!(Kind::of("x.TGZ"), Some(Kind::TarGz));
        assert_eq!(Kind::of("x.tar.bz2"), Some(Kind::TarBz2));
        assert_eq!(Kind::of("x.tar.xz"), Some(Kind::TarXz));
        assert_eq!(Kind::of("x-1.0-1.src.rock"), Some(Kind::Zip));
        assert_eq!(Kind::of("x.lua"), None);
    }
}
