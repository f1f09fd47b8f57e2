//! `unpack`: a rock, `.src.rock` or rockspec laid out in `<name>-<version>/`
//! as `luarocks unpack` lays it out. A binary rock's files; a `.src.rock`'s
//! rockspec and archive with the archive unpacked beside them; a
//! rockspec's source downloaded there first. The rockspec is copied into
//! the source directory, ready for `make`. Every path comes from a
//! stranger's archive, so everything is written through the directory's
//! handle ([`crate::archive`]).

use std::path::{Path, PathBuf};

use crate::archive::{self, ArchiveError};
use crate::rel_path::{RelPath, RelPathError};
use crate::rock_file::RockFileName;
use crate::rockspec::{LoadOptions, Platforms, Rockspec, RockspecError};

/// Why a rock could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The directory exists and `--force` was not given.
    #[error("Directory {} already exists (--force unpacks into it)", .0.display())]
    Exists(PathBuf),
    /// Not named as a rock.
    #[error("{0}: not a <name>-<version>-<rev>.<arch>.rock file")]
    NotARock(String),
    /// A rockspec whose source is fetched with a version-control tool.
    #[error("{file}: unpacking a {protocol} source is not supported; clone {url} yourself")]
    Protocol {
        /// The rockspec.
        file: String,
        /// `git+https`, …
        protocol: String,
        /// Its URL.
        url: String,
    },
    /// The source could not be downloaded.
    #[error("cannot download {url}: {why}")]
    Fetch {
        /// What.
        url: String,
        /// Why.
        why: String,
    },
    /// Reading or writing the directory failed.
    #[error("cannot unpack into {}", .path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The archive is broken or hostile.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The rockspec is.
    #[error(transparent)]
    Rockspec(#[from] RockspecError),
    /// A path the rockspec names is.
    #[error(transparent)]
    Path(#[from] RelPathError),
}

/// What was unpacked.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// `<name>-<version>/`.
    pub dir: PathBuf,
    /// For a rockspec or `.src.rock`: the source directory inside it
    /// (`source.dir`), where `make` runs.
    pub source_dir: Option<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn load(file: &str, bytes: &[u8]) -> Result<Rockspec, UnpackError> {
    Ok(Rockspec::from_bytes(
        file,
        Some(file),
        bytes,
        &LoadOptions {
            platforms: Platforms::host(),
        },
    )?)
}

/// Unpacks `bytes` (the file named `file`) into `parent/<name>-<version>`;
/// with `force` over an existing one, it is unpacked beside it and moved
/// in (each file replacing its namesake), so a bad archive leaves it as
/// it was. `fetch` downloads a rockspec's source.
pub fn unpack(
    file: &str,
    bytes: &[u8],
    parent: &Path,
    force: bool,
    fetch: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Unpacked, UnpackError> {
    let is_rockspec = file.ends_with(".rockspec");
    let (name, version) = if is_rockspec {
        let rockspec = load(file, bytes)?;
        (rockspec.name, rockspec.version.to_string())
    } else {
        let parsed =
            RockFileName::parse(file).ok_or_else(|| UnpackError::NotARock(file.to_owned()))?;
        (parsed.name, parsed.version)
    };
    let out = parent.join(format!("{name}-{version}"));
    let staging = if out.exists() {
        if !force {
            return Err(UnpackError::Exists(out));
        }
        parent.join(format!(
            ".{name}-{version}.unpacking-{}",
            std::process::id()
        ))
    } else {
        out.clone()
    };
    std::fs::create_dir(&staging).map_err(io(&staging))?;
    let done = unpack_into(file, bytes, &staging, &name, &version, fetch)
        .and_then(|source_dir| merge(&staging, &out).map(|()| source_dir));
    if done.is_err() && staging != out {
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(Unpacked {
        dir: out,
        source_dir: done?,
    })
}

fn unpack_into(
    file: &str,
    bytes: &[u8],
    staging: &Path,
    name: &str,
    version: &str,
    fetch: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Option<String>, UnpackError> {
    let dir = cap_std::fs::Dir::open_ambient_dir(staging, cap_std::ambient_authority())
        .map_err(io(staging))?;
    let limits = archive::Limits::DEFAULT;
    if !file.ends_with(".rockspec") {
        archive::unpack(bytes, file, &dir, limits)?;
    }
    if !(file.ends_with(".src.rock") || file.ends_with(".rockspec")) {
        return Ok(None);
    }
    let spec_name = format!("{name}-{version}.rockspec");
    let spec = if file.ends_with(".rockspec") {
        bytes.to_vec()
    } else {
        dir.read(&spec_name)
            .map_err(io(&staging.join(&spec_name)))?
    };
    let rockspec = load(&spec_name, &spec)?;
    if !crate::rockspec::source::is_basic_protocol(&rockspec.source.protocol)
        && file.ends_with(".rockspec")
    {
        return Err(UnpackError::Protocol {
            file: spec_name,
            protocol: rockspec.source.protocol.clone(),
            url: rockspec.source.url.clone(),
        });
    }
    let source_file = rockspec
        .source
        .file
        .clone()
        .unwrap_or_else(|| crate::rockspec::source::base_name(&rockspec.source.url).to_owned());
    let rel = RelPath::parse(&source_file)?;
    let source = match dir.read(rel.as_path()) {
        Ok(b) => b,
        Err(_) => {
            let url = crate::build::source::source_url(&rockspec.source);
            let fetched = fetch(&url).map_err(|why| UnpackError::Fetch {
                url: url.clone(),
                why,
            })?;
            write_as_local(&dir, rel.as_path(), &fetched, &url)
                .map_err(io(&staging.join(rel.as_path())))?;
            fetched
        }
    };
    if archive::Kind::of(&source_file).is_some() {
        archive::unpack(&source, &source_file, &dir, limits)?;
    }
    let source_dir = rockspec.source.dir.clone();
    if source_dir != "." && !source_dir.is_empty() {
        let sub = RelPath::parse(&source_dir)?;
        dir.write(sub.as_path().join(&spec_name), &spec)
            .map_err(io(&staging.join(sub.as_path())))?;
    }
    Ok(Some(source_dir))
}

/// Writes a fetched source file: one from a local file (`file://` or a
/// path) keeps the mode bits it had, never more readable, and is private
/// while it is written.
fn write_as_local(
    dir: &cap_std::fs::Dir,
    rel: &Path,
    bytes: &[u8],
    url: &str,
) -> std::io::Result<()> {
    use cap_std::fs::{OpenOptionsExt as _, PermissionsExt as _};
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let mode = match crate::fetch::local_path(url) {
        Some(path) => std::fs::metadata(path)?.permissions().mode() & 0o777,
        None => 0o644,
    };
    let mut out = dir.open_with(
        rel,
        cap_std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600),
    )?;
    out.write_all(bytes)?;
    out.set_permissions(cap_std::fs::Permissions::from_mode(mode))
}

/// Moves what was unpacked beside `out` into it: each file replaces its
/// namesake, directories merge, the rest of `out` stays.
fn merge(staging: &Path, out: &Path) -> Result<(), UnpackError> {
    if staging == out {
        return Ok(());
    }
    fn walk(from: &Path, to: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            let is_dir = entry.file_type()?.is_dir();
            if is_dir && target.is_dir() && !target.is_symlink() {
                walk(&entry.path(), &target)?;
            } else {
                if target.is_dir() && !target.is_symlink() {
                    std::fs::remove_dir_all(&target)?;
                }
                std::fs::rename(entry.path(), &target)?;
            }
        }
        std::fs::remove_dir_all(from)
    }
    walk(staging, out).map_err(io(out))
}
