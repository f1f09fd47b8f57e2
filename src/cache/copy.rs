//! Copying between a store and a cache: what `rockstore copy` and pinned
//! installs do. Fetching by item name needs no signature: the name carries
//! the item's hash, the item document its full hash (checked against the
//! name), and the blob is checked against that.
//!
//! The item document is not signed, so nothing it says may raise what a
//! fetch costs: the archive decompressed from a blob is bounded by
//! [`FetchLimits`] (a global size, and a ratio of archive bytes to blob
//! bytes read so far), checked while streaming ([`unpack_bounded`], which
//! a pinned item's blob goes through too), so a zstd bomb or a lying
//! document stops a fetch within one chunk of the bound. The blob size it
//! states may only lower one: the download's deadline is that size's, and
//! a byte past it is refused.

use std::cell::Cell;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::rc::Rc;

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
    /// The blob unpacks to more than a fetch may stage.
    #[error("{url}: {item}: its blob unpacks to more than {bound}; stopped there and nothing was admitted")]
    TooLarge {
        /// The cache.
        url: String,
        /// The item.
        item: String,
        /// The bound passed.
        bound: Bound,
    },
}

/// Which bound a blob passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The largest archive a fetch stages.
    Size(u64),
    /// Archive bytes per blob byte, past the first [`RATIO_FLOOR`] bytes.
    Ratio(u64),
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Size(n) => write!(
                f,
                "{} (--max-item-size; its item document claims no more, but is not signed)",
                crate::units::human(*n)
            ),
            Bound::Ratio(r) => write!(
                f,
                "{r} times the blob bytes read (past the first {}): a zstd bomb",
                crate::units::human(RATIO_FLOOR)
            ),
        }
    }
}

/// What a fetch by name may stage, whatever the cache says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// The largest item archive staged (default [`DEFAULT_MAX_ITEM`]).
    pub max_item: u64,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_item: DEFAULT_MAX_ITEM,
        }
    }
}

/// The default of [`FetchLimits::max_item`]: 1 GiB, far above any rock.
pub const DEFAULT_MAX_ITEM: u64 = 1 << 30;

/// Archive bytes a blob may unpack to per blob byte once past
/// [`RATIO_FLOOR`]. Rocks (Lua sources, shared objects) compress 3 to 20
/// times; zstd turns a run of zeros into 1/30000 of it, which is what a
/// bomb is made of.
pub const MAX_RATIO: u64 = 1000;

/// Archive bytes staged before the ratio applies: small items of
/// repetitive files may compress far better than big ones.
pub const RATIO_FLOOR: u64 = 64 << 20;

/// Counts the bytes read through it (the blob's, before decompression).
struct Counted<R> {
    inner: R,
    read: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get().saturating_add(n as u64));
        Ok(n)
    }
}

/// The largest blob an archive of at most `max_item` bytes compresses to:
/// zstd's bound (its input plus 1/256 of it, plus frame headers), with
/// room to spare. A stated blob size above it is no item's.
pub fn max_blob(max_item: u64) -> u64 {
    max_item
        .saturating_add(max_item / 128)
        .saturating_add(1 << 20)
}

/// Why a blob was not unpacked.
#[derive(Debug)]
pub enum Unpack {
    /// The scratch file failed.
    Scratch(std::io::Error),
    /// The blob is not zstd, or its read failed (past its deadline, past
    /// its stated size, cut): why.
    Unusable(String),
    /// It unpacks to more than the limit asked for.
    OverLimit,
    /// It unpacks to more than [`MAX_RATIO`] times its bytes, past
    /// [`RATIO_FLOOR`]: a zstd bomb.
    Ratio,
}

/// Unpacks the zstd blob `reader` into an unnamed scratch file (`O_TMPFILE`
/// where it can be, so a stop anywhere leaves nothing behind), rewound,
/// with its length: at most `limit` bytes, and at most [`MAX_RATIO`] times
/// the blob's bytes read so far once past [`RATIO_FLOOR`]. Both are checked
/// before each chunk is written, so neither memory nor the scratch file
/// ever holds more than the bound, whatever the blob or a document says.
pub fn unpack_bounded(
    reader: Box<dyn Read + Send>,
    limit: u64,
) -> Result<(std::fs::File, u64), Unpack> {
    let mut scratch = tempfile::tempfile().map_err(Unpack::Scratch)?;
    let blob_read = Rc::new(Cell::new(0u64));
    let counted = Counted {
        inner: reader,
        read: Rc::clone(&blob_read),
    };
    let not_zstd = |e: std::io::Error| Unpack::Unusable(format!("its blob is not zstd: {e}"));
    let mut decoder = zstd::stream::read::Decoder::new(counted).map_err(not_zstd)?;
    decoder
        .window_log_max(super::substitute::MAX_WINDOW_LOG)
        .map_err(not_zstd)?;
    let mut len: u64 = 0;
    let mut chunk = vec![0u8; 256 << 10];
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Unpack::Unusable(format!("its blob is unusable: {e}"))),
        };
        len += n as u64;
        if len > limit {
            return Err(Unpack::OverLimit);
        }
        if len > RATIO_FLOOR && len / MAX_RATIO > blob_read.get() {
            return Err(Unpack::Ratio);
        }
        scratch.write_all(&chunk[..n]).map_err(Unpack::Scratch)?;
    }
    scratch.flush().map_err(Unpack::Scratch)?;
    scratch.rewind().map_err(Unpack::Scratch)?;
    Ok((scratch, len))
}

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
