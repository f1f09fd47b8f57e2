//! Build leases: so that a fleet starting at once on an empty cache
//! compiles each recipe once, not once per host. Before building a recipe
//! the cache has no realisation of, a host claims `lease/<key>/<gen>` with a
//! create-only write; the engine lets exactly one writer create it (S3's
//! `If-None-Match: *`, a hard link on `file://`). The winner builds, pushes
//! and deletes its lease; the others poll for the realisation, with
//! backoff, bounded in count and time. A lease whose holder stopped
//! renewing it (killed) expires, and the next generation is claimed the
//! same way, so exactly one waiter takes the build over.
//!
//! A lease is not signed, so what it says is bounded: one that does not
//! parse is void (warned about once, and passed over to the next
//! generation, which the engine's create-only write gives one claimant),
//! and an expiry later than the lease timeout from when this host first
//! read it counts as that (a holder's renewal always says less), so no
//! document can make a waiter wait longer than a killed holder would.
//!
//! Nor can documents stack waits: a run believes leases it never sees
//! renewed for one lease timeout in all, however many generations or
//! recipes are planted; past that, one more lease is watched only as long
//! as a live holder takes to renew it (every third of the timeout), so a
//! killed holder's successor is still waited for, and after that none. And a run waits for
//! other hosts' builds at most `max_wait` in all, not per rock.
//!
//! Engines that cannot refuse a second writer (a plain HTTP server, whose
//! PUT overwrites) take no leases: every host that misses builds, as said
//! once per run by [`Leases::for_cache`]'s caller.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::transport::{Put, TransportError};
use super::Cache;
use crate::store::content_hash::RecipeKey;

/// The lease document's format.
pub const LEASE_FORMAT: u32 = 1;
/// Generations probed before a lease is given up as unclaimable.
const MAX_GENERATIONS: u32 = 16;
/// Largest lease document read.
const MAX_LEASE_DOC: u64 = 4 << 10;

/// `lease/<key hex>/<generation>.json`: who builds a recipe, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseDoc {
    /// [`LEASE_FORMAT`].
    pub format: u32,
    /// The recipe key, 64 hex.
    pub recipe_key: String,
    /// The generation (0, then one more per expired holder).
    pub generation: u32,
    /// The holder's host name.
    pub host: String,
    /// The holder's process id.
    pub pid: u32,
    /// Unix seconds after which the lease is void unless renewed.
    pub expires: u64,
}

/// Where lease generation `generation` of `key` lives.
pub fn lease_path(key: &RecipeKey, generation: u32) -> String {
    format!("lease/{}/{generation}.json", key.to_hex())
}

/// How long a lease lasts and how long to wait for another's build.
#[derive(Debug, Clone, Copy)]
pub struct LeasePolicy {
    /// A lease not renewed for this long is void.
    pub ttl: Duration,
    /// Longest wait for another host's build before building here.
    pub max_wait: Duration,
    /// Most polls of a wait.
    pub max_polls: u32,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        LeasePolicy {
            ttl: Duration::from_secs(60),
            max_wait: Duration::from_secs(1800),
            max_polls: 2000,
        }
    }
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// This host holds the lease: it builds.
    Won,
    /// Another host holds a live lease.
    Held(LeaseDoc),
}

/// Why a lease could not be claimed or read.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The engine failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Every generation was claimed and expired.
    #[error("{key}: {MAX_GENERATIONS} lease generations claimed and expired")]
    Exhausted {
        /// The recipe key.
        key: String,
    },
}

/// A lease this process holds, renewed in the background until released.
struct Held {
    generation: u32,
    stop: mpsc::Sender<()>,
    renewer: std::thread::JoinHandle<()>,
}

/// Where a lease's messages go: the library never prints.
type Say = Box<dyn Fn(&str) + Send + Sync>;

