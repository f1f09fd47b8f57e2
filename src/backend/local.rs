//! The local backend: this process writes the store itself — a user's own
//! store, or a daemon store worked on by its owner (the daemon itself
//! serves its clients through this backend).

use std::io::Read as _;
use std::path::Path;

use super::{BuildRequest, GenerationRoot, ProfileRequest, StoreBackend};
use crate::build::{BuildError, BuildWatch, Builder, Built};
use crate::fetch::Fetcher;
use crate::gc::GcReport;
use crate::store::content_hash::RecipeKey;
use crate::store::item_name::ItemName;
use crate::store::lock::{LockGuard, LockMode};
use crate::store::{Item, ItemSpec, Store, StoreError};
use crate::tree::profile::{self, ProfileError};

/// This process writes `store`.
pub struct LocalBackend {
    store: Store,
}

impl LocalBackend {
    /// A backend writing `store` directly.
    pub fn new(store: Store) -> LocalBackend {
        LocalBackend { store }
    }

    /// The store, owned.
    pub fn into_store(self) -> Store {
        self.store
    }
}

impl StoreBackend for LocalBackend {
    fn store(&self) -> &Store {
        &self.store
    }

    fn describe(&self) -> String {
        format!("the store at {}", self.store.root().display())
    }

    fn add_dir(&self, dir: &Path, spec: &ItemSpec) -> Result<Item, StoreError> {
        self.store.add_path(dir, spec)
    }

    fn add_archive(
        &self,
        archive: &mut dyn std::io::Read,
        len: u64,
        spec: &ItemSpec,
    ) -> Result<Item, StoreError> {
        use crate::store::item_archive::{self, Finish, Limits, LinkPolicy};
        let allowed = self.store.check_references(spec)?;
        let staging = self.store.stage()?;
        let mut input = archive.take(len);
        let node = item_archive::read_into(
            &mut input,
            std::os::fd::AsFd::as_fd(staging.dir()),
            LinkPolicy::Item(&allowed),
            Finish::Item,
            Limits {
                max_bytes: len,
                max_entries: 1_000_000,
            },
        )
        .and_then(|node| item_archive::expect_end(&mut input).map(|()| node))
        .map_err(|e| StoreError::Source {
            path: staging.path(),
            source: std::io::Error::other(e),
        })?;
        self.store.admit_model(staging, node, spec)
    }

    fn hold(&self) -> Result<LockGuard, StoreError> {
        self.store.lock(LockMode::Shared)
    }

    fn build(
        &self,
        request: &BuildRequest<'_>,
        fetcher: &Fetcher,
        watch: Option<&dyn BuildWatch>,
    ) -> Result<Built, BuildError> {
        let builder = Builder {
            store: &self.store,
            fetcher,
            env: request.env,
            watch,
            isolation: None,
            substituters: request.substituters,
        };
        request
            .source
            .build_here(&builder, request.dependency_items.clone())
    }

    fn build_profile(&self, request: &ProfileRequest<'_>) -> Result<Item, ProfileError> {
        profile::build(&self.store, request.tree, request.profile, request.wrap)
    }

    fn register_tree(&self, tree: &Path, roots: &[GenerationRoot]) -> Result<(), StoreError> {
        let uid = rustix::process::geteuid().as_raw();
        self.store.register_tree_for(tree, uid, roots)
    }

    fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        crate::gc::collect(&self.store, dry_run)
    }

    fn register_realisation(&self, key: &RecipeKey, item: &ItemName) -> Result<(), StoreError> {
        if self.store.get(item)?.is_none() {
            return Err(StoreError::NotFound(item.as_str().to_owned()));
        }
        self.store.record_realisation(key, item)
    }
}
