//! Garbage collection: roots are every generation link of every registered
//! tree; an item is live when a root reaches it through records'
//! `references`. Everything else is swept under the exclusive store lock,
//! which every install holds shared from its first build to its switch, so
//! a GC never frees what an install in flight has admitted.
//! Registrations of trees that are gone are dropped.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use crate::store::item_name::ItemName;
use crate::store::lock::LockMode;
use crate::store::{Item, Store, StoreError};
use crate::tree::META;

/// What a GC found (and, unless a dry run, did).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct GcReport {
    /// Items swept, with their sizes.
    pub freed: Vec<(String, u64)>,
    /// Items kept.
    pub kept: usize,
    /// Registered trees that no longer exist.
    pub dropped_trees: Vec<PathBuf>,
    /// Invisible garbage swept: item directories without a record and
    /// leftovers in `tmp/` (killed admissions, builds and GCs).
    pub garbage: Vec<String>,
}

/// A root: a tree's generation and the item it links to.
#[derive(Debug, Clone)]
pub struct Root {
    /// The tree.
    pub tree: PathBuf,
    /// The generation number.
    pub generation: u64,
    /// The profile item's name.
    pub item: String,
}

/// A registration whose tree is gone: its id and path.
pub type GoneTree = (String, PathBuf);

/// Reads every registered tree's generations. Returns the roots and the
/// registrations whose tree is gone.
///
/// A generation link names an item by a path that may spell the store
/// another way (through a symlink, with `..`): whether it is this store's
/// is decided by the identity (device, inode) of the directory it points
/// into, never by its text. A tree that exists but cannot be read is an
/// error, not a tree that is gone: its roots are unknown, so nothing may be
/// swept.
pub fn roots(store: &Store) -> Result<(Vec<Root>, Vec<GoneTree>), StoreError> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let mut roots = Vec::new();
    let mut gone = Vec::new();
    let items_dir = store.root().join("store");
    let identity = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let store_id = identity(&items_dir).ok_or_else(|| StoreError::NotAStore {
        path: store.root().to_path_buf(),
    })?;
    let mut is_ours: BTreeMap<PathBuf, bool> = BTreeMap::new();
    for (id, reg) in store.trees()? {
        let tree = PathBuf::from(std::ffi::OsStr::from_bytes(&reg.path));
        let generations = tree.join(META).join("generations");
        let entries = match std::fs::read_dir(&generations) {
            Ok(entries) => entries,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                gone.push((id, tree));
                continue;
            }
            Err(source) => {
                return Err(StoreError::UnreadableTree {
                    path: generations,
                    source,
                })
            }
        };
        for entry in entries.flatten() {
            let Ok(number) = entry.file_name().to_string_lossy().parse::<u64>() else {
                continue;
            };
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let target = if target.is_relative() {
                generations.join(target)
            } else {
                target
            };
            let Some(parent) = target.parent() else {
                continue;
            };
            let ours = *is_ours
                .entry(parent.to_path_buf())
                .or_insert_with(|| identity(parent) == Some(store_id));
            if !ours {
                continue; // another store's item
            }
            if let Some(name) = target.file_name() {
                roots.push(Root {
                    tree: tree.clone(),
                    generation: number,
                    item: name.to_string_lossy().into_owned(),
                });
            }
        }
    }
    Ok((roots, gone))
}

/// Every item reachable from `start` through references, with the item
/// that first reached it (for `why`).
fn reach(
    by_name: &BTreeMap<String, Item>,
    start: impl IntoIterator<Item = String>,
) -> BTreeMap<String, Option<String>> {
    let mut parent: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    for s in start {
        if by_name.contains_key(&s) && !parent.contains_key(&s) {
            parent.insert(s.clone(), None);
            queue.push_back(s);
        }
    }
    while let Some(name) = queue.pop_front() {
        let Some(item) = by_name.get(&name) else {
            continue;
        };
        for r in &item.record.references {
            if by_name.contains_key(r) && !parent.contains_key(r) {
                parent.insert(r.clone(), Some(name.clone()));
                queue.push_back(r.clone());
            }
        }
    }
    parent
}

/// Collects garbage (or only reports, with `dry_run`).
pub fn collect(store: &Store, dry_run: bool) -> Result<GcReport, StoreError> {
    if !dry_run && !store.may_sweep()? {
        return Err(StoreError::NotOwner {
            root: store.root().to_path_buf(),
            owner: store.owner_uid()?,
        });
    }
    let exclusive = store.lock(LockMode::Exclusive)?;
    let (roots, gone) = roots(store)?;
    let by_name: BTreeMap<String, Item> = store
        .records()?
        .into_iter()
        .map(|(name, record)| {
            (
                name.as_str().to_owned(),
                Item {
                    path: store.item_path(&name),
                    name,
                    record,
                },
            )
        })
        .collect();
    let live = reach(&by_name, roots.iter().map(|r| r.item.clone()));
    let mut report = GcReport {
        kept: live.len(),
        dropped_trees: gone.iter().map(|(_, p)| p.clone()).collect(),
        ..GcReport::default()
    };
    let mut doomed = Vec::new();
    for (name, item) in &by_name {
        if !live.contains_key(name) {
            report.freed.push((name.clone(), item.record.size));
            doomed.push(item.name.clone());
        }
    }
    if !dry_run {
        for (id, _) in &gone {
            store.unregister_tree(id)?;
        }
        store.delete(&exclusive, &doomed)?;
        report.garbage = store.sweep_garbage(&exclusive)?;
        // Scratch copies a killed adoption left in a tree's `.rockstore/`.
        for (_, reg) in store.trees()? {
            use std::os::unix::ffi::OsStrExt;
            let tree = PathBuf::from(std::ffi::OsStr::from_bytes(&reg.path));
            for rel in crate::tree::temp_name::sweep_meta_if_free(&tree) {
                report.garbage.push(tree.join(rel).display().to_string());
            }
        }
    }
    Ok(report)
}

/// Why `item` is alive: a chain from a root (tree, generation) through
/// items to it, or `None` when nothing keeps it.
pub fn why(store: &Store, item: &ItemName) -> Result<Option<(Root, Vec<String>)>, StoreError> {
    let _shared = store.lock(LockMode::Shared)?;
    let (roots, _) = roots(store)?;
    let by_name: BTreeMap<String, Item> = store
        .list()?
        .into_iter()
        .map(|i| (i.name.as_str().to_owned(), i))
        .collect();
    for root in roots {
        let reached = reach(&by_name, [root.item.clone()]);
        if reached.contains_key(item.as_str()) {
            let mut chain = vec![item.as_str().to_owned()];
            let mut at = item.as_str().to_owned();
            while let Some(Some(p)) = reached.get(&at) {
                chain.push(p.clone());
                at = p.clone();
            }
            chain.reverse();
            return Ok(Some((root, chain)));
        }
    }
    Ok(None)
}