/// The leases of one run on one cache.
pub struct Leases {
    cache: std::sync::Arc<Cache>,
    policy: LeasePolicy,
    host: String,
    held: Mutex<HashMap<RecipeKey, Held>>,
    /// When this host first read each lease document, by what it says
    /// (key, generation, expires): an expiry is believed at most the
    /// lease timeout past that.
    first_read: Mutex<HashMap<(RecipeKey, u32, u64), u64>>,
    /// Recipes whose leases were warned about as unreadable (once per
    /// recipe: a lease directory that is a link voids all sixteen).
    warned: Mutex<std::collections::HashSet<RecipeKey>>,
    /// What this run has waited for other hosts' builds.
    waited: Mutex<Waited>,
    /// Recipes this run builds without waiting for their leases.
    given_up: Mutex<std::collections::HashSet<RecipeKey>>,
    warn: Say,
    note: Say,
}

/// The lease document `bytes` at `key`'s generation `generation`, or why
/// it is not one: a document saying another key or generation than the
/// path it was read from is not that path's lease (a copy of another
/// lease, planted to hold this build up).
fn parse_lease(bytes: &[u8], key: &RecipeKey, generation: u32) -> Result<LeaseDoc, String> {
    let doc = serde_json::from_slice::<LeaseDoc>(bytes).map_err(|e| e.to_string())?;
    if doc.format != LEASE_FORMAT {
        return Err(format!("lease format {} is not known", doc.format));
    }
    if doc.recipe_key != key.to_hex() {
        return Err(format!(
            "it is the lease of recipe {}, not of the recipe its path names",
            doc.recipe_key
        ));
    }
    if doc.generation != generation {
        return Err(format!(
            "it says generation {}, its path {generation}",
            doc.generation
        ));
    }
    Ok(doc)
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

impl Leases {
    /// Leases on `cache`, or `None` when its engine cannot refuse a second
    /// writer (the caller says once that every host builds).
    pub fn for_cache(cache: Cache, policy: LeasePolicy) -> Option<Leases> {
        cache.refuses_second_writer().then(|| Leases {
            cache: std::sync::Arc::new(cache),
            policy,
            host: host_name(),
            held: Mutex::new(HashMap::new()),
            first_read: Mutex::new(HashMap::new()),
            warned: Mutex::new(std::collections::HashSet::new()),
            waited: Mutex::new(Waited::default()),
            given_up: Mutex::new(std::collections::HashSet::new()),
            warn: Box::new(|_| {}),
            note: Box::new(|_| {}),
        })
    }

    /// Sends warnings (an unreadable lease) to `warn` and notes (whose
    /// build is waited for, until when) to `note`.
    /// Both may quote the cache's words (a holder's host name), so what
    /// they are given is made [`printable`](crate::printable::printable).
    pub fn with_messages(mut self, warn: Say, note: Say) -> Leases {
        self.warn = Box::new(move |text| warn(&crate::printable::printable(text)));
        self.note = Box::new(move |text| note(&crate::printable::printable(text)));
        self
    }

    /// Says `text` as a note (a wait's start).
    pub fn note(&self, text: &str) {
        (self.note)(text);
    }

    /// The policy.
    pub fn policy(&self) -> LeasePolicy {
        self.policy
    }

    /// The cache's URL.
    pub fn url(&self) -> &str {
        &self.cache.url
    }

    fn doc(&self, key: &RecipeKey, generation: u32) -> LeaseDoc {
        LeaseDoc {
            format: LEASE_FORMAT,
            recipe_key: key.to_hex(),
            generation,
            host: self.host.clone(),
            pid: std::process::id(),
            expires: now_secs() + self.policy.ttl.as_secs().max(1),
        }
    }

    /// Reads generation `generation` of `key`'s lease, its expiry bounded
    /// (see the module's doc). A lease that cannot be read as one is void
    /// (its expiry 0, warned about once), so the next generation is
    /// claimed: one that does not parse, of an unknown format, for another
    /// key or generation than its path, or a file that is no lease at all
    /// (too large, a FIFO, a directory, a link on a `file://` cache). Only
    /// a cache that is down ends the claim with an error.
    fn read(&self, key: &RecipeKey, generation: u32) -> Result<Option<LeaseDoc>, LeaseError> {
        let path = lease_path(key, generation);
        let bytes = match self.cache.transport().get(&path, MAX_LEASE_DOC) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) if e.is_down() => return Err(e.into()),
            Err(e) => {
                let why = format!("{e}; a lease that cannot be read is taken as expired");
                return Ok(Some(self.void(key, generation, &why)));
            }
        };
        let mut doc = match parse_lease(&bytes, key, generation) {
            Ok(doc) => doc,
            Err(why) => {
                let why = format!(
                    "{} is not a lease document ({why}); taken as expired",
                    self.cache.shown(&path)
                );
                return Ok(Some(self.void(key, generation, &why)));
            }
        };
        let now = now_secs();
        let first = self
            .first_read
            .lock()
            .map(|mut m| *m.entry((*key, generation, doc.expires)).or_insert(now))
            .unwrap_or(now);
        doc.expires = doc
            .expires
            .min(first.saturating_add(self.policy.ttl.as_secs().max(1)));
        Ok(Some(doc))
    }

    /// A void lease in place of one that cannot be read, warned about
    /// (`why`) the first time this host meets it.
    fn void(&self, key: &RecipeKey, generation: u32, why: &str) -> LeaseDoc {
        let first = self.warned.lock().is_ok_and(|mut w| w.insert(*key));
        if first {
            (self.warn)(why);
        }
        LeaseDoc {
            format: LEASE_FORMAT,
            recipe_key: key.to_hex(),
            generation,
            host: "(unreadable lease)".into(),
            pid: 0,
            expires: 0,
        }
    }

    /// Claims the lease of `key`: the first generation that is absent is
    /// created (create-only, so one host wins it); a present one that is
    /// live is another host's; an expired one is passed over.
    pub fn claim(&self, key: &RecipeKey) -> Result<Claim, LeaseError> {
        for generation in 0..MAX_GENERATIONS {
            match self.read(key, generation)? {
                Some(doc) if doc.expires >= now_secs() => return Ok(Claim::Held(doc)),
                Some(_) => continue,
                None => {}
            }
            let doc = self.doc(key, generation);
            let json = serde_json::to_vec_pretty(&doc).unwrap_or_default();
            match self.cache.create(&lease_path(key, generation), &json) {
                Ok(Put::Written) => {
                    self.hold(key, generation);
                    return Ok(Claim::Won);
                }
                // Another host created it between the read and the write:
                // theirs, unless it too has expired (read again).
                Ok(Put::Exists) => match self.read(key, generation)? {
                    Some(doc) if doc.expires >= now_secs() => return Ok(Claim::Held(doc)),
                    _ => continue,
                },
                Err(super::CacheError::Transport(e)) => return Err(e.into()),
                Err(e) => {
                    return Err(LeaseError::Transport(TransportError::Down {
                        url: self.cache.url.clone(),
                        why: e.to_string(),
                    }))
                }
            }
        }
        Err(LeaseError::Exhausted { key: key.to_hex() })
    }

    /// Whether generation `generation` of `key` has been seen renewed:
    /// read saying two expiries.
    pub fn seen_renewed(&self, key: &RecipeKey, generation: u32) -> bool {
        self.first_read.lock().is_ok_and(|m| {
            m.keys()
                .filter(|(k, g, _)| k == key && *g == generation)
                .nth(1)
                .is_some()
        })
    }

    /// Whether a wait that has lasted `this` on a lease may go on: `Err`
    /// says which bound of the run it reached. A lease never seen renewed
    /// is believed one lease timeout in all the run has waited on such
    /// leases; any wait, `max_wait` in all.
    pub fn may_wait(&self, this: Duration, renewed: bool) -> Result<(), WaitOver> {
        let before = self.waited.lock().map(|w| *w).unwrap_or_default();
        if before.total + this >= self.policy.max_wait {
            return Err(WaitOver::Run(before.total + this));
        }
        // The lease that spends the belief ends by its own expiry (at
        // most the timeout from its first read). Past the belief, a lease
        // is still watched long enough to see a live holder renew it (a
        // killed holder's successor: its waiters take its push rather
        // than all building).
        // One such look in all: each later lease never seen renewed
        // would add its own, one per recipe.
        if !renewed
            && before.unrenewed >= self.policy.ttl
            && (this >= self.probation() || before.unrenewed >= self.policy.ttl + self.probation())
        {
            return Err(WaitOver::Unrenewed(before.unrenewed + this));
        }
        Ok(())
    }

    /// Remembers that this run builds `key` without waiting for its lease
    /// (a bound of the run's waiting was reached), so that asking again
    /// (a `.src.rock` asks twice) does not wait again.
    pub fn give_up(&self, key: &RecipeKey) {
        if let Ok(mut g) = self.given_up.lock() {
            g.insert(*key);
        }
    }

    /// Whether [`Leases::give_up`] was said of `key`.
    pub fn given_up(&self, key: &RecipeKey) -> bool {
        self.given_up.lock().is_ok_and(|g| g.contains(key))
    }

    /// How long a live holder may take to be seen renewing its lease: it
    /// renews every third of the timeout, seen at the next two polls.
    fn probation(&self) -> Duration {
        let ttl = self.policy.ttl.max(Duration::from_secs(1));
        ttl / 3 + 2 * poll_cap(self.policy)
    }

    /// Adds a wait that lasted `this` to the run's, and to its waits on
    /// leases never seen renewed when `renewed` is false.
    pub fn charge(&self, this: Duration, renewed: bool) {
        if let Ok(mut w) = self.waited.lock() {
            w.total += this;
            if !renewed {
                w.unrenewed += this;
            }
        }
    }

    /// Whether `doc` (read earlier) is still the live lease: re-read.
    pub fn still_held(&self, doc: &LeaseDoc, key: &RecipeKey) -> Result<bool, LeaseError> {
        Ok(matches!(self.read(key, doc.generation)?, Some(d) if d.expires >= now_secs()))
    }

    /// Starts renewing a won lease every third of its ttl.
    fn hold(&self, key: &RecipeKey, generation: u32) {
        let (stop, stopped) = mpsc::channel::<()>();
        let cache = self.cache.clone();
        let mut doc = self.doc(key, generation);
        let ttl = self.policy.ttl.max(Duration::from_secs(1));
        let path = lease_path(key, generation);
        let renewer = std::thread::spawn(move || {
            // Only this holder writes its generation: overwriting is safe.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(ttl / 3) {
                doc.expires = now_secs() + ttl.as_secs();
                let json = serde_json::to_vec_pretty(&doc).unwrap_or_default();
                let _ = cache.transport().put(&path, &json, false);
            }
        });
        if let Ok(mut held) = self.held.lock() {
            held.insert(
                *key,
                Held {
                    generation,
                    stop,
                    renewer,
                },
            );
        }
    }

    /// Whether this process holds `key`'s lease.
    pub fn holds(&self, key: &RecipeKey) -> bool {
        self.held.lock().is_ok_and(|h| h.contains_key(key))
    }

    /// Releases `key`'s lease (its realisation pushed, or its build
    /// failed): stops renewing and deletes every generation up to the held
    /// one, so expired leases of killed hosts go too.
    pub fn release(&self, key: &RecipeKey) {
        let Some(held) = self.held.lock().ok().and_then(|mut h| h.remove(key)) else {
            return;
        };
        drop(held.stop);
        let _ = held.renewer.join();
        for generation in (0..=held.generation).rev() {
            let _ = self.cache.transport().delete(&lease_path(key, generation));
        }
    }

    /// Releases every lease still held (the end of a run).
    pub fn release_all(&self) {
        let keys: Vec<RecipeKey> = self
            .held
            .lock()
            .map(|h| h.keys().copied().collect())
            .unwrap_or_default();
        for key in keys {
            self.release(&key);
        }
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.release_all();
    }
}

