//! Packing for `pack` and `upload`: a rockspec with its downloaded source
//! file as a `.src.rock` (LuaRocks' `pack.pack_source_rock`), and which
//! installed rock `pack NAME [VERSION]` means. A store item as a binary
//! rock is [`crate::rock_file::pack`]'s.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::build::source::source_url;
use crate::fetch::FetchError;
use crate::rockspec::{RockspecError, Version};
use crate::tree::profile::Profile;

use super::session::{file_name, load_rockspec, Session};

/// Why no `.src.rock` was written.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The rockspec's source is not a file that can be put in the rock
    /// (a git or other VCS source).
    #[error("only rockspecs with http, https or file sources can be packed as .src.rock")]
    NoSourceFile,
    /// The rockspec or its source could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The rockspec does not load.
    #[error(transparent)]
    Rockspec(#[from] RockspecError),
    /// The rock could not be written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The rock's zip could not be written.
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
}

/// Writes `<name>-<version>.src.rock` into `out_dir`: the rockspec at
/// `rockspec_path` (a path or URL) and its downloaded source file; its
/// path.
pub fn source_rock(
    session: &Session,
    rockspec_path: &str,
    out_dir: &Path,
) -> Result<PathBuf, PackError> {
    let bytes = session.fetch(rockspec_path)?;
    let rockspec = load_rockspec(rockspec_path, &bytes)?;
    let source_file = rockspec
        .source
        .file
        .clone()
        .ok_or(PackError::NoSourceFile)?;
    let source = session.fetch(&source_url(&rockspec.source))?;
    let out = out_dir.join(format!("{}-{}.src.rock", rockspec.name, rockspec.version));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&out)?);
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file(file_name(rockspec_path), options)?;
    zip.write_all(&bytes)?;
    zip.start_file(&source_file, options)?;
    zip.write_all(&source)?;
    zip.finish()?;
    Ok(out)
}

/// The item of rock `name` (at `version`, else the newest) in `profile`,
/// as `luarocks pack NAME [VERSION]` finds an installed rock: a version
/// without a revision matches every revision.
pub fn installed_item(profile: &Profile, name: &str, version: Option<&str>) -> Option<String> {
    profile
        .rocks
        .iter()
        .filter(|r| r.name == name)
        .filter(|r| {
            version.is_none_or(|v| r.version == v || r.version.starts_with(&format!("{v}-")))
        })
        .max_by(|a, b| Version::parse(&a.version).sort_order(&Version::parse(&b.version)))
        .map(|r| r.item.clone())
}
