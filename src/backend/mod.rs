//! The store interface: the operations that write a store, behind one
//! trait, so installing, removing, adopting and collecting garbage read
//! the same whoever does the writing (Nix's `Store` with `LocalStore` and
//! `RemoteStore`). A backend is chosen once, when the store is opened
//! (`stores::open`):
//!
//! - [`local::LocalBackend`]: this process writes the store itself.
//! - `daemon::client::DaemonBackend`: a daemon store this process does not
//!   own; every write is a request to the store's daemon.
//!
//! Reads (items, records, realisations, listings) are the same for every
//! backend: [`StoreBackend::store`] is the store as this process reads it.
//! A binary cache (`cache`) is a store one copies to and from, not one
//! that builds; it implements the part it can.

pub mod local;

use std::path::Path;

use crate::build::{BuildEnv, BuildError, BuildWatch, Built, Source};
use crate::fetch::Fetcher;
use crate::gc::GcReport;
use crate::store::content_hash::RecipeKey;
use crate::store::item_name::ItemName;
use crate::store::lock::LockGuard;
pub use crate::store::GenerationRoot;
use crate::store::{Item, ItemSpec, Store, StoreError};
use crate::tree::profile::{ProfileError, WrapperContext};
use crate::tree::{Profile, Tree, TreeError};

/// A rock to build (or find built).
pub struct BuildRequest<'a> {
    /// What it is built from.
    pub source: &'a Source,
    /// The Lua, variables and settings of this run.
    pub env: &'a BuildEnv,
    /// The items chosen for its dependencies (recipe inputs).
    pub dependency_items: Vec<String>,
    /// Binary caches to ask before building (a daemon asks its own, and
    /// refuses a client's it does not trust).
    pub substituters: Option<&'a crate::cache::substitute::Substituters>,
}

/// A generation's profile item to make.
pub struct ProfileRequest<'a> {
    /// The tree it is for.
    pub tree: &'a Tree,
    /// Its rocks.
    pub profile: &'a Profile,
    /// What wrappers in `bin/` run.
    pub wrap: &'a WrapperContext<'a>,
}

/// The operations that write a store.
pub trait StoreBackend: Send + Sync {
    /// The store, as this process reads it.
    fn store(&self) -> &Store;

    /// Who writes the store, for messages (`the store's daemon`).
    fn describe(&self) -> String;

    /// Admits the directory `dir`, read with this process's rights.
    fn add_dir(&self, dir: &Path, spec: &ItemSpec) -> Result<Item, StoreError>;

    /// Admits the tree an archive holds (`len` bytes of
    /// serialization.md's archive form), checked as it is read.
    fn add_archive(
        &self,
        archive: &mut dyn std::io::Read,
        len: u64,
        spec: &ItemSpec,
    ) -> Result<Item, StoreError>;

    /// Keeps everything admitted from now on out of GC's reach until the
    /// guard is dropped (an install in flight).
    fn hold(&self) -> Result<LockGuard, StoreError>;

    /// Builds (or reuses) a rock. `fetcher` is this process's; a backend
    /// that builds elsewhere fetches there.
    fn build(
        &self,
        request: &BuildRequest<'_>,
        fetcher: &Fetcher,
        watch: Option<&dyn BuildWatch>,
    ) -> Result<Built, BuildError>;

    /// Makes the profile item of a generation.
    fn build_profile(&self, request: &ProfileRequest<'_>) -> Result<Item, ProfileError>;

    /// Records `tree`'s roots: every generation it keeps. Called after
    /// each change to its generations, so GC never has to read the tree.
    fn register_tree(&self, tree: &Path, roots: &[GenerationRoot]) -> Result<(), StoreError>;

    /// Collects garbage (or, with `dry_run`, says what it would free).
    fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError>;

    /// Declares `item` the realisation of `key` (a build made elsewhere).
    fn register_realisation(&self, key: &RecipeKey, item: &ItemName) -> Result<(), StoreError>;

    /// Whether a build's substitution happens in this process (so blobs
    /// downloaded here ahead of time are used); the daemon substitutes
    /// in its own.
    fn substitutes_here(&self) -> bool {
        true
    }
}

/// The roots of `tree`: its generations, read from its own links.
pub fn roots_of(tree: &Tree) -> Result<Vec<GenerationRoot>, TreeError> {
    let mut roots = Vec::new();
    for generation in tree.generations()? {
        let name = generation.item_path.file_name().and_then(|n| n.to_str());
        // A generation of another store (a tree moved between stores) or
        // in another link mode is not an item name: not this store's root.
        if let Some(Ok(item)) = name.map(ItemName::parse) {
            roots.push(GenerationRoot {
                generation: generation.number,
                item,
            });
        }
    }
    Ok(roots)
}

/// Records `tree`'s current generations as its roots (after generations
/// were deleted, so a collection may free what only they kept).
pub fn sync_roots(backend: &dyn StoreBackend, tree: &Tree) -> Result<(), SyncError> {
    let roots = roots_of(tree)?;
    Ok(backend.register_tree(&tree.root, &roots)?)
}

/// Why a tree's roots could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Its generations could not be read.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The store refused the registration.
    #[error(transparent)]
    Store(#[from] StoreError),
}
