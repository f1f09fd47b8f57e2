//! Copying between a store and a cache: what `rockstore copy` and pinned
//! installs do (the steps that need a store backend or a tree are
//! [`crate::ops::copy`]). Fetching by item name needs no signature: the name carries
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
use std::rc::Rc;

use super::CacheError;
use crate::store::StoreError;

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
