//! Binary caches: builds that travel. A cache is plain files on an engine
//! people already run — a directory, a static HTTP server, an S3 bucket —
//! in the layout of store-format/v1/cache.md: blobs named by the
//! content hash of the item they hold (they verify themselves), item
//! documents, and realisations signed by their signers. Nothing is ever
//! overwritten; writes go blob, item document, realisation, dependencies
//! first, so a reader never finds a realisation whose blob is missing.
//!
//! - [`format`]: the files' names and documents (pure).
//! - [`keys`]: Ed25519 keys and signatures, `name:base64`.
//! - [`transport`]: the engines, and every request's deadline.
//! - [`confined`]: a directory cache's files, reached without following
//!   any link below its root.
//! - [`substitute`]: finding and fetching what a recipe built, trusting
//!   only what a trusted key signed and what hashes to its name.
//! - [`lease`]: build leases, so a fleet compiles each recipe once.
//! - [`plan_doc`]: signed plan documents, a closure in one request.
//! - [`push`]: copying items (and their realisations) to a cache.
//! - [`view`]: the LuaRocks view, binary rocks and manifests stock
//!   LuaRocks installs from.
//! - [`view_trust`]: which files of the view a trusted key vouches for.

pub mod confined;
pub mod copy;
pub mod credentials;
pub mod format;
pub mod keys;
pub mod lease;
mod pace;
pub mod plan_doc;
pub mod push;
pub mod substitute;
pub mod transport;
pub mod view;
pub mod view_trust;

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::store::content_hash::{ContentHash, RecipeKey};
use format::RealisationDoc;
use transport::{Put, Transport, TransportError};

/// Largest realisation or item document read.
const MAX_DOC: u64 = 64 << 10;

/// One binary cache.
pub struct Cache {
    /// Its URL, as configured (for messages).
    pub url: String,
    transport: Transport,
}

/// `item/<item name>.json`: what an item is, so it can be fetched by
/// name and admitted under its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDoc {
    /// The content hash, `blake3:<hex>`.
    pub hash: String,
    /// The item's name part (`lpeg`).
    pub name: String,
    /// Its version part.
    pub version: String,
    /// Bytes of its regular files.
    pub size: u64,
    /// Bytes of its blob.
    pub blob_size: u64,
}

/// Why a cache's file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The engine failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A cache this rockstore cannot read (its info file says so).
    #[error("{url}: {why}")]
    Incompatible {
        /// Its info file.
        url: String,
        /// What it says.
        why: format::InfoError,
    },
    /// A document that does not parse.
    #[error("{url} is not a rockstore cache document")]
    Malformed {
        /// The document.
        url: String,
        /// Why.
        #[source]
        source: Unparsable,
    },
}

/// Why a cache's document does not parse, as the parser said it with
/// what it quotes of the document (a field's name) escaped
/// ([`crate::printable`]): a name may carry escape sequences or a newline
/// forging a line of ours.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unparsable(String);

impl From<serde_json::Error> for Unparsable {
    fn from(e: serde_json::Error) -> Unparsable {
        Unparsable(crate::printable::printable(&e.to_string()).into_owned())
    }
}

impl Cache {
    /// The cache at `url`.
    pub fn open(
        url: &str,
        timeouts: transport::Timeouts,
        s3: Option<&transport::S3Credentials>,
    ) -> Result<Cache, CacheError> {
        Ok(Cache {
            url: url.trim_end_matches('/').to_owned(),
            transport: Transport::open(url, timeouts, s3)?,
        })
    }

    /// Its priority (lower is asked first), from its info file; 50 when
    /// it has none. An info file of another format or version is an
    /// error: nothing of such a cache is read.
    pub fn priority(&self) -> Result<u32, CacheError> {
        let bytes = match self.transport.get(format::INFO_FILE, MAX_DOC) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(50),
            // No info file of ours is that large, or not a file: not one
            // this rockstore reads, rather than a missing one.
            Err(
                TransportError::TooLarge { .. }
                | TransportError::NotRegular { .. }
                | TransportError::Link { .. },
            ) => {
                return Err(CacheError::Incompatible {
                    url: self.transport.shown(format::INFO_FILE),
                    why: format::InfoError::NotInfo,
                })
            }
            Err(e) => return Err(e.into()),
        };
        format::parse_info(&String::from_utf8_lossy(&bytes)).map_err(|why| {
            CacheError::Incompatible {
                url: self.transport.shown(format::INFO_FILE),
                why,
            }
        })
    }

    /// `signer`'s realisation of `key`, if the cache has one.
    pub fn realisation(
        &self,
        key: &RecipeKey,
        signer: &str,
    ) -> Result<Option<RealisationDoc>, CacheError> {
        self.document(&format::realisation_path(key, signer))
    }

    /// The item document of `item`, if the cache has it.
    pub fn item_doc(&self, item: &str) -> Result<Option<ItemDoc>, CacheError> {
        self.document(&item_doc_path(item))
    }

    fn document<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<Option<T>, CacheError> {
        let Some(bytes) = self.transport.get(path, MAX_DOC)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CacheError::Malformed {
                url: self.transport.shown(path),
                source: e.into(),
            })
    }

    /// A reader of the blob of `hash`, if the cache has it, its size
    /// unknown (its deadline allows the largest blob read).
    pub fn blob(&self, hash: &ContentHash) -> Result<Option<Box<dyn Read + Send>>, CacheError> {
        Ok(self.transport.open_read(&format::blob_path(hash))?)
    }

    /// A reader of the blob of `hash`, signed as `size` bytes: its
    /// download has the deadline of that size.
    pub fn blob_sized(
        &self,
        hash: &ContentHash,
        size: u64,
    ) -> Result<Option<Box<dyn Read + Send>>, CacheError> {
        Ok(self
            .transport
            .open_read_sized(&format::blob_path(hash), size)?)
    }

    /// A reader of the blob of `hash`, signed as exactly `size` bytes: a
    /// blob longer or shorter than that fails its read.
    pub fn blob_exact(
        &self,
        hash: &ContentHash,
        size: u64,
    ) -> Result<Option<Box<dyn Read + Send>>, CacheError> {
        Ok(self
            .transport
            .open_read_exact(&format::blob_path(hash), size)?)
    }

    /// Whether the cache has the blob of `hash`.
    pub fn has_blob(&self, hash: &ContentHash) -> Result<bool, CacheError> {
        Ok(self.transport.head(&format::blob_path(hash))?.is_some())
    }

    /// Writes a file the cache does not have yet.
    pub fn create(&self, path: &str, bytes: &[u8]) -> Result<Put, CacheError> {
        Ok(self.transport.put(path, bytes, true)?)
    }

    /// The URL of one of its files, for messages.
    pub fn shown(&self, path: &str) -> String {
        self.transport.shown(path)
    }

    /// Whether the engine itself refuses a second writer of a file.
    pub fn refuses_second_writer(&self) -> bool {
        self.transport.refuses_second_writer()
    }

    /// The engine.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }
}

/// Where the item document of `item` lives.
pub fn item_doc_path(item: &str) -> String {
    format!("item/{item}.json")
}
