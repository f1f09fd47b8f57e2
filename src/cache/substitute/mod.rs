//! Substituting: before a recipe is built, its realisation is looked up in
//! the substituters, in priority order. A realisation counts only when a
//! trusted key signed exactly this recipe, item, content hash, Lua ABI and
//! platform; its blob counts only when its bytes hash to the item's name.
//! Anything else is refused with a warning naming the cache, the rock and
//! the reason, and the rock is built instead (`--cache-only`: the install
//! fails). A cache that is down is warned about once and skipped for the
//! rest of the run.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::format::RealisationDoc;
use super::keys::{self, PublicKey};
// `lease_wait` reaches the lease module as `super::lease`.
use super::lease::{self, Leases};
use super::{Cache, CacheError};
use crate::rock_id::RockId;
use crate::store::canonical;
use crate::store::content_hash::{ContentHash, RecipeKey};
use crate::store::db::{ItemKind, RecipeFacts, FORMAT_VERSION};
use crate::store::item_archive::{self, Finish, Limits, LinkPolicy};
use crate::store::item_name::ItemName;
use crate::store::{Item, ItemSpec, Store, StoreError};

mod ahead;
mod lease_wait;

/// What a realisation must say for the recipe being built.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// `name version`.
    pub rock: &'a str,
    /// The Lua ABI built for.
    pub lua_abi: &'a str,
    /// The platform.
    pub platform: &'a str,
}

/// A realisation found and trusted.
#[derive(Debug, Clone)]
pub struct Hit {
    slot: usize,
    /// The document.
    pub doc: RealisationDoc,
    /// The item's content hash.
    pub hash: ContentHash,
    /// The item's name.
    pub item: ItemName,
}

impl Hit {
    /// The most bytes its blob is read for, and the size of its deadline:
    /// its signed `blob_size`, but never more than a blob of its signed
    /// item size can be (a pusher that signed a planted file's size does
    /// not make readers wait on it for days).
    pub fn blob_bound(&self) -> u64 {
        let most = super::copy::max_blob(self.doc.size.saturating_add(64 << 20));
        match self.doc.blob_size {
            // No blob is empty: 0 is a size not known when it was signed
            // (an engine that gave no length), not one to cut at.
            0 => most,
            said => said.min(most),
        }
    }
}

