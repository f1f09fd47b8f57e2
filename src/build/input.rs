//! What a rock is built from: a fetched rockspec, `.src.rock` or binary
//! rock, or a working directory (`make`), and how each is built (or found
//! already built) in this process. Which process builds — this one, or the
//! store's daemon — is the store backend's choice (`backend`), not this
//! module's.

use std::path::PathBuf;

use super::{BuildError, Builder, Built, Origin, RockspecInput, Sources};
use crate::rock_id::RockId;
use crate::rockspec::Rockspec;
use crate::store::content_hash::{ContentHash, RecipeKey};
use crate::store::Item;

/// A fetched rock file or rockspec, or a working directory.
pub enum Source {
    /// A rockspec to build.
    Rockspec {
        /// File name.
        file: String,
        /// Bytes.
        bytes: Vec<u8>,
        /// Where it came from.
        origin: Origin,
    },
    /// A `.src.rock` to build.
    SrcRock {
        /// File name.
        file: String,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// A binary or `.all.rock` to admit.
    BinaryRock {
        /// File name.
        file: String,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// A rockspec with a working directory as its sources.
    Local {
        /// File name.
        file: String,
        /// Bytes.
        bytes: Vec<u8>,
        /// The sources.
        dir: PathBuf,
        /// The content hash of the sources' tree ([`super::source::tree_hash`]).
        hash: ContentHash,
    },
}

impl Source {
    /// The rockspec: loaded from the file, or read from inside the rock.
    pub fn rockspec(&self, builder: &Builder<'_>) -> Result<Rockspec, BuildError> {
        match self {
            Source::Rockspec { file, bytes, .. } | Source::Local { file, bytes, .. } => builder
                .load(&RockspecInput {
                    display: file.clone(),
                    file_name: Some(file.clone()),
                    bytes: bytes.clone(),
                    sources: Sources::Fetch,
                    dependency_items: Vec::new(),
                    origin: Origin::User,
                }),
            Source::SrcRock { file, bytes } | Source::BinaryRock { file, bytes } => {
                builder.rockspec_in_rock(file, bytes)
            }
        }
    }

    /// The rockspec build input of a rockspec or `make` source (none for a
    /// rock file).
    fn rockspec_input(&self, dependency_items: Vec<String>) -> Option<RockspecInput<'_>> {
        match self {
            Source::Rockspec {
                file,
                bytes,
                origin,
            } => Some(RockspecInput {
                display: file.clone(),
                file_name: Some(file.clone()),
                bytes: bytes.clone(),
                sources: Sources::Fetch,
                dependency_items,
                origin: origin.clone(),
            }),
            Source::Local {
                file,
                bytes,
                dir,
                hash,
            } => Some(RockspecInput {
                display: dir.join(file).display().to_string(),
                file_name: Some(file.clone()),
                bytes: bytes.clone(),
                sources: Sources::Local { dir, hash: *hash },
                dependency_items,
                origin: Origin::User,
            }),
            Source::SrcRock { .. } | Source::BinaryRock { .. } => None,
        }
    }

    /// Builds (or reuses) the item in this process, into `builder`'s store.
    pub fn build_here(
        &self,
        builder: &Builder<'_>,
        dependency_items: Vec<String>,
    ) -> Result<Built, BuildError> {
        match self {
            Source::SrcRock { file, bytes } => {
                builder.build_src_rock_with(file, bytes, dependency_items)
            }
            Source::BinaryRock { file, bytes } => builder.install_binary_rock(file, bytes),
            Source::Rockspec { .. } | Source::Local { .. } => {
                let input = self.rockspec_input(dependency_items);
                builder.build(input.as_ref().ok_or(BuildError::NotARockspec)?)
            }
        }
    }

    /// The item an existing realisation would give, without fetching or
    /// building (`--dry-run`'s "reuse").
    pub fn realised(
        &self,
        builder: &Builder<'_>,
        dependency_items: Vec<String>,
    ) -> Result<Option<Item>, BuildError> {
        match self {
            Source::SrcRock { file, bytes } => {
                builder.realised_src_rock(file, bytes, dependency_items)
            }
            Source::BinaryRock { bytes, .. } => builder.realised_binary_rock(bytes),
            Source::Rockspec { .. } | Source::Local { .. } => {
                let input = self.rockspec_input(dependency_items);
                builder.realised(input.as_ref().ok_or(BuildError::NotARockspec)?)
            }
        }
    }

    /// Its recipe key and rock, for a rockspec or `make` source (a rock
    /// file has none worth substituting).
    pub fn recipe(
        &self,
        builder: &Builder<'_>,
        dependency_items: Vec<String>,
    ) -> Result<Option<(RecipeKey, RockId)>, BuildError> {
        if let Source::SrcRock { file, bytes } = self {
            return builder
                .recipe_of_src_rock(file, bytes, dependency_items)
                .map(Some);
        }
        match self.rockspec_input(dependency_items) {
            Some(input) => builder.recipe(&input).map(Some),
            None => Ok(None),
        }
    }

    /// What building it would do: reuse, substitute or build (a rock file
    /// is reused when realised, else built).
    pub fn planned(
        &self,
        builder: &Builder<'_>,
        dependency_items: Vec<String>,
    ) -> Result<super::Planned, BuildError> {
        match self {
            Source::Rockspec { .. } | Source::Local { .. } => {
                let input = self.rockspec_input(dependency_items);
                builder.planned(input.as_ref().ok_or(BuildError::NotARockspec)?)
            }
            Source::SrcRock { file, bytes } => {
                builder.planned_src_rock(file, bytes, dependency_items)
            }
            Source::BinaryRock { .. } => Ok(match self.realised(builder, dependency_items)? {
                Some(item) => super::Planned::Reuse(item),
                None => super::Planned::Build(RecipeKey([0; 32])),
            }),
        }
    }

    /// The file it was fetched as (or the rockspec's, for `make`).
    pub fn file(&self) -> &str {
        match self {
            Source::Rockspec { file, .. }
            | Source::SrcRock { file, .. }
            | Source::BinaryRock { file, .. }
            | Source::Local { file, .. } => file,
        }
    }
}
