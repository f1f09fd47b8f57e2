//! Each member's share of the store: the bytes of the items only her
//! trees keep (reached from her recorded roots and from nobody else's),
//! plus the items she had built or added that nothing keeps yet (in
//! flight, or garbage until the next collection). Shared items cost
//! nobody. Trusted users and root have no limit.
//!
//! The index of items and roots is read from `db/` and kept until the
//! directories it came from change, so a check costs a walk over memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::store::{Store, StoreError};

/// What the index was read from: the modification times of `db/items`
/// and of each user's `db/roots/<uid>`.
type Stamp = Vec<Option<SystemTime>>;

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
}

impl Quotas {
    pub(super) fn new(limit: Option<u64>) -> Quotas {
        Quotas {
            limit,
            cache: Mutex::new(None),
        }
    }

    /// `uid`'s usage, as if `extra` (item names) were rooted by her too.
    pub(super) fn usage(
        &self,
        store: &Store,
        uid: u32,
        extra: &[String],
    ) -> Result<u64, StoreError> {
        let stamp = stamp(store);
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
                used += size;
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

fn stamp(store: &Store) -> Stamp {
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
