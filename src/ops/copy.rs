//! `rockstore copy`'s steps that reach past the cache: fetching an item
//! into the store through its backend ([`fetch_item`]) and the items of a
//! tree's generation ([`items_of_tree`]). They sit here, above `backend`
//! and `tree`, so `cache` itself imports neither.

use std::path::Path;

use crate::backend::StoreBackend;
use crate::cache::copy::{
    max_blob, unpack_bounded, Bound, FetchError, FetchLimits, Unpack, MAX_RATIO,
};
use crate::cache::Cache;
use crate::store::content_hash::ContentHash;
use crate::store::db::ItemKind;
use crate::store::item_name::ItemName;
use crate::store::{Item, ItemSpec, Store, StoreError};
use crate::tree::Tree;

/// Copies item `wanted` (by name) from `cache` into the store, unless the
/// store has it.
pub fn fetch_item(
    cache: &Cache,
    backend: &dyn StoreBackend,
    wanted: &str,
    limits: FetchLimits,
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
    // The document's blob size is not signed either: it may only shorten
    // the download (its deadline is that size's, and a byte past it is
    // refused), never lengthen it past the largest blob the bound allows.
    let most = max_blob(limits.max_item);
    let stated = match doc.blob_size {
        // No blob is empty: 0 says its size was not known.
        0 => most,
        said => said.min(most),
    };
    let reader = cache
        .blob_sized(&hash, stated)?
        .ok_or_else(|| FetchError::Missing {
            url: cache.url.clone(),
            item: wanted.to_owned(),
        })?;
    // The document's size is not signed: it may only lower the bound.
    let limit = doc.size.saturating_add(64 << 20).min(limits.max_item);
    let too_large = |bound| FetchError::TooLarge {
        url: cache.url.clone(),
        item: wanted.to_owned(),
        bound,
    };
    // Unpacked into a scratch file first: a backend that admits through a
    // daemon sends the archive's length first.
    let (mut scratch, len) = match unpack_bounded(reader, limit) {
        Ok(unpacked) => unpacked,
        Err(Unpack::Scratch(e)) => return Err(FetchError::Scratch(e)),
        Err(Unpack::Unusable(why)) => return Err(refused(why)),
        Err(Unpack::Ratio) => return Err(too_large(Bound::Ratio(MAX_RATIO))),
        Err(Unpack::OverLimit) if limit == limits.max_item => {
            return Err(too_large(Bound::Size(limits.max_item)))
        }
        Err(Unpack::OverLimit) => {
            return Err(refused("its blob is larger than its document says".into()))
        }
    };
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
