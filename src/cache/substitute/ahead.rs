//! What is fetched ahead of the steps that need it: a level's blobs
//! once their realisations are known, and a plan document with the
//! blobs it names before their realisations are read — each bounded by
//! the prefetch budget, so memory holds at most that much at once.

use std::io::Read;
use std::sync::atomic::Ordering;

use super::{is_down, Hit, Substituters, PREFETCH_BUDGET, PREFETCH_THREADS, SPECULATIVE_BLOB};
use crate::store::content_hash::ContentHash;

impl Substituters {
    /// Downloads the blobs of `hits` now, several at once, so that each
    /// step's admission finds its bytes at hand instead of waiting for its
    /// own round trip (a cache is fastest asked in parallel, as Nix's
    /// substituters are). Failures are left for the step to meet again.
    /// Returns how many blobs and bytes arrived.
    pub fn prefetch_blobs(&self, hits: &[Hit]) -> (usize, u64) {
        // What is held already (a plan document's blobs) counts against
        // the budget: the memory bound is of everything held at once.
        let (have, held): (std::collections::HashSet<ContentHash>, u64) = self
            .downloaded
            .lock()
            .map(|m| {
                (
                    m.keys().copied().collect(),
                    m.values().map(|b| b.len() as u64).sum(),
                )
            })
            .unwrap_or_default();
        let mut budget = PREFETCH_BUDGET.saturating_sub(held);
        let wanted: Vec<&Hit> = hits
            .iter()
            // A blob of unknown size (0) is its step's to stream.
            .filter(|h| !have.contains(&h.hash) && h.doc.blob_size > 0)
            .filter(|h| {
                let fits = h.doc.blob_size <= budget;
                if fits {
                    budget -= h.doc.blob_size;
                }
                fits
            })
            .collect();
        if wanted.is_empty() {
            return (0, 0);
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..PREFETCH_THREADS.min(wanted.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(hit) = wanted.get(i) else { return };
                    let slot = &self.slots[hit.slot];
                    if slot.down.load(Ordering::SeqCst) {
                        continue;
                    }
                    let mut reader = match slot.cache.blob_sized(&hit.hash, hit.blob_bound()) {
                        Ok(Some(reader)) => reader,
                        Ok(None) => continue,
                        Err(e) => {
                            // Down (past its deadline too): skipped for
                            // the run, so the step does not ask again.
                            if is_down(&e) {
                                self.down(slot, &e);
                            }
                            continue;
                        }
                    };
                    let mut bytes = Vec::new();
                    // A blob larger than it was signed as is cut off (by
                    // the sized read) and the step's to refuse.
                    match reader.read_to_end(&mut bytes) {
                        Ok(_) if bytes.len() as u64 == hit.doc.blob_size => {
                            if let Ok(mut m) = self.downloaded.lock() {
                                m.insert(hit.hash, bytes);
                            }
                        }
                        Ok(_) => {}
                        // Cut at its deadline: the cache is down for the
                        // run, not asked for this blob again by the step.
                        Err(e) if crate::cache::transport::timed_out(&e) => {
                            self.late(slot, &hit.hash, hit.blob_bound());
                        }
                        Err(_) => {}
                    }
                });
            }
        });
        self.downloaded
            .lock()
            .map(|m| (m.len(), m.values().map(|b| b.len() as u64).sum()))
            .unwrap_or((0, 0))
    }

    /// Downloads the blobs of `hashes` (named by a plan document, before
    /// their realisations are read) from the first substituter, at once,
    /// at most [`PREFETCH_BUDGET`] bytes in all: kept only for admission,
    /// which checks each against its hash and its realisation.
    pub fn prefetch_hashes(&self, hashes: &[ContentHash]) {
        let Some(slot) = self.slots.iter().find(|s| !s.down.load(Ordering::SeqCst)) else {
            return;
        };
        let budget = std::sync::atomic::AtomicU64::new(PREFETCH_BUDGET);
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..PREFETCH_THREADS.min(hashes.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(hash) = hashes.get(i) else { return };
                    if slot.down.load(Ordering::SeqCst) {
                        return;
                    }
                    // No signed size yet (the realisations are read
                    // meanwhile): a guess bounds the read and its
                    // deadline, so a cache that stalls costs the deadline
                    // of a plausible blob, not of the whole budget. A
                    // larger blob is cut and left to its step, which
                    // knows its signed size.
                    let left = budget.load(Ordering::SeqCst);
                    if left == 0 {
                        return;
                    }
                    let guess = left.min(SPECULATIVE_BLOB);
                    let mut reader = match slot.cache.blob_sized(hash, guess) {
                        Ok(Some(reader)) => reader,
                        Ok(None) => continue,
                        Err(e) => {
                            if is_down(&e) {
                                self.down(slot, &e);
                            }
                            continue;
                        }
                    };
                    // Each chunk is taken from the budget before it is
                    // kept, so the blobs held at once, by every thread,
                    // never pass it (a blob that would is left for its
                    // step, and what it took is given back).
                    let mut bytes = Vec::new();
                    let mut chunk = vec![0u8; 64 << 10];
                    let kept = loop {
                        let n = match reader.read(&mut chunk) {
                            Ok(0) => break true,
                            Ok(n) => n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => {
                                if crate::cache::transport::timed_out(&e) {
                                    self.late(slot, hash, guess);
                                }
                                break false;
                            }
                        };
                        let taken = budget
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                                b.checked_sub(n as u64)
                            })
                            .is_ok();
                        if !taken {
                            break false;
                        }
                        bytes.extend_from_slice(&chunk[..n]);
                    };
                    if !kept {
                        budget.fetch_add(bytes.len() as u64, Ordering::SeqCst);
                        continue;
                    }
                    if let Ok(mut m) = self.downloaded.lock() {
                        m.insert(*hash, bytes);
                    }
                });
            }
        });
    }

    /// The first trusted plan document of `plan_key` (see
    /// [`crate::cache::plan_doc`]); one that does not stand is warned about.
    pub fn plan_document(
        &self,
        plan_key: &str,
        lua_abi: &str,
        platform: &str,
    ) -> Option<crate::cache::plan_doc::PlanDoc> {
        use crate::cache::plan_doc;
        for slot in &self.slots {
            if slot.down.load(Ordering::SeqCst) {
                continue;
            }
            for signer in &self.trusted {
                let path = plan_doc::plan_path(plan_key, &signer.name);
                let bytes = match slot.cache.transport().get(&path, plan_doc::MAX_PLAN_DOC) {
                    Ok(Some(bytes)) => bytes,
                    Ok(None) => continue,
                    Err(e) => {
                        if e.is_down() {
                            self.down(slot, &e.into());
                            break;
                        }
                        continue;
                    }
                };
                let checked = serde_json::from_slice::<plan_doc::PlanDoc>(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|doc| {
                        plan_doc::check(&doc, plan_key, lua_abi, platform, &self.trusted)
                            .map(|()| doc)
                            .map_err(|e| e.to_string())
                    });
                match checked {
                    Ok(_) if !self.usable(slot) => break,
                    Ok(doc) => return Some(doc),
                    Err(why) => (self.warn)(&format!(
                        "{}: refusing the plan document {path}: {why}",
                        slot.cache.url
                    )),
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::format::RealisationDoc;
    use crate::cache::Cache;
    use crate::store::item_name::ItemName;

    /// The blobs a plan document names are downloaded by many threads at
    /// once, before their signed sizes are known: a cache whose blobs are
    /// far larger than that budget (64 of 8 MiB here, on a real directory
    /// engine) gets no more than the budget held in memory, all threads
    /// together.
    #[test]
    fn blobs_prefetched_by_hash_stay_within_the_budget_all_together() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut hashes = Vec::new();
        for i in 0u32..64 {
            let hash = ContentHash(*blake3::hash(&i.to_le_bytes()).as_bytes());
            let path = dir.path().join(crate::cache::format::blob_path(&hash));
            std::fs::create_dir_all(path.parent().expect("shard")).expect("shard");
            std::fs::File::create(&path)
                .and_then(|f| f.set_len(8 << 20))
                .expect("blob");
            hashes.push(hash);
        }
        let url = format!("file://{}", dir.path().display());
        let cache = Cache::open(&url, Default::default(), None).expect("cache");
        let subs = Substituters::new(vec![cache], Vec::new(), false, Box::new(|_| {}));
        subs.prefetch_hashes(&hashes);
        let (count, held) = subs
            .downloaded
            .lock()
            .map(|m| (m.len(), m.values().map(|b| b.len() as u64).sum::<u64>()))
            .unwrap_or((0, 0));
        assert!(held <= PREFETCH_BUDGET, "{count} blobs, {held} bytes held");
        assert!(count > 0, "nothing was prefetched");

        // Then a plan level's blobs, of signed sizes: what is held counts.
        let mut hits = Vec::new();
        for i in 100u32..140 {
            let hash = ContentHash(*blake3::hash(&i.to_le_bytes()).as_bytes());
            let path = dir.path().join(crate::cache::format::blob_path(&hash));
            std::fs::create_dir_all(path.parent().expect("shard")).expect("shard");
            std::fs::File::create(&path)
                .and_then(|f| f.set_len(8 << 20))
                .expect("blob");
            hits.push(Hit {
                slot: 0,
                doc: RealisationDoc {
                    format: 1,
                    recipe_key: "ab".repeat(32),
                    item: String::new(),
                    hash: hash.to_string(),
                    size: 8 << 20,
                    blob_size: 8 << 20,
                    rock: "x 1.0-1".into(),
                    lua_abi: "5.4".into(),
                    platform: "linux-x86_64".into(),
                    signature: String::new(),
                },
                hash,
                item: ItemName::new(&hash, "x", "1.0-1").expect("name"),
            });
        }
        let (_, all) = subs.prefetch_blobs(&hits);
        assert!(all <= PREFETCH_BUDGET, "{all} bytes held in all");
    }
}
