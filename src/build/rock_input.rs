//! Builds whose input is a rock file: a `.src.rock` (its rockspec and
//! sources in one zip) or a binary rock (unpacked straight into staging).

use std::io::Read;
use std::path::Path;

use super::{
    read_small, recipe, rock_file, rock_manifest, write, BuildError, Builder, Built, Origin,
    Planned, RockspecInput, Sources,
};
use crate::archive::{self, ArchiveError};
use crate::rock_id::RockId;
use crate::rockspec::Rockspec;
use crate::store::content_hash::RecipeKey;
use crate::store::db::ItemKind;
use crate::store::{Item, ItemSpec};

impl Builder<'_> {
    /// The rockspec inside a rock file (read from the zip, nothing unpacked).
    pub fn rockspec_in_rock(&self, file: &str, bytes: &[u8]) -> Result<Rockspec, BuildError> {
        let (rockspec_name, text) = rockspec_bytes_in_rock(file, bytes)?;
        self.load(&RockspecInput {
            display: format!("{file}!{rockspec_name}"),
            file_name: Some(rockspec_name),
            bytes: text,
            sources: Sources::Fetch,
            dependency_items: Vec::new(),
            origin: Origin::Server(file.to_owned()),
        })
    }

    /// The item an existing realisation gives for a `.src.rock` built with
    /// these dependency items, without unpacking it.
    pub fn realised_src_rock(
        &self,
        file: &str,
        bytes: &[u8],
        dependency_items: Vec<String>,
    ) -> Result<Option<Item>, BuildError> {
        self.realised(&src_rock_input(file, bytes, dependency_items)?)
    }

    /// A `.src.rock`'s recipe key and rock, read from the rockspec it
    /// carries (nothing is unpacked).
    pub fn recipe_of_src_rock(
        &self,
        file: &str,
        bytes: &[u8],
        dependency_items: Vec<String>,
    ) -> Result<(RecipeKey, RockId), BuildError> {
        self.recipe(&src_rock_input(file, bytes, dependency_items)?)
    }

    /// What building a `.src.rock` would do: reuse, substitute or build.
    pub fn planned_src_rock(
        &self,
        file: &str,
        bytes: &[u8],
        dependency_items: Vec<String>,
    ) -> Result<Planned, BuildError> {
        self.planned(&src_rock_input(file, bytes, dependency_items)?)
    }

    /// Builds a `.src.rock` (its rockspec, with the sources it carries)
    /// with the items of resolved dependencies.
    pub fn build_src_rock_with(
        &self,
        file: &str,
        bytes: &[u8],
        dependency_items: Vec<String>,
    ) -> Result<Built, BuildError> {
        // A realisation here or in a substituter needs nothing unpacked.
        if self.substituters.is_some() {
            let prepared = self.prepare(&src_rock_input(file, bytes, dependency_items.clone())?)?;
            let _recipe_lock = self.store.lock_recipe(&prepared.key)?;
            if let Some(built) = self.reuse_or_substitute(&prepared)? {
                return Ok(built);
            }
        }
        let work = self.store.build_dir()?;
        archive::unpack(bytes, file, work.dir(), archive::Limits::DEFAULT)?;
        let name = rock_file::RockFileName::parse(file).ok_or_else(|| BuildError::RockFile {
            file: file.to_owned(),
            problem: "not named <name>-<version>-<revision>.src.rock".to_owned(),
        })?;
        let rockspec_name = format!("{}-{}.rockspec", name.name, name.version);
        let rockspec_bytes =
            read_small(work.dir(), &rockspec_name).map_err(|_| BuildError::RockFile {
                file: file.to_owned(),
                problem: format!("it holds no {rockspec_name}"),
            })?;
        self.build(&RockspecInput {
            display: format!("{file}!{rockspec_name}"),
            file_name: Some(rockspec_name),
            bytes: rockspec_bytes,
            sources: Sources::SrcRock {
                dir: work.path(),
                hash: blake3::hash(bytes).to_hex().to_string(),
            },
            dependency_items,
            // The sources are the rock's own files.
            origin: Origin::Server(file.to_owned()),
        })
    }

    /// Admits a binary (`.<arch>.rock`) or pure-Lua (`.all.rock`) rock
    /// without building: its contents are the item.
    pub fn install_binary_rock(&self, file: &str, bytes: &[u8]) -> Result<Built, BuildError> {
        let name = rock_file::RockFileName::parse(file).ok_or_else(|| BuildError::RockFile {
            file: file.to_owned(),
            problem: "not named <name>-<version>-<revision>.<arch>.rock".to_owned(),
        })?;
        if name.arch != "all" && name.arch != self.env.arch {
            return Err(BuildError::RockFile {
                file: file.to_owned(),
                problem: format!(
                    "Incompatible architecture {}: this machine is {}",
                    name.arch, self.env.arch
                ),
            });
        }
        let key = recipe::binary_rock_key(bytes, &self.env.lua.version);
        let _lock = self.store.lock_recipe(&key)?;
        if let Some(item) = self.store.realisation(&key)? {
            return Ok(Built {
                item,
                reused: true,
                substituted: None,
            });
        }
        let staging = self.store.stage()?;
        self.doing("unpacking");
        archive::unpack(bytes, file, staging.dir(), archive::Limits::DEFAULT)?;
        let rockspec_name = format!("{}-{}.rockspec", name.name, name.version);
        let rockspec_bytes =
            read_small(staging.dir(), &rockspec_name).map_err(|_| BuildError::RockFile {
                file: file.to_owned(),
                problem: format!("it holds no {rockspec_name}"),
            })?;
        // The rockspec inside must load and agree with the file name.
        let rockspec = self.load(&RockspecInput {
            display: format!("{file}!{rockspec_name}"),
            file_name: Some(rockspec_name),
            bytes: rockspec_bytes,
            sources: Sources::Fetch,
            dependency_items: Vec::new(),
            origin: Origin::Server(file.to_owned()),
        })?;
        if staging.dir().symlink_metadata("rock_manifest").is_err() {
            let manifest =
                rock_manifest::generate(&staging.path()).map_err(|source| BuildError::Io {
                    path: staging.path(),
                    source,
                })?;
            write(
                staging.dir(),
                &staging.path(),
                "rock_manifest",
                manifest.as_bytes(),
            )?;
        }
        let item = self.store.admit(
            staging,
            &ItemSpec {
                name: rockspec.name,
                version: rockspec.version.to_string(),
                kind: ItemKind::Rock,
                references: Vec::new(),
                recipe_key: Some(key),
            },
        )?;
        Ok(Built {
            item,
            reused: false,
            substituted: None,
        })
    }
}

