//! Each member's share of the store: the bytes of the items only her
//! trees keep (reached from her recorded roots and from nobody else's),
//! plus the items she had built or added that nothing keeps yet (in
//! flight, or garbage until the next collection). Shared items cost
//! nobody. Trusted users and root have no limit.
//!
//! An item costs what it takes on disk (`Node::disk_charge`: every entry
//! at least a block), read once from its listing (items never change).
//! Admissions in flight reserve their size first, so parallel requests
//! cannot together pass the limit each passes alone.
//!
//! The index of items and roots is read from `db/` and kept until the
//! directories it came from change, so a check costs a walk over memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::store::{Store, StoreError};

/// What the index was read from: the modification times of `db/items`
/// and of each user's `db/roots/<uid>`.
type Stamp = (u64, Vec<Option<SystemTime>>);

struct Index {
    /// Item → (size, references, creator).
    items: HashMap<String, (u64, Vec<String>, u32)>,
    /// Recorded roots, by uid.
    roots: HashMap<u32, Vec<String>>,
    /// Recorded roots that cannot be read (`db/roots/<file>`), by uid:
    /// their user's usage is unknown, and only hers is refused (another
    /// user's broken record never stops anyone else).
    unusable: HashMap<u32, Vec<String>>,
}

/// A store's quotas.
pub(super) struct Quotas {
    /// The limit for members, in bytes (none: no limit).
    pub(super) limit: Option<u64>,
    cache: Mutex<Option<(Stamp, Index)>>,
    /// Each item's charge, by name, once read.
    charges: Mutex<HashMap<String, u64>>,
    /// Bytes reserved by admissions in flight, by uid.
    reserved: Mutex<HashMap<u32, u64>>,
    /// Bumped whenever this daemon may have changed `db/`: a directory's
    /// modification time is as coarse as the kernel's clock tick, so two
    /// admissions within one tick would otherwise look like none.
    epoch: std::sync::atomic::AtomicU64,
}

/// Bytes reserved for an admission in flight; given back when dropped
/// (by then the item's record counts instead).
pub(super) struct Reservation<'q> {
    quotas: &'q Quotas,
    uid: u32,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.quotas.changed();
        let mut reserved = self
            .quotas
            .reserved
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = reserved.get_mut(&self.uid) {
            *n = n.saturating_sub(self.bytes);
            if *n == 0 {
                reserved.remove(&self.uid);
            }
        }
    }
}

/// Why a reservation was refused.
pub(super) enum Refusal {
    /// Over the limit: used (with reservations), limit.
    Full(u64, u64),
    /// The store's records could not be read.
    Store(StoreError),
}