/// The longest pause between two polls of a wait.
fn poll_cap(policy: LeasePolicy) -> Duration {
    (policy.ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(2))
}

/// What a run has waited for other hosts' builds.
#[derive(Debug, Default, Clone, Copy)]
struct Waited {
    /// On leases never seen renewed.
    unrenewed: Duration,
    /// In all.
    total: Duration,
}

/// Which of a run's bounds on waiting a wait reached, and the time.
#[derive(Debug, Clone, Copy)]
pub enum WaitOver {
    /// Leases never seen renewed were believed one lease timeout in all.
    Unrenewed(Duration),
    /// The run has waited `max_wait` in all.
    Run(Duration),
}

/// The pauses of a wait: 100 ms growing by half each poll, at most a
/// quarter of the ttl (so an expiry is seen soon after it happens) and at
/// most 2 s; bounded in count and total time by the policy.
pub struct Backoff {
    next: Duration,
    cap: Duration,
    polls: u32,
    started: Instant,
    policy: LeasePolicy,
}

impl Backoff {
    /// A new wait.
    pub fn new(policy: LeasePolicy) -> Backoff {
        Backoff {
            next: Duration::from_millis(100),
            cap: poll_cap(policy),
            polls: 0,
            started: Instant::now(),
            policy,
        }
    }

