//! Copying between a store and a cache: what `rockstore copy` and pinned
//! installs do. Fetching by item name needs no signature: the name carries
//! the item's hash, the item document its full hash (checked against the
//! name), and the blob is checked against that.

use std::io::{Seek, Write};
use std::path::Path;

use super::{Cache, CacheError};
use crate::backend::StoreBackend;
use crate::store::content_hash::ContentHash;
use crate::store::db::ItemKind;
use crate::store::item_name::ItemName;
use crate::store::{Item, ItemSpec, Store, StoreError};
use crate::tree::Tree;

/// Why an item could not be copied from a cache.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an item name.
    #[error("`{0}` is not an item name (`<hash>-<name>-<version>`, as `store ls` prints it)")]
    BadName(String),
    /// The cache does not have it.
    #[error("{url} has no item {item}")]
    Missing {
        /// The cache.
        url: String,
        /// The item.
        item: String,
    },
    /// What the cache holds is not the item.
    #[error("{url}: {item}: {reason}; nothing was admitted")]
    Refused {
        /// The cache.
        url: String,
        /// The item.
        item: String,
        /// Why.
        reason: String,
    },
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A scratch file.
    #[error("cannot write a scratch file")]
    Scratch(#[source] std::io::Error),
}

/// Copies item `wanted` (by name) from `cache` into the store, unless the
/// store has it.
pub fn fetch_item(
    cache: &Cache,
    backend: &dyn StoreBackend,
    wanted: &str,
) -> Result<Item, FetchError> {
    let name = ItemName::parse(wanted).map_err(|_| FetchError::BadName(wanted.to_owned()))?;
    if let Some(item) = backend.store().get(&name)? {
        return Ok(item);
    }
    let refused = |reason: String| FetchError::Refused {
        url: cache.url.clone(),
        item: wanted.to_owned(),
        reason,
    };
    let doc = cache.item_doc(wanted)?.ok_or_else(|| FetchError::Missing {
        url: cache.url.clone(),
        item: wanted.to_owned(),
    })?;
    let hash = ContentHash::parse_hex(&doc.hash).map_err(|e| refused(e.to_string()))?;
    if ItemName::new(&hash, &doc.name, &doc.version).ok().as_ref() != Some(&name) {
        return Err(refused("its document names another item".into()));
    }
    let reader = cache.blob(&hash)?.ok_or_else(|| FetchError::Missing {
        url: cache.url.clone(),
        item: wanted.to_owned(),
    })?;
    // The archive is unpacked from the blob into a scratch file first: a
    // backend that admits through a daemon sends its length first.
    let mut scratch = tempfile::tempfile().map_err(FetchError::Scratch)?;
    let mut decoder = zstd::stream::read::Decoder::new(reader).map_err(FetchError::Scratch)?;
    let limit = doc.size.saturating_add(64 << 20);
    let len = std::io::copy(
        &mut std::io::Read::take(&mut decoder, limit + 1),
        &mut scratch,
    )
    .map_err(|e| refused(format!("its blob is unusable: {e}")))?;
    if len > limit {
        return Err(refused("its blob is larger than its document says".into()));
    }
    scratch.flush().map_err(FetchError::Scratch)?;
    scratch.rewind().map_err(FetchError::Scratch)?;
    let spec = ItemSpec {
        name: doc.name.clone(),
        version: doc.version.clone(),
        kind: ItemKind::Rock,
        references: Vec::new(),
        recipe_key: None,
    };
    let item = backend
        .add_archive(&mut scratch, len, &spec)
        .map_err(|e| refused(crate::report_chain(&e)))?;
    if item.name != name {
        return Err(refused(format!("its blob holds {}", item.name)));
    }
    Ok(item)
}

/// The rock items of `tree`'s current generation (every Lua version's),
/// dependencies before the rocks that need them.
pub fn items_of_tree(store: &Store, tree: &Path) -> Result<Vec<Item>, StoreError> {
    let tree = Tree::new(tree, "5.4").map_err(|source| StoreError::Io {
        path: tree.to_path_buf(),
        source,
    })?;
    let profile = tree.current_profile().map_err(|e| StoreError::Io {
        path: tree.root.clone(),
        source: std::io::Error::other(e),
    })?;
    let mut rocks: Vec<_> = profile.rocks.iter().collect();
    for others in profile.others.values() {
        rocks.extend(others.iter());
    }
    // Dependencies first: a rock after every rock of the generation it
    // names in its dependencies (a dependency cycle keeps its order).
    let mut ordered: Vec<&crate::tree::ProfileRock> = Vec::new();
    let mut left = rocks;
    while !left.is_empty() {
        let before = left.len();
        let (ready, wait): (Vec<_>, Vec<_>) = left.into_iter().partition(|r| {
            r.dependencies.iter().all(|d| {
                let dep = d.split_whitespace().next().unwrap_or(d);
                dep == r.name
                    || ordered.iter().any(|o| o.name == dep)
                    || !profile.rocks.iter().any(|o| o.name == dep)
            })
        });
        ordered.extend(ready);
        left = wait;
        if left.len() == before {
            ordered.append(&mut left);
        }
    }
    let mut items = Vec::new();
    for rock in ordered {
        let name = ItemName::parse(&rock.item)?;
        if let Some(item) = store.get(&name)? {
            if !items.iter().any(|i: &Item| i.name == item.name) {
                items.push(item);
            }
        }
    }
    Ok(items)
}