impl Quotas {
    pub(super) fn new(limit: Option<u64>) -> Quotas {
        Quotas {
            limit,
            cache: Mutex::new(None),
            charges: Mutex::new(HashMap::new()),
            reserved: Mutex::new(HashMap::new()),
            epoch: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Says that `db/` may have changed (a request ended).
    pub(super) fn changed(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn stamp(&self, store: &Store) -> Stamp {
        (
            self.epoch.load(std::sync::atomic::Ordering::SeqCst),
            stamp(store),
        )
    }

    /// Bytes `uid`'s admissions in flight have reserved.
    pub(super) fn reserved(&self, uid: u32) -> u64 {
        let reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        reserved.get(&uid).copied().unwrap_or(0)
    }

    /// Reserves `bytes` more for `uid` (growing `held`, or a new
    /// reservation), when her usage, her reservations and these stay
    /// within the limit. One lock orders every reservation, so parallel
    /// requests are judged one after another.
    pub(super) fn reserve<'q>(
        &'q self,
        store: &Store,
        uid: u32,
        bytes: u64,
        held: Option<Reservation<'q>>,
    ) -> Result<Reservation<'q>, Refusal> {
        let mut held = held.unwrap_or(Reservation {
            quotas: self,
            uid,
            bytes: 0,
        });
        let Some(limit) = self.limit else {
            return Ok(held);
        };
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        let used = self
            .usage(store, uid, &[])
            .map_err(Refusal::Store)?
            .saturating_add(reserved.get(&uid).copied().unwrap_or(0));
        if used.saturating_add(bytes) > limit {
            return Err(Refusal::Full(used, limit));
        }
        *reserved.entry(uid).or_default() += bytes;
        held.bytes += bytes;
        Ok(held)
    }

    /// Every item `uid` may name as a reference: what her recorded roots
    /// reach and what she admitted herself.
    pub(super) fn reachable_by(
        &self,
        store: &Store,
        uid: u32,
    ) -> Result<BTreeSet<String>, StoreError> {
        let stamp = self.stamp(store);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.as_ref().is_none_or(|(s, _)| *s != stamp) {
            *cache = Some((stamp, read(store)?));
        }
        let Some((_, index)) = cache.as_ref() else {
            return Ok(BTreeSet::new());
        };
        let mut start: Vec<String> = index.roots.get(&uid).cloned().unwrap_or_default();
        start.extend(
            index
                .items
                .iter()
                .filter(|(_, (_, _, creator))| *creator == uid)
                .map(|(name, _)| name.clone()),
        );
        Ok(reach(index, start))
    }

    /// What item `name` costs (its listing's disk charge; its file bytes
    /// when the listing cannot be read).
    fn charge(&self, store: &Store, name: &str, size: u64) -> u64 {
        if let Some(c) = self.charges.lock().ok().and_then(|c| c.get(name).copied()) {
            return c;
        }
        let charge = crate::store::item_name::ItemName::parse(name)
            .ok()
            .and_then(|n| store.listing(&n).ok().flatten())
            .and_then(|stream| crate::store::canonical::parse(&stream).ok())
            .map_or(size, |node| node.disk_charge().max(size));
        if let Ok(mut c) = self.charges.lock() {
            c.insert(name.to_owned(), charge);
        }
        charge
    }

    /// `uid`'s usage, as if `extra` (item names) were rooted by her too.
    pub(super) fn usage(
        &self,
        store: &Store,
        uid: u32,
        extra: &[String],
    ) -> Result<u64, StoreError> {
        let stamp = self.stamp(store);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.as_ref().is_none_or(|(s, _)| *s != stamp) {
            *cache = Some((stamp, read(store)?));
        }
        let Some((_, index)) = cache.as_ref() else {
            return Ok(0);
        };
        if let Some(files) = index.unusable.get(&uid) {
            for file in files {
                store.recorded_roots(file)?;
            }
        }
        let mut hers: Vec<String> = index.roots.get(&uid).cloned().unwrap_or_default();
        hers.extend(extra.iter().cloned());
        let others: Vec<String> = index
            .roots
            .iter()
            .filter(|(u, _)| **u != uid)
            .flat_map(|(_, r)| r.iter().cloned())
            .collect();
        let mine = reach(index, hers);
        let theirs = reach(index, others);
        let mut used = 0u64;
        for (name, (size, _, creator)) in &index.items {
            let kept_by_her_alone = mine.contains(name) && !theirs.contains(name);
            let hers_unkept = *creator == uid && !mine.contains(name) && !theirs.contains(name);
            if kept_by_her_alone || hers_unkept {
                used = used.saturating_add(self.charge(store, name, *size));
            }
        }
        Ok(used)
    }
}

fn reach(index: &Index, start: Vec<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = start;
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some((_, refs, _)) = index.items.get(&name) {
            queue.extend(refs.iter().filter(|r| !seen.contains(*r)).cloned());
        }
    }
    seen
}

fn stamp(store: &Store) -> Vec<Option<SystemTime>> {
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut out = vec![mtime(&store.root().join("db/items"))];
    let roots = store.root().join("db/roots");
    out.push(mtime(&roots));
    if let Ok(entries) = std::fs::read_dir(&roots) {
        let mut dirs: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        out.extend(dirs.iter().map(|d| mtime(d)));
    }
    out
}

fn read(store: &Store) -> Result<Index, StoreError> {
    let items = store
        .records()?
        .into_iter()
        .map(|(name, r)| {
            (
                name.as_str().to_owned(),
                (r.size, r.references, r.creator_uid),
            )
        })
        .collect();
    let mut roots: HashMap<u32, Vec<String>> = HashMap::new();
    let mut unusable: HashMap<u32, Vec<String>> = HashMap::new();
    for (file, registration) in store.trees()? {
        match store.recorded_roots(&file) {
            Ok(Some(recorded)) => roots
                .entry(recorded.uid)
                .or_default()
                .extend(recorded.generations.into_iter().map(|(_, item)| item)),
            Ok(None) => {}
            Err(_) => unusable.entry(registration.uid).or_default().push(file),
        }
    }
    Ok(Index {
        items,
        roots,
        unusable,
    })
}