    /// Sleeps before the next poll; `false` when the wait is over its
    /// bounds (the caller builds).
    pub fn pause(&mut self) -> bool {
        if self.polls >= self.policy.max_polls || self.started.elapsed() >= self.policy.max_wait {
            return false;
        }
        self.polls += 1;
        std::thread::sleep(self.next);
        self.next = (self.next * 3 / 2).min(self.cap);
        true
    }

    /// How long the wait has lasted.
    pub fn waited(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RecipeKey {
        RecipeKey::parse_hex(&"ab".repeat(32)).expect("key")
    }

    fn leases(dir: &std::path::Path, ttl: u64) -> Leases {
        let cache = Cache::open(
            &format!("file://{}", dir.display()),
            Default::default(),
            None,
        )
        .expect("cache");
        Leases::for_cache(
            cache,
            LeasePolicy {
                ttl: Duration::from_secs(ttl),
                ..Default::default()
            },
        )
        .expect("a directory refuses a second writer")
    }

    #[test]
    fn one_claimant_wins_and_the_other_sees_its_lease() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (leases(dir.path(), 60), leases(dir.path(), 60));
        assert!(matches!(a.claim(&key()), Ok(Claim::Won)));
        match b.claim(&key()) {
            Ok(Claim::Held(doc)) => {
                assert_eq!(doc.pid, std::process::id());
                assert_eq!(doc.generation, 0);
            }
            other => panic!("expected the first lease held, got {other:?}"),
        }
        a.release(&key());
        assert!(!dir.path().join(lease_path(&key(), 0)).exists());
        assert!(matches!(b.claim(&key()), Ok(Claim::Won)));
    }

