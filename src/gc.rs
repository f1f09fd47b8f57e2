//! Garbage collection: roots are every generation link of every registered
//! tree; an item is live when a root reaches it through records'
//! `references`. Everything else is swept under the exclusive store lock,
//! which every install holds shared from its first build to its switch, so
//! a GC never frees what an install in flight has admitted.
//! Registrations of trees that are gone are dropped.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

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

/// The roots of every registered tree, and the registrations whose tree
/// is gone.
///
/// In a daemon store, GC never reads a tree: it takes the roots the
/// daemon recorded when the tree last changed (`db/roots`), and only asks
/// whether the tree's `.rockstore` still exists — gone only when the
/// answer is "no such file"; a tree it cannot look at (no permission, a
/// link loop) keeps its recorded roots. In one's own store the trees are
/// read (they are one's own), and a tree that cannot be read falls back
/// to its recorded roots, or stops the collection when it has none: an
/// unreadable tree is never taken for a gone one.
///
/// A generation link names an item by a path that may spell the store
/// another way (through a symlink, with `..`): whether it is this store's
/// is decided by the identity (device, inode) of the directory it points
/// into, never by its text.
pub fn roots(store: &Store) -> Result<(Vec<Root>, Vec<GoneTree>), StoreError> {
    use std::os::unix::ffi::OsStrExt;
    let mut roots = Vec::new();
    let mut gone = Vec::new();
    let reader = TreeReader::new(store)?;
    for (id, reg) in store.trees()? {
        let tree = PathBuf::from(std::ffi::OsStr::from_bytes(&reg.path));
        let recorded = store.recorded_roots(&id)?;
        let from_record = |r: &crate::store::db::TreeRoots| {
            r.generations
                .iter()
                .map(|(generation, item)| Root {
                    tree: tree.clone(),
                    generation: *generation,
                    item: item.clone(),
                })
                .collect::<Vec<_>>()
        };
        if store.is_daemon_store() {
            if gone_for(&tree, reg.uid) {
                gone.push((id, tree));
                continue;
            }
            if let Some(r) = &recorded {
                roots.extend(from_record(r));
                continue;
            }
        }
        match reader.read(&tree) {
            Ok(Some(found)) => roots.extend(found),
            Ok(None) => gone.push((id, tree)),
            Err(source) => match &recorded {
                Some(r) => roots.extend(from_record(r)),
                None => {
                    return Err(StoreError::UnreadableTree {
                        path: tree.join(META).join("generations"),
                        source,
                    })
                }
            },
        }
    }
    Ok((roots, gone))
}

/// Whether the tree at `tree`, registered by `uid`, is gone: its
/// `.rockstore` is not there as `uid` sees it, with no symbolic link on the
/// way (for another user than the collector's own). Looked at with her rights, so a path she cannot search (or a link
/// that leads where she cannot) keeps its roots, and her registrations
/// tell her nothing about what exists where she cannot look.
fn gone_for(tree: &std::path::Path, uid: u32) -> bool {
    use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
    let look = || {
        rustix::fs::openat2(
            CWD,
            tree.join(META),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map(drop)
    };
    if rustix::process::geteuid().as_raw() == uid {
        // The collector's own trees (root's): nothing to hide from it, and
        // a tree reached through a link still goes when it is gone.
        return matches!(
            std::fs::symlink_metadata(tree.join(META)).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
        );
    }
    let user = crate::users::BuildUser {
        uid,
        gid: crate::users::primary_gid(uid).unwrap_or(crate::users::NOBODY.gid),
    };
    let Ok(seen) = crate::users::as_user(user, look) else {
        // Cannot look as her: the tree keeps its roots.
        return false;
    };
    matches!(
        seen,
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR)
    )
}

/// Reads trees' generation links, deciding by identity which are this
/// store's items.
struct TreeReader {
    store_id: (u64, u64),
    is_ours: std::cell::RefCell<BTreeMap<PathBuf, bool>>,
}

fn identity(p: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

impl TreeReader {
    fn new(store: &Store) -> Result<TreeReader, StoreError> {
        let store_id =
            identity(&store.root().join("store")).ok_or_else(|| StoreError::NotAStore {
                path: store.root().to_path_buf(),
            })?;
        Ok(TreeReader {
            store_id,
            is_ours: Default::default(),
        })
    }

    /// The tree's roots; `None` when the tree is gone.
    fn read(&self, tree: &std::path::Path) -> std::io::Result<Option<Vec<Root>>> {
        let generations = tree.join(META).join("generations");
        let entries = match std::fs::read_dir(&generations) {
            Ok(entries) => entries,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let mut roots = Vec::new();
        for entry in entries {
            // An entry or link that cannot be read is an error: its item
            // is unknown, and must not be swept.
            let entry = entry?;
            let Ok(number) = entry.file_name().to_string_lossy().parse::<u64>() else {
                continue;
            };
            let target = std::fs::read_link(entry.path())?;
            // A self-contained generation (`../profiles/<item>`, see
            // tree::link_mode) names the profile item it was placed from:
            // kept, so the tree's next change reuses its rocks.
            if target.is_relative()
                && target.parent().and_then(Path::file_name)
                    == Some(std::ffi::OsStr::new(crate::tree::link_mode::PROFILES))
            {
                if let Some(name) = target.file_name() {
                    roots.push(Root {
                        tree: tree.to_path_buf(),
                        generation: number,
                        item: name.to_string_lossy().into_owned(),
                    });
                }
                continue;
            }
            let target = if target.is_relative() {
                generations.join(target)
            } else {
                target
            };
            let Some(parent) = target.parent() else {
                continue;
            };
            let ours = *self
                .is_ours
                .borrow_mut()
                .entry(parent.to_path_buf())
                .or_insert_with(|| identity(parent) == Some(self.store_id));
            if !ours {
                continue; // another store's item
            }
            if let Some(name) = target.file_name() {
                roots.push(Root {
                    tree: tree.to_path_buf(),
                    generation: number,
                    item: name.to_string_lossy().into_owned(),
                });
            }
        }
        Ok(Some(roots))
    }
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

/// How long a collection waits for installs in flight (which hold the
/// store lock shared) before it gives up and says so.
pub const GC_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Collects garbage (or only reports, with `dry_run`).
pub fn collect(store: &Store, dry_run: bool) -> Result<GcReport, StoreError> {
    collect_as(store, dry_run, None)
}

/// [`collect`] on behalf of `viewer` (a daemon's member): her report
/// names only her own trees.
pub fn collect_as(
    store: &Store,
    dry_run: bool,
    viewer: Option<u32>,
) -> Result<GcReport, StoreError> {
    if !dry_run && !store.may_sweep()? {
        return Err(StoreError::NotOwner {
            root: store.root().to_path_buf(),
            owner: store.owner_uid()?,
        });
    }
    let exclusive = store.lock_within(LockMode::Exclusive, GC_WAIT)?;
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
    let mine = |id: &str| viewer.is_none_or(|uid| id.starts_with(&format!("{uid}/")));
    let mut report = GcReport {
        kept: live.len(),
        dropped_trees: gone
            .iter()
            .filter(|(id, _)| mine(id))
            .map(|(_, p)| p.clone())
            .collect(),
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