/// Why a substitution failed when it had to succeed (`--cache-only`).
#[derive(Debug, thiserror::Error)]
pub enum SubstituteError {
    /// No substituter has a trusted realisation.
    #[error("{rock}: no substituter has a trusted build of it, and --cache-only forbids building ({tried})")]
    NotCached {
        /// The rock.
        rock: String,
        /// What was asked.
        tried: String,
    },
    /// The blob could not be used.
    #[error("{rock}: {reason}")]
    Refused {
        /// The rock.
        rock: String,
        /// Why (naming the cache).
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::hint::Hint for SubstituteError {
    fn hints(&self) -> Vec<String> {
        match self {
            SubstituteError::NotCached { .. } | SubstituteError::Refused { .. } => vec![
                "push a build of it to a substituter (`rockstore copy --to URL`, or install with --push-to URL), or drop --cache-only to build it".into(),
            ],
            SubstituteError::Store(e) => e.hints(),
        }
    }
}

/// Substituters that cannot be set up as configured.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A substituter URL.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A trusted key.
    #[error("rockstore_trusted_public_keys")]
    Key(#[from] keys::KeyError),
}

struct Slot {
    cache: Arc<Cache>,
    down: AtomicBool,
    /// Why it was skipped, for a `--cache-only` failure to say.
    why_down: Mutex<Option<String>>,
    /// Its info file being read in the background (a single cache: its
    /// priority orders nothing, so the read overlaps the first lookup);
    /// taken by the first use of what the cache sent.
    info: Mutex<Option<std::thread::JoinHandle<Result<u32, CacheError>>>>,
}

impl Slot {
    fn new(cache: Cache) -> Slot {
        Slot {
            cache: Arc::new(cache),
            down: AtomicBool::new(false),
            why_down: Mutex::new(None),
            info: Mutex::new(None),
        }
    }

    /// Its URL, and why it was skipped when it was.
    fn tried(&self) -> String {
        match self.why_down.lock().ok().and_then(|w| w.clone()) {
            Some(why) => format!("{} (skipped: {why})", self.cache.url),
            None => self.cache.url.clone(),
        }
    }
}

/// The substituters of a run, and what it trusts.
pub struct Substituters {
    slots: Vec<Slot>,
    trusted: Vec<PublicKey>,
    cache_only: bool,
    warn: Box<dyn Fn(&str) + Send + Sync>,
    found: Mutex<HashMap<RecipeKey, Option<Hit>>>,
    /// Blobs downloaded ahead of their builds, by content hash (checked
    /// when admitted, like any blob).
    downloaded: Mutex<HashMap<ContentHash, Vec<u8>>>,
    /// Build leases on the cache builds are pushed to, when its engine can
    /// refuse a second writer: a miss waits for the host that holds one.
    leases: Option<Arc<Leases>>,
}

/// Most bytes of blobs held in memory ahead of their admission; the rest
/// are read when their step runs.
const PREFETCH_BUDGET: u64 = 256 << 20;
/// Largest zstd window a blob may ask for (8 MiB): what our own pushes use
/// (level 3 and even 19 stay within it) and bounded, since each blob being
/// read holds a window of this size — a daemon reads several at once for
/// members.
pub const MAX_WINDOW_LOG: u32 = 23;
/// Blob downloads (and realisation lookups) at once: a closure's worth, so
/// that on a slow link one round trip fetches them all.
const PREFETCH_THREADS: usize = 32;

/// The most a blob named by a plan document is read as, before its
/// realisation states its size: larger than nearly every rock's archive,
/// and its deadline (at the minimum rate) a short wait.
const SPECULATIVE_BLOB: u64 = 32 << 20;

impl Substituters {
    /// `caches`, asked in the priority their info files give (then in
    /// the order given); signatures checked against `trusted`.
    pub fn new(
        caches: Vec<Cache>,
        trusted: Vec<PublicKey>,
        cache_only: bool,
        warn: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Substituters {
        // Every warning may quote what a cache sent (an error, a field).
        let warn: Box<dyn Fn(&str) + Send + Sync> =
            Box::new(move |text| warn(&crate::printable::printable(text)));
        // One cache has no order to find: its info file is read beside
        // the first lookup rather than costing a round trip before it,
        // and checked before anything it sent is used.
        let single = caches.len() == 1;
        let mut ranked: Vec<(u32, usize, Slot)> = caches
            .into_iter()
            .enumerate()
            .map(|(i, cache)| {
                let slot = Slot::new(cache);
                if single {
                    let cache = slot.cache.clone();
                    if let Ok(mut info) = slot.info.lock() {
                        *info = Some(std::thread::spawn(move || cache.priority()));
                    }
                    return (50, i, slot);
                }
                let priority = match slot.cache.priority() {
                    Ok(p) => p,
                    Err(e) => {
                        skip_for_info(&slot, &e, &*warn);
                        50
                    }
                };
                (priority, i, slot)
            })
            .collect();
        ranked.sort_by_key(|(p, i, _)| (*p, *i));
        Substituters {
            slots: ranked.into_iter().map(|(_, _, s)| s).collect(),
            trusted,
            cache_only,
            warn,
            found: Mutex::new(HashMap::new()),
            downloaded: Mutex::new(HashMap::new()),
            leases: None,
        }
    }

    /// Whether `slot` may be used: not down, and its info file (once
    /// read) says a cache this rockstore reads.
    fn usable(&self, slot: &Slot) -> bool {
        let pending = slot.info.lock().ok().and_then(|mut i| i.take());
        if let Some(reading) = pending {
            match reading.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => skip_for_info(slot, &e, &*self.warn),
                Err(_) => {}
            }
        }
        !slot.down.load(Ordering::SeqCst)
    }

    /// Takes build leases on `leases`' cache before building what no
    /// substituter has (see [`super::lease`]).
    pub fn set_leases(&mut self, leases: Arc<Leases>) {
        self.leases = Some(leases);
    }

    /// The item archive of content hash `hash` from the first substituter
    /// that has its blob, unpacked into an unnamed scratch file (rewound),
    /// with its length and the cache's URL: signed or not (its hash is its
    /// proof; the caller admits it and checks the name). Nothing states
    /// its size, so it is bounded as `copy --from` bounds a blob
    /// ([`super::copy::unpack_bounded`]): at most `limits.max_item` bytes,
    /// and no zstd bomb; memory holds one chunk of it. A blob past a bound
    /// is refused with a warning; a cache that fails (past its deadline
    /// too) is warned about and skipped for the rest of the run.
    pub fn archive_by_hash(
        &self,
        hash: &ContentHash,
        limits: super::copy::FetchLimits,
    ) -> Option<(String, std::fs::File, u64)> {
        use super::copy::{unpack_bounded, Bound, Unpack, MAX_RATIO};
        for slot in &self.slots {
            if !self.usable(slot) {
                continue;
            }
            let reader = match slot.cache.blob(hash) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    if is_down(&e) {
                        self.down(slot, &e);
                    }
                    continue;
                }
            };
            let late = Arc::new(AtomicBool::new(false));
            let watched = Box::new(Watched::new(reader, late.clone()));
            let why = match unpack_bounded(watched, limits.max_item) {
                Ok((file, len)) => return Some((slot.cache.url.clone(), file, len)),
                Err(_) if late.load(Ordering::SeqCst) => {
                    self.late(slot, hash, super::transport::UNSIZED_READ);
                    continue;
                }
                Err(Unpack::Unusable(why)) => why,
                Err(Unpack::Scratch(e)) => format!("cannot write a scratch file: {e}"),
                Err(Unpack::OverLimit) => format!(
                    "it unpacks to more than {}, the largest pinned item",
                    crate::units::human(limits.max_item)
                ),
                Err(Unpack::Ratio) => {
                    format!("it unpacks to more than {}", Bound::Ratio(MAX_RATIO))
                }
            };
            (self.warn)(&format!(
                "{}: refusing the blob of {}: {why}; nothing was admitted from it",
                slot.cache.url,
                hash.to_hex()
            ));
        }
        None
    }