    #[test]
    fn an_expired_lease_is_passed_over_to_the_next_generation() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = leases(dir.path(), 60);
        let mut stale = b.doc(&key(), 0);
        stale.expires = now_secs() - 1;
        let path = dir.path().join(lease_path(&key(), 0));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, serde_json::to_vec(&stale).expect("json")).expect("stale");
        assert!(matches!(b.claim(&key()), Ok(Claim::Won)));
        assert!(dir.path().join(lease_path(&key(), 1)).exists());
        b.release(&key());
        assert!(!path.exists(), "the expired generation is deleted too");
    }

    #[test]
    fn an_unreadable_lease_is_expired_warned_once_and_taken_over() {
        let dir = tempfile::tempdir().expect("tmp");
        let warned = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = warned.clone();
        let b = leases(dir.path(), 60).with_messages(
            Box::new(move |_| {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }),
            Box::new(|_| {}),
        );
        let path = dir.path().join(lease_path(&key(), 0));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, b"{ not json").expect("garbage");
        assert!(!b.still_held(&b.doc(&key(), 0), &key()).expect("read"));
        assert!(matches!(b.claim(&key()), Ok(Claim::Won)));
        assert!(dir.path().join(lease_path(&key(), 1)).exists());
        assert_eq!(warned.load(std::sync::atomic::Ordering::SeqCst), 1);
        b.release(&key());
    }

    #[test]
    fn an_expiry_past_the_timeout_counts_as_the_timeout_from_first_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = leases(dir.path(), 60);
        let mut absurd = b.doc(&key(), 0);
        absurd.host = "planted".into();
        absurd.expires = u64::MAX / 2;
        let path = dir.path().join(lease_path(&key(), 0));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, serde_json::to_vec(&absurd).expect("json")).expect("plant");
        match b.claim(&key()) {
            Ok(Claim::Held(doc)) => assert!(doc.expires <= now_secs() + 60, "{doc:?}"),
            other => panic!("a lease read now is live for its timeout: {other:?}"),
        }
        // As if first read more than a timeout ago (no sleep: the clock
        // this module keeps is set back instead).
        if let Ok(mut m) = b.first_read.lock() {
            for first in m.values_mut() {
                *first -= 61;
            }
        }
        assert!(matches!(b.claim(&key()), Ok(Claim::Won)));
        assert!(dir.path().join(lease_path(&key(), 1)).exists());
        b.release(&key());
    }

    #[test]
    fn a_run_waits_its_bounds_in_all_not_per_lease() {
        let dir = tempfile::tempdir().expect("tmp");
        let l = leases(dir.path(), 60);
        let (ttl, max) = (l.policy().ttl, l.policy().max_wait);
        assert!(l.may_wait(ttl / 2, false).is_ok());
        l.charge(ttl / 2, false);
        // Leases never seen renewed: one timeout in all, across leases
        // (the lease that spends it ends by its own expiry); then each
        // only as long as a renewal takes to be seen.
        assert!(l.may_wait(ttl, false).is_ok());
        l.charge(ttl / 2, false);
        assert!(l.may_wait(ttl / 4, false).is_ok());
        assert!(matches!(
            l.may_wait(ttl / 3 + Duration::from_secs(4), false),
            Err(WaitOver::Unrenewed(_))
        ));
        // That look spent, no lease never seen renewed is watched at all.
        l.charge(ttl / 3 + Duration::from_secs(4), false);
        assert!(l.may_wait(Duration::ZERO, false).is_err());
        // A renewed one is waited on past that…
        assert!(l.may_wait(ttl * 2, true).is_ok());
        l.charge(max - ttl, true);
        // …until the run has waited max_wait in all.
        assert!(matches!(l.may_wait(ttl / 2, true), Err(WaitOver::Run(_))));
    }

    #[test]
    fn a_lease_read_with_a_new_expiry_is_seen_renewed() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (leases(dir.path(), 60), leases(dir.path(), 60));
        assert!(matches!(a.claim(&key()), Ok(Claim::Won)));
        let Ok(Claim::Held(doc)) = b.claim(&key()) else {
            panic!("held")
        };
        assert!(!b.seen_renewed(&key(), 0));
        let mut renewed = doc.clone();
        renewed.expires += 5;
        let path = dir.path().join(lease_path(&key(), 0));
        std::fs::write(&path, serde_json::to_vec(&renewed).expect("json")).expect("renew");
        assert!(b.still_held(&doc, &key()).expect("read"));
        assert!(b.seen_renewed(&key(), 0));
        a.release(&key());
    }

    /// A lease that counts warnings, on the directory `dir`.
    fn counted(dir: &std::path::Path) -> (Leases, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let warned = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let said = warned.clone();
        let leases = leases(dir, 60).with_messages(
            Box::new(move |text| {
                if let Ok(mut w) = said.lock() {
                    w.push(text.to_owned());
                }
            }),
            Box::new(|_| {}),
        );
        (leases, warned)
    }

    /// Generation 0 of a lease that is no lease file at all (too large, a
    /// FIFO, a directory, a link): void, warned about once, and passed
    /// over to generation 1, not the end of leasing for that key.
    #[test]
    fn a_lease_that_is_no_file_is_void_and_passed_over() {
        type Plant = fn(&std::path::Path);
        let plants: [(&str, Plant); 4] = [
            ("oversized", |p| {
                std::fs::write(p, vec![b' '; 8 << 10]).expect("big");
            }),
            ("FIFO", |p| {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    p,
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o600),
                    0,
                )
                .expect("mkfifo");
            }),
            ("directory", |p| std::fs::create_dir(p).expect("dir")),
            ("symbolic link", |p| {
                std::os::unix::fs::symlink("/etc/hostname", p).expect("link");
            }),
        ];
        for (what, plant) in plants {
            let dir = tempfile::tempdir().expect("tmp");
            let (b, warned) = counted(dir.path());
            let path = dir.path().join(lease_path(&key(), 0));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            plant(&path);
            assert!(
                !b.still_held(&b.doc(&key(), 0), &key()).expect(what),
                "{what}"
            );
            assert!(
                matches!(b.claim(&key()), Ok(Claim::Won)),
                "{what}: leasing went on"
            );
            assert!(dir.path().join(lease_path(&key(), 1)).exists(), "{what}");
            let said = warned.lock().map(|w| w.clone()).unwrap_or_default();
            assert_eq!(said.len(), 1, "{what}: warned once: {said:?}");
            assert!(said[0].contains("0.json"), "{what}: {said:?}");
            b.release(&key());
        }
    }

    /// A cache that is down still ends the claim (the caller stops
    /// leasing): an S3 endpoint nothing listens on.
    #[test]
    fn a_down_cache_still_ends_the_claim() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let cache = Cache::open(
            &format!("s3://bucket?endpoint=http://127.0.0.1:{port}"),
            Default::default(),
            None,
        )
        .expect("cache");
        let b = Leases::for_cache(cache, LeasePolicy::default()).expect("s3 leases");
        match b.claim(&key()) {
            Err(LeaseError::Transport(e)) => assert!(e.is_down(), "{e}"),
            other => panic!("a down cache ends the claim: {other:?}"),
        }
    }

    /// A lease document copied from another key's or generation's path
    /// is not this path's lease: void, warned about once, passed over.
    #[test]
    fn a_lease_for_another_key_or_generation_is_void() {
        for (what, edit) in [
            (
                "key",
                (|d: &mut LeaseDoc| d.recipe_key = "cd".repeat(32)) as fn(&mut LeaseDoc),
            ),
            ("generation", |d: &mut LeaseDoc| d.generation = 5),
        ] {
            let dir = tempfile::tempdir().expect("tmp");
            let (b, warned) = counted(dir.path());
            let mut other = b.doc(&key(), 0);
            other.host = "elsewhere".into();
            edit(&mut other);
            let path = dir.path().join(lease_path(&key(), 0));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(&path, serde_json::to_vec(&other).expect("json")).expect("plant");
            assert!(
                !b.still_held(&b.doc(&key(), 0), &key()).expect("read"),
                "{what}"
            );
            assert!(matches!(b.claim(&key()), Ok(Claim::Won)), "{what}");
            assert!(dir.path().join(lease_path(&key(), 1)).exists(), "{what}");
            let said = warned.lock().map(|w| w.clone()).unwrap_or_default();
            assert_eq!(said.len(), 1, "{what}: {said:?}");
            assert!(said[0].contains("not a lease document"), "{what}: {said:?}");
            b.release(&key());
        }
    }
}