/// The rockspec's file name and bytes inside a rock file (read from the
/// zip, nothing unpacked).
pub fn rockspec_bytes_in_rock(file: &str, bytes: &[u8]) -> Result<(String, Vec<u8>), BuildError> {
    let name = rock_file::RockFileName::parse(file).ok_or_else(|| BuildError::RockFile {
        file: file.to_owned(),
        problem: "not named <name>-<version>-<revision>.<arch>.rock".to_owned(),
    })?;
    let rockspec_name = format!("{}-{}.rockspec", name.name, name.version);
    let missing = || BuildError::RockFile {
        file: file.to_owned(),
        problem: format!("it holds no {rockspec_name}"),
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        BuildError::Archive(ArchiveError::Corrupt {
            file: file.to_owned(),
            source: std::io::Error::other(e),
        })
    })?;
    let mut entry = archive.by_name(&rockspec_name).map_err(|_| missing())?;
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut (&mut entry).take(4 << 20), &mut text)
        .map_err(|_| missing())?;
    Ok((rockspec_name, text))
}

/// A `.src.rock`'s rockspec as a build input whose sources are the rock's
/// bytes (by hash; nothing is unpacked, so it serves keys, not builds).
fn src_rock_input(
    file: &str,
    bytes: &[u8],
    dependency_items: Vec<String>,
) -> Result<RockspecInput<'static>, BuildError> {
    let (rockspec_name, text) = rockspec_bytes_in_rock(file, bytes)?;
    Ok(RockspecInput {
        display: format!("{file}!{rockspec_name}"),
        file_name: Some(rockspec_name),
        bytes: text,
        sources: Sources::SrcRock {
            dir: Path::new(""),
            hash: blake3::hash(bytes).to_hex().to_string(),
        },
        dependency_items,
        origin: Origin::Server(file.to_owned()),
    })
}
