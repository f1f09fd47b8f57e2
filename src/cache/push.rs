//! Pushing items to a cache: the blob (zstd of the item's archive), then
//! the item document, then a realisation per signer — each written only
//! when the cache has no such file yet, so a second push of the same
//! closure uploads no blob bytes, and a push killed at any point leaves no
//! realisation without its blob. Callers push dependencies first.
//!
//! [`Pusher`] does it in the background of an install: each new item is
//! queued as it is admitted, uploaded off the builds' critical path, and
//! the install waits for the queue only at its end.

use std::sync::mpsc;

use super::format::{self, RealisationDoc, REALISATION_FORMAT};
use super::keys::SecretKey;
use super::transport::Put;
use super::{item_doc_path, Cache, CacheError, ItemDoc};
use crate::store::item_archive::{self, LinkPolicy};
use crate::store::item_name::ItemName;
use crate::store::{Item, Store, StoreError};

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The cache failed.
    #[error("pushing {item} to {url}")]
    Cache {
        /// The item.
        item: String,
        /// The cache.
        url: String,
        /// Why.
        #[source]
        source: CacheError,
    },
    /// The item could not be read.
    #[error("cannot read {item} to push it")]
    Read {
        /// The item.
        item: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The cache holds, where the item's blob belongs, a file that cannot
    /// be it: its size would be signed, and readers give a blob the
    /// deadline of its signed size.
    #[error("{url}: {why}, where a blob of {item} is at most {bound} bytes; its size is not signed (remove the file and push again)")]
    BadBlob {
        /// The item.
        item: String,
        /// The blob's URL.
        url: String,
        /// What it is.
        why: String,
        /// The most a blob of the item can be.
        bound: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What pushes did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// Blobs uploaded.
    pub blobs: usize,
    /// Their bytes.
    pub blob_bytes: u64,
    /// Blobs the cache had already.
    pub blobs_present: usize,
    /// Realisations written.
    pub realisations: usize,
}

/// Pushes `item` (and, signed by each of `signers`, the realisation of
/// its recipe, when the store knows what that recipe was built for).
pub fn push_item(
    cache: &Cache,
    store: &Store,
    item: &Item,
    signers: &[SecretKey],
    report: &mut PushReport,
) -> Result<(), PushError> {
    let name = item.name.as_str().to_owned();
    let fail = |source| PushError::Cache {
        item: name.clone(),
        url: cache.url.clone(),
        source,
    };
    let blob_path = format::blob_path(&item.record.hash);
    let blob_size = match cache
        .transport()
        .head(&blob_path)
        .map_err(|e| fail(e.into()))?
    {
        Some(size) => {
            report.blobs_present += 1;
            present_blob_size(cache, item, &blob_path, size)?
        }
        None => {
            let bytes = blob_of(item).map_err(|source| PushError::Read {
                item: name.clone(),
                source,
            })?;
            store.failpoint("push-before-blob");
            if cache.create(&blob_path, &bytes).map_err(fail)? == Put::Written {
                report.blobs += 1;
                report.blob_bytes += bytes.len() as u64;
            }
            bytes.len() as u64
        }
    };
    store.failpoint("push-after-blob");
    let doc = ItemDoc {
        hash: item.record.hash.to_string(),
        name: item.record.name.clone(),
        version: item.record.version.clone(),
        size: item.record.size,
        blob_size,
    };
    let json = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    cache.create(&item_doc_path(&name), &json).map_err(fail)?;
    let Some(key) = item.record.recipe_key else {
        return Ok(());
    };
    // Only the store's own realisations are vouched for, with what the
    // recipe was built for.
    let realised = store.realisation(&key)?;
    let Some(facts) = store.facts_of(&key)? else {
        return Ok(());
    };
    if realised.as_ref().map(|i| &i.name) != Some(&item.name) {
        return Ok(());
    }
    for signer in signers {
        let mut doc = RealisationDoc {
            format: REALISATION_FORMAT,
            recipe_key: key.to_hex(),
            item: name.clone(),
            hash: item.record.hash.to_string(),
            size: item.record.size,
            blob_size,
            rock: facts.rock.to_string(),
            lua_abi: facts.lua_abi.clone(),
            platform: facts.platform.clone(),
            signature: String::new(),
        };
        signer.sign(&mut doc);
        let json = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        store.failpoint("push-before-realisation");
        if cache
            .create(&format::realisation_path(&key, &signer.name), &json)
            .map_err(fail)?
            == Put::Written
        {
            report.realisations += 1;
        }
    }
    Ok(())
}

/// The size of the blob of `item` the cache has already, which the
/// engine says is `said` bytes: what is signed as its `blob_size`, so it is
/// believed only up to the most a blob of the item can be (zstd's bound on
/// its archive, which admission bounds by the item's size plus 64 MiB). A
/// size outside that (a planted file, or a server that gives no length) is
/// measured by reading the blob, at most that bound; a blob past it is
/// refused, and nothing of the item is signed.
fn present_blob_size(
    cache: &Cache,
    item: &Item,
    blob_path: &str,
    said: u64,
) -> Result<u64, PushError> {
    let bound = super::copy::max_blob(item.record.size.saturating_add(64 << 20));
    if (1..=bound).contains(&said) {
        return Ok(said);
    }
    let name = item.name.as_str().to_owned();
    let bad = |why: String| PushError::BadBlob {
        item: name.clone(),
        url: cache.shown(blob_path),
        why,
        bound,
    };
    let reader = cache
        .transport()
        .open_read_sized(blob_path, bound)
        .map_err(|e| PushError::Cache {
            item: name.clone(),
            url: cache.url.clone(),
            source: e.into(),
        })?;
    let Some(mut reader) = reader else {
        return Err(bad("it vanished while it was read".into()));
    };
    match std::io::copy(&mut reader, &mut std::io::sink()) {
        Ok(0) => Err(bad("it is empty".into())),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(bad(if said > bound {
            format!("it is {said} bytes")
        } else {
            "it is larger".to_owned()
        })),
        Err(e) => Err(PushError::Cache {
            item: name.clone(),
            url: cache.url.clone(),
            source: CacheError::Transport(super::transport::TransportError::Down {
                url: cache.shown(blob_path),
                why: e.to_string(),
            }),
        }),
    }
}

/// Writes the cache's info file when it has none; one it has must say a
/// cache this rockstore writes (a later format's is refused, before any
/// of its files is written).
pub fn ensure_info(cache: &Cache, priority: u32) -> Result<(), CacheError> {
    match cache.create(format::INFO_FILE, format::info_text(priority).as_bytes())? {
        super::transport::Put::Written => Ok(()),
        _ => cache.priority().map(|_| ()),
    }
}

/// The blob of an item: zstd of its archive.
pub fn blob_of(item: &Item) -> std::io::Result<Vec<u8>> {
    let refs = item.record.references.iter().cloned().collect();
    let dir = std::fs::File::open(&item.path)?;
    let fd = std::os::fd::AsFd::as_fd(&dir);
    let node =
        item_archive::model(fd, LinkPolicy::Item(&refs), &[]).map_err(std::io::Error::other)?;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3)?;
    item_archive::write(fd, &node, &mut encoder).map_err(std::io::Error::other)?;
    encoder.finish()
}

