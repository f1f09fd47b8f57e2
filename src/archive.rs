//! Unpacking source archives and rock files (`.tar.gz`, `.tgz`, `.tar.bz2`,
//! `.tar.xz`, `.tar`, `.zip`, `.rock`) written by strangers. Every entry is
//! written through a `cap-std` handle on the destination, and checked before
//! that: no absolute paths, no `..`, no symlink whose target leaves the
//! destination, no devices, and bounded sizes. A refused archive leaves a
//! partly filled destination, which the caller (a build's temporary
//! directory) throws away.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use cap_std::fs::{Dir, DirBuilder, OpenOptions, Permissions};
use cap_std::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Bounds on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes of all files.
    pub total_bytes: u64,
    /// Number of entries.
    pub entries: u64,
}

impl Limits {
    /// Generous for any real rock (the largest sources on luarocks.org are
    /// tens of MB), small enough that a bomb is refused before the disk fills.
    pub const DEFAULT: Limits = Limits {
        total_bytes: 2 << 30,
        entries: 200_000,
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
    #[error("{file}: symlink `{entry}` points to `{target}`, outside the unpack directory; refusing the archive")]
    UnsafeLink {
        /// The archive.
        file: String,
        /// The link.
        entry: String,
        /// Where it points.
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
    let kind = Kind::of(file).ok_or_else(|| ArchiveError::UnknownType {
        file: file.to_owned(),
    })?;
    let mut w = Writer {
        file,
        dest,
        limits,
        bytes: 0,
        entries: 0,
        links: HashSet::new(),
    };
    match kind {
        Kind::TarGz => w.tar(flate2::read::GzDecoder::new(bytes)),
        Kind::TarBz2 => w.tar(bzip2::read::BzDecoder::new(bytes)),
        Kind::TarXz => {
            let mut out = Vec::new();
            lzma_rs::xz_decompress(&mut io::BufReader::new(bytes), &mut out)
                .map_err(|e| w.corrupt(io::Error::other(e.to_string())))?;
            w.tar(out.as_slice())
        }
        Kind::Tar => w.tar(bytes),
        Kind::Zip => w.zip(bytes),
    }
}

struct Writer<'a> {
    file: &'a str,
    dest: &'a Dir,
    limits: Limits,
    bytes: u64,
    entries: u64,
    /// Symlinks written so far: no later entry may pass through one, since
    /// the lexical check of a link's target assumes real directories.
    links: HashSet<PathBuf>,
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

/// Whether a symlink at `link` (relative to the root) with `target` stays
/// inside the root, judged lexically as the kernel would resolve it from
/// the link's directory (any intermediate link was itself checked).
fn link_stays_inside(link: &Path, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || target.contains('\0') {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for component in Path::new(target).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
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
        if path.ancestors().skip(1).any(|a| self.links.contains(a)) {
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
                Err(e) => return Err(self.corrupt(e)),
            };
            self.bytes += n as u64;
            if self.bytes > self.limits.total_bytes {
                return Err(ArchiveError::TooLarge {
                    file: self.file.to_owned(),
                    limit: format!("{} MiB", self.limits.total_bytes >> 20),
                });
            }
            out.write_all(&buf[..n]).map_err(self.write_err(path))?;
        }
        if executable {
            out.set_permissions(Permissions::from_mode(0o755))
                .map_err(self.write_err(path))?;
        }
        Ok(())
    }

    fn symlink(&mut self, path: &Path, target: &str) -> Result<(), ArchiveError> {
        if !link_stays_inside(path, target) {
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
        self.links.insert(path.to_path_buf());
        Ok(())
    }

    fn tar(&mut self, reader: impl Read) -> Result<(), ArchiveError> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| self.corrupt(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.corrupt(e))?;
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
                    // A hard link to an earlier entry: copy its bytes.
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let source =
                        safe_relative(&target).ok_or_else(|| ArchiveError::UnsafeLink {
                            file: self.file.to_owned(),
                            entry: raw.clone(),
                            target: target.clone(),
                        })?;
                    let bytes = self.dest.read(&source).map_err(self.write_err(&source))?;
                    self.regular(&path, bytes.as_slice(), false)?;
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

    fn zip(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes))
            .map_err(|e| self.corrupt(io::Error::other(e)))?;
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
                entry
                    .read_to_string(&mut target)
                    .map_err(|e| self.corrupt(e))?;
                self.symlink(&path, &target)?;
            } else if mode & 0o170000 != 0 && mode & 0o170000 != 0o100000 {
                return Err(ArchiveError::SpecialFile {
                    file: self.file.to_owned(),
                    entry: raw,
                });
            } else {
                self.regular(&path, &mut entry, mode & 0o111 != 0)?;
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
        assert!(link_stays_inside(Path::new("a/b"), "../c"));
        assert!(link_stays_inside(Path::new("a/b"), "c/../../d"));
        assert!(!link_stays_inside(Path::new("a/b"), "../../c"));
        assert!(!link_stays_inside(Path::new("a"), "/etc"));
        assert!(!link_stays_inside(Path::new("a"), ".."));
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
