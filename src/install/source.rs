//! What a planned rock is built from: a fetched rockspec, `.src.rock` or
//! binary rock, or a working directory (`make`), and how each becomes (or
//! already is) a store item.

use std::path::PathBuf;

use crate::build::{BuildError, Builder, Built, Origin, RockspecInput, Sources};
use crate::rockspec::Rockspec;
use crate::store::Item;

/// A fetched rock file or rockspec.
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
        /// Their content hash.
        hash: String,
    },
}

impl Source {
    pub(crate) fn rockspec(&self, builder: &Builder<'_>) -> Result<Rockspec, BuildError> {
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

    /// Builds (or reuses) the item: in this process, or on a daemon store
    /// in the daemon, which fetches, builds and admits it itself.
    pub fn build(
        &self,
        builder: &Builder<'_>,
        dependency_items: Vec<String>,
    ) -> Result<Built, BuildError> {
        let Some(socket) = builder.store.daemon_socket() else {
            return self.build_here(builder, dependency_items);
        };
        let daemon = |e| BuildError::Store(crate::store::StoreError::Daemon(Box::new(e)));
        let (name, reused) = crate::daemon::client::build(
            socket,
            self,
            builder.env,
            dependency_items,
            builder.watch,
        )
        .map_err(daemon)?;
        let parsed = crate::store::item_name::ItemName::parse(&name)
            .map_err(|e| BuildError::Store(e.into()))?;
        let item = builder.store.get(&parsed)?.ok_or_else(|| {
            daemon(crate::daemon::client::DaemonError::Failed(format!(
                "the daemon answered {name}, which the store does not hold"
            )))
        })?;
        Ok(Built { item, reused })
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
                sources: Sources::Local {
                    dir,
                    hash: hash.clone(),
                },
                dependency_items,
                origin: Origin::User,
            }),
            Source::SrcRock { .. } | Source::BinaryRock { .. } => None,
        }
    }

    /// Builds in this process.
    pub(crate) fn build_here(
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
                builder.build(input.as_ref().ok_or_else(unreachable_kind)?)
            }
        }
    }
}

impl Source {
    /// The item an existing realisation would give, without fetching or
    /// building (`--dry-run`'s "reuse").
    pub(crate) fn realised(
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
                builder.realised(input.as_ref().ok_or_else(unreachable_kind)?)
            }
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

/// The error for a kind `rockspec_input` covers: never produced.
fn unreachable_kind() -> BuildError {
    BuildError::Rockspec("a rock file has no rockspec build input".to_owned())
}

/// The item `name` without its top-level `doc/` and `docs/` (LuaRocks'
/// `--no-doc` deletes them from the installed rock): a new item, since
/// items never change. The same item when it has neither.
pub(crate) fn without_docs(store: &crate::store::Store, name: &str) -> Result<String, BuildError> {
    let parsed =
        crate::store::item_name::ItemName::parse(name).map_err(|e| BuildError::Store(e.into()))?;
    let Some(item) = store.get(&parsed)? else {
        return Ok(name.to_owned());
    };
    let docs = ["doc", "docs"];
    if !docs.iter().any(|d| item.path.join(d).exists()) {
        return Ok(name.to_owned());
    }
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let temp = tempfile::tempdir().map_err(io(&std::env::temp_dir()))?;
    let copy = temp.path().join("item");
    copy_tree(&item.path, &copy, &docs).map_err(io(&copy))?;
    let spec = crate::store::ItemSpec {
        name: item.record.name.clone(),
        version: item.record.version.clone(),
        kind: crate::store::db::ItemKind::Rock,
        references: Vec::new(),
        recipe_key: None,
    };
    Ok(store.add_path(&copy, &spec)?.name.as_str().to_owned())
}

/// Copies a tree of files, directories and links, leaving out the
/// top-level entries named in `skip`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path, skip: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let kind = entry.file_type()?;
        let target = to.join(&name);
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, &[])?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