/// Where a long-lived pusher says what it pushed and what failed.
pub type PushLog = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Pushes items in the background, in the order they are queued.
pub struct Pusher {
    sender: Option<mpsc::Sender<ItemName>>,
    worker: Option<std::thread::JoinHandle<Result<PushReport, PushError>>>,
}

impl Pusher {
    /// A pusher to `cache`, reading items from the store at `store_root`.
    pub fn start(
        cache: Cache,
        store_root: std::path::PathBuf,
        signers: Vec<SecretKey>,
        failpoints: std::sync::Arc<crate::store::failpoint::Failpoints>,
    ) -> Pusher {
        Pusher::start_logged(cache, store_root, signers, failpoints, None)
    }

    /// A pusher that goes on after a failed push, saying each push and
    /// each failure to `log` (a daemon's: one push that fails must not stop
    /// the next build's).
    pub fn start_logged(
        cache: Cache,
        store_root: std::path::PathBuf,
        signers: Vec<SecretKey>,
        failpoints: std::sync::Arc<crate::store::failpoint::Failpoints>,
        log: Option<PushLog>,
    ) -> Pusher {
        Pusher::start_leased(cache, store_root, signers, failpoints, log, None)
    }

    /// A pusher that also releases the build lease of each recipe it
    /// pushes the realisation of (the hosts waiting for it then find it),
    /// and at its end every lease still held (builds that failed).
    pub fn start_leased(
        cache: Cache,
        store_root: std::path::PathBuf,
        signers: Vec<SecretKey>,
        failpoints: std::sync::Arc<crate::store::failpoint::Failpoints>,
        log: Option<PushLog>,
        leases: Option<std::sync::Arc<super::lease::Leases>>,
    ) -> Pusher {
        let (sender, receiver) = mpsc::channel::<ItemName>();
        let worker = std::thread::spawn(move || {
            let options = crate::store::StoreOptions {
                failpoints,
                ..Default::default()
            };
            let store = Store::open(&store_root, options)?;
            let mut report = PushReport::default();
            ensure_info(&cache, 50).map_err(|source| PushError::Cache {
                item: "rockstore-cache-info".into(),
                url: cache.url.clone(),
                source,
            })?;
            let release_all = |leases: &Option<std::sync::Arc<super::lease::Leases>>| {
                if let Some(leases) = leases {
                    leases.release_all();
                }
            };
            for name in receiver {
                let pushed = match store.get(&name) {
                    Ok(Some(item)) => {
                        let pushed = push_item(&cache, &store, &item, &signers, &mut report);
                        // Released whether or not the push went through: a
                        // waiter then finds the realisation, or builds.
                        if let (Some(leases), Some(key)) = (&leases, item.record.recipe_key) {
                            leases.release(&key);
                        }
                        pushed
                    }
                    Ok(None) => continue,
                    Err(e) => Err(e.into()),
                };
                if pushed.is_err() && log.is_none() {
                    release_all(&leases);
                }
                match (&log, pushed) {
                    (Some(log), Ok(())) => log(&format!("pushed {name} to {}", cache.url)),
                    (Some(log), Err(e)) => log(&format!("warning: {}", crate::hint::chain(&e))),
                    (None, result) => result?,
                }
            }
            release_all(&leases);
            Ok(report)
        });
        Pusher {
            sender: Some(sender),
            worker: Some(worker),
        }
    }

    /// Queues an item (pushed after those queued before it).
    pub fn push(&self, item: &ItemName) {
        if let Some(s) = &self.sender {
            let _ = s.send(item.clone());
        }
    }

    /// Waits for every queued item to be pushed.
    pub fn finish(mut self) -> Result<PushReport, PushError> {
        drop(self.sender.take());
        match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Ok(PushReport::default()),
        }
    }
}