    /// Substituters from configured text: URLs and `name:base64` keys.
    pub fn from_config(
        urls: &[String],
        keys: &[String],
        cache_only: bool,
        timeouts: super::transport::Timeouts,
        s3: Option<&super::transport::S3Credentials>,
        warn: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Substituters, ConfigError> {
        let caches = urls
            .iter()
            .map(|u| Cache::open(u, timeouts, s3))
            .collect::<Result<Vec<_>, _>>()?;
        let trusted = keys
            .iter()
            .map(|k| PublicKey::parse(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Substituters::new(caches, trusted, cache_only, warn))
    }

    /// The substituters' URLs, in the order they are asked.
    pub fn urls(&self) -> Vec<String> {
        self.slots.iter().map(|s| s.cache.url.clone()).collect()
    }

    /// The trusted keys, as `name:base64`.
    pub fn trusted_keys(&self) -> Vec<String> {
        self.trusted.iter().map(PublicKey::to_text).collect()
    }

    /// Whether there is any substituter at all.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether a miss must fail instead of building.
    pub fn cache_only(&self) -> bool {
        self.cache_only
    }

    /// The URL of a hit's cache.
    pub fn url_of(&self, hit: &Hit) -> &str {
        &self.slots[hit.slot].cache.url
    }

    fn down(&self, slot: &Slot, e: &CacheError) {
        if !slot.down.swap(true, Ordering::SeqCst) {
            if let Ok(mut w) = slot.why_down.lock() {
                *w = Some(e.to_string());
            }
            (self.warn)(&format!(
                "substituter {} is down ({e}); skipped for the rest of this run",
                slot.cache.url
            ));
        }
    }

    /// `slot`'s blob of `hash`, stated as `size` bytes, was cut at its
    /// deadline: the cache is down for the rest of the run (one warning),
    /// so neither that blob nor anything else is asked of it again.
    fn late(&self, slot: &Slot, hash: &ContentHash, size: u64) {
        let allowed = slot.cache.transport().timeouts().deadline(size);
        self.down(
            slot,
            &CacheError::Transport(super::transport::TransportError::Down {
                url: slot.cache.shown(&super::format::blob_path(hash)),
                why: format!(
                    "the blob did not arrive within its deadline of {}",
                    super::transport::seconds(allowed)
                ),
            }),
        );
    }

    /// The trusted realisation of `key`, if a substituter has one (asked
    /// once per run).
    pub fn lookup(&self, key: &RecipeKey, expect: Expect<'_>) -> Option<Hit> {
        if let Some(known) = self.found.lock().ok().and_then(|m| m.get(key).cloned()) {
            return known;
        }
        let hit = self.ask(key, expect);
        if let Ok(mut m) = self.found.lock() {
            m.insert(*key, hit.clone());
        }
        hit
    }

    /// Looks up many recipes at once, in parallel (a plan's level).
    pub fn prefetch(&self, wanted: &[(RecipeKey, Expect<'_>)]) {
        std::thread::scope(|scope| {
            let per_thread = wanted.len().div_ceil(PREFETCH_THREADS).max(1);
            for chunk in wanted.chunks(per_thread) {
                scope.spawn(move || {
                    for (key, expect) in chunk {
                        self.lookup(key, *expect);
                    }
                });
            }
        });
    }

    fn ask(&self, key: &RecipeKey, expect: Expect<'_>) -> Option<Hit> {
        for (index, slot) in self.slots.iter().enumerate() {
            if slot.down.load(Ordering::SeqCst) {
                continue;
            }
            for signer in &self.trusted {
                let doc = match slot.cache.realisation(key, &signer.name) {
                    Ok(Some(doc)) => doc,
                    Ok(None) => continue,
                    Err(e) if is_down(&e) => {
                        self.down(slot, &e);
                        break;
                    }
                    Err(e) => {
                        (self.warn)(&format!(
                            "{}: cannot read the realisation of {}: {e}",
                            slot.cache.url, expect.rock
                        ));
                        continue;
                    }
                };
                match self.check(&doc, key, expect) {
                    Ok(_) if !self.usable(slot) => break,
                    Ok((hash, item)) => {
                        return Some(Hit {
                            slot: index,
                            doc,
                            hash,
                            item,
                        })
                    }
                    Err(reason) => (self.warn)(&format!(
                        "{}: refusing its build of {}: {reason}",
                        slot.cache.url, expect.rock
                    )),
                }
            }
        }
        None
    }

    fn check(
        &self,
        doc: &RealisationDoc,
        key: &RecipeKey,
        expect: Expect<'_>,
    ) -> Result<(ContentHash, ItemName), String> {
        keys::check(doc, &self.trusted).map_err(|e| e.to_string())?;
        if doc.format != super::format::REALISATION_FORMAT {
            return Err(format!("realisation format {} is not known", doc.format));
        }
        if doc.recipe_key != key.to_hex() {
            return Err("it is signed for another recipe".into());
        }
        if doc.rock != expect.rock {
            return Err(format!("it is a build of {}", doc.rock));
        }
        if doc.lua_abi != expect.lua_abi {
            return Err(format!(
                "it was built for Lua {}, this build is for Lua {}",
                doc.lua_abi, expect.lua_abi
            ));
        }
        if doc.platform != expect.platform {
            return Err(format!(
                "it was built for {}, this machine is {}",
                doc.platform, expect.platform
            ));
        }
        let hash = ContentHash::parse_hex(&doc.hash).map_err(|e| e.to_string())?;
        let item = ItemName::parse(&doc.item).map_err(|e| e.to_string())?;
        let rock = RockId::parse(&doc.rock).ok_or("its rock is not `name version`")?;
        if ItemName::new(&hash, &rock.name, &rock.version)
            .ok()
            .as_ref()
            != Some(&item)
        {
            return Err("its item name does not match its hash and rock".into());
        }
        Ok((hash, item))
    }

    /// Downloads a hit's blob, checks that it holds exactly the item, and
    /// admits it into `store` as the realisation of its recipe. A cache
    /// that is down (before, or cut at this blob's deadline now) is not
    /// asked: [`Failed::Down`], warned about once already.
    fn fetch(&self, hit: &Hit, store: &Store) -> Result<Item, Failed> {
        let slot = &self.slots[hit.slot];
        let url = &slot.cache.url;
        let ready = self
            .downloaded
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&hit.hash));
        // A signed `blob_size` (0: not known) is the blob's exact length:
        // one longer or shorter is not the blob that was signed, whether
        // it was fetched ahead (a plan document's blobs are, before their
        // sizes are known) or is read now.
        let signed = hit.doc.blob_size;
        let wrong_size = |len: String| {
            Failed::Refused(format!(
                "{url}: the blob of {} is {len}, not the {signed} bytes its realisation is signed for; nothing was admitted from it",
                hit.item
            ))
        };
        if signed > hit.blob_bound() {
            return Err(wrong_size(format!(
                "at most {} bytes, as its item size bounds it",
                hit.blob_bound()
            )));
        }
        let fetched = match ready {
            Some(bytes) if signed > 0 && bytes.len() as u64 != signed => {
                return Err(wrong_size(format!("{} bytes", bytes.len())))
            }
            Some(bytes) => Ok(Some(
                Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read + Send>
            )),
            None if slot.down.load(Ordering::SeqCst) => return Err(Failed::Down),
            None if signed > 0 => slot.cache.blob_exact(&hit.hash, signed),
            None => slot.cache.blob_sized(&hit.hash, hit.blob_bound()),
        };
        let late = Arc::new(AtomicBool::new(false));
        let watched = match fetched {
            Ok(Some(r)) => Watched::new(r, late.clone()),
            Ok(None) => {
                return Err(Failed::Refused(format!(
                    "{url}: the blob of {} is missing",
                    hit.item
                )))
            }
            Err(e) if is_down(&e) => {
                self.down(slot, &e);
                return Err(Failed::Down);
            }
            Err(e) => return Err(Failed::Refused(format!("{url}: {e}"))),
        };
        let wrong_size = watched.wrong_size.clone();
        let reader = Box::new(watched) as Box<dyn Read + Send>;
        // Its rock was checked when the hit was found (`check`); kept as
        // it was before that, should another path make a hit.
        let rock =
            RockId::parse(&hit.doc.rock).unwrap_or_else(|| RockId::new(hit.doc.rock.as_str(), ""));
        let spec = ItemSpec {
            name: rock.name,
            version: rock.version,
            kind: ItemKind::Rock,
            references: Vec::new(),
            recipe_key: RecipeKey::parse_hex(&hit.doc.recipe_key).ok(),
        };
        let item = admit_blob(store, reader, &hit.hash, hit.doc.size, &spec).map_err(|reason| {
            if late.load(Ordering::SeqCst) {
                // Slow, not lying: skipped like a down cache, so the next
                // rock does not wait out its deadline too.
                self.late(slot, &hit.hash, hit.blob_bound());
                return Failed::Down;
            }
            match wrong_size.lock().ok().and_then(|mut w| w.take()) {
                Some(said) => Failed::Refused(format!(
                    "{url}: {said}, the size its realisation is signed for; nothing was admitted from it"
                )),
                None => Failed::Refused(format!("{url}: {reason}")),
            }
        })?;
        if let Some(key) = spec.recipe_key {
            // Best effort, as a build's: the realisation stands without.
            let _ = store.record_facts(&RecipeFacts {
                format_version: FORMAT_VERSION,
                recipe_key: key,
                rock: RockId::new(&spec.name, &spec.version),
                lua_abi: hit.doc.lua_abi.clone(),
                platform: hit.doc.platform.clone(),
            });
        }
        Ok(item)
    }

    /// The item of recipe `key`, substituted: `Ok(None)` when no
    /// substituter has a build it trusts (the caller builds), an error
    /// when that is not allowed (`--cache-only`).
    pub fn substitute(
        &self,
        store: &Store,
        key: &RecipeKey,
        expect: Expect<'_>,
        watch: Option<&dyn crate::build_watch::BuildWatch>,
    ) -> Result<Option<(Item, String)>, SubstituteError> {
        let found = match self.lookup(key, expect) {
            None if !self.cache_only => match &self.leases {
                Some(leases) => self.wait_for_build(leases, key, expect, watch),
                None => None,
            },
            found => found,
        };
        let Some(hit) = found else {
            if self.cache_only {
                return Err(SubstituteError::NotCached {
                    rock: expect.rock.to_owned(),
                    tried: self
                        .slots
                        .iter()
                        .map(Slot::tried)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            return Ok(None);
        };
        let url = self.url_of(&hit).to_owned();
        if let Some(w) = watch {
            w.doing(&format!(
                "downloading from {url} ({} KiB)",
                hit.doc.blob_size.div_ceil(1024)
            ));
        }
        let failed = match self.fetch(&hit, store) {
            Ok(item) => return Ok(Some((item, url))),
            Err(failed) => failed,
        };
        // Asked once per run: the build that follows must not try the
        // same blob again.
        if let Ok(mut m) = self.found.lock() {
            m.insert(*key, None);
        }
        match failed {
            Failed::Down if self.cache_only => Err(SubstituteError::Refused {
                rock: expect.rock.to_owned(),
                reason: format!(
                    "{}; --cache-only forbids building it",
                    self.slots[hit.slot].tried()
                ),
            }),
            // Warned about once, when it went down.
            Failed::Down => Ok(None),
            Failed::Refused(reason) if self.cache_only => Err(SubstituteError::Refused {
                rock: expect.rock.to_owned(),
                reason,
            }),
            Failed::Refused(reason) => {
                (self.warn)(&format!(
                    "refusing the build of {} from {reason}; building it instead",
                    expect.rock
                ));
                Ok(None)
            }
        }
    }
}

impl Substituters {
    /// Warns as the substituters do.
    pub fn warn(&self, text: &str) {
        (self.warn)(text);
    }
}

/// Skips `slot` for the run when reading its info file failed because
/// it is down or a cache this rockstore cannot read (said once); any
/// other failure leaves it in use, as its priority's default.
fn skip_for_info(slot: &Slot, e: &CacheError, warn: &dyn Fn(&str)) {
    let said = match e {
        CacheError::Incompatible { .. } => format!(
            "substituter {}: {e}; skipped for the rest of this run",
            slot.cache.url
        ),
        e if is_down(e) => format!(
            "substituter {} is down ({e}); skipped for the rest of this run",
            slot.cache.url
        ),
        _ => return,
    };
    warn(&said);
    slot.down.store(true, Ordering::SeqCst);
    if let Ok(mut w) = slot.why_down.lock() {
        *w = Some(e.to_string());
    }
}

/// Why a hit's blob was not admitted.
enum Failed {
    /// Its cache is down for the run (warned about once, when it went).
    Down,
    /// The blob is missing or refused: why, naming the cache.
    Refused(String),
}

/// A blob's reader that remembers whether a read ran past the request's
/// deadline: the unpacking's error alone would only refuse this blob.
/// It also keeps what a read said of a blob not of its stated size (the
/// unpacking's error does not carry it).
struct Watched {
    inner: Box<dyn Read + Send>,
    late: Arc<AtomicBool>,
    wrong_size: Arc<Mutex<Option<String>>>,
}

impl Watched {
    fn new(inner: Box<dyn Read + Send>, late: Arc<AtomicBool>) -> Watched {
        Watched {
            inner,
            late,
            wrong_size: Arc::new(Mutex::new(None)),
        }
    }
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if super::transport::timed_out(e) {
                self.late.store(true, Ordering::SeqCst);
            } else if e.kind() == std::io::ErrorKind::InvalidData {
                if let Ok(mut w) = self.wrong_size.lock() {
                    w.get_or_insert_with(|| e.to_string());
                }
            }
        })
    }
}

fn is_down(e: &CacheError) -> bool {
    matches!(e, CacheError::Transport(t) if t.is_down())
}

/// Reads a blob (zstd of an item's archive) into a staging directory of
/// `store`, checks its tree hashes to `hash`, and admits it. Nothing is
/// admitted from a blob that is truncated, altered or holds another item.
pub fn admit_blob(
    store: &Store,
    reader: Box<dyn Read + Send>,
    hash: &ContentHash,
    size: u64,
    spec: &ItemSpec,
) -> Result<Item, String> {
    let staging = store.stage().map_err(|e| e.to_string())?;
    let mut decoder = zstd::stream::read::Decoder::new(reader)
        .map_err(|e| format!("the blob is not zstd: {e}"))?;
    decoder
        .window_log_max(MAX_WINDOW_LOG)
        .map_err(|e| format!("the blob is not zstd: {e}"))?;
    let none = std::collections::BTreeSet::new();
    let node = item_archive::read_into(
        &mut decoder,
        std::os::fd::AsFd::as_fd(staging.dir()),
        LinkPolicy::Item(&none),
        Finish::Item,
        Limits {
            // Its files and their structure; a blob that says more lies.
            max_bytes: size.saturating_add(64 << 20),
            max_entries: 1_000_000,
        },
    )
    .and_then(|node| item_archive::expect_end(&mut decoder).map(|()| node))
    .map_err(|e| format!("its blob is unusable: {e}"))?;
    let got = canonical::content_hash(&node);
    if got != *hash {
        return Err(format!(
            "its blob holds another tree ({got}) than its name says ({hash})"
        ));
    }
    store
        .admit_model(staging, node, spec)
        .map_err(|e| crate::report_chain(&e))
}
