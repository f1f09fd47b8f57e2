//! How a generation's files reach a tree (DESIGN.md "Trees as profiles",
//! store-format v1 profiles.md "Link modes"), as uv's `--link-mode` and
//! pnpm's `package-import-method`:
//!
//! - `symlink` (the default): the generation link names the profile item
//!   in the store; the tree needs the store.
//! - `hardlink`, `reflink`, `copy`: the profile item is laid out again in
//!   `<tree>/.rockstore/profiles/<profile item>/`, every link into a rock
//!   item replaced by the file itself (hard-linked, cloned with `FICLONE`,
//!   or copied), and the generation link is relative
//!   (`../profiles/<item>`): a copy, a tarball or a Docker layer of the
//!   tree works with no store at all. `auto` tries reflink, then hard
//!   link, then copy, per file.
//!
//! A hard link is made only when this process cannot write the store's
//! file: where it could (root, a group-writable store), an edit through
//! the tree would reach the shared item, so the file is copied instead and
//! counted. The whole directory is made under a temporary name, synced,
//! then renamed: a failure (a full disk) leaves no trace in the tree.

use crate::units::human;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The directory of self-contained generations, in `.rockstore/`.
pub const PROFILES: &str = "profiles";

/// Which rock item each placed file came from, in a placed profile
/// (`which` names the rock by it).
pub const ORIGINS_FILE: &str = "rockstore-origins.json";

/// How a generation's files reach the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// Links into the store (the default).
    #[default]
    Symlink,
    /// Hard links to the store's files (copies where that would be unsafe).
    Hardlink,
    /// Clones (`FICLONE`) of the store's files.
    Reflink,
    /// Copies.
    Copy,
    /// Reflink, else hard link, else copy.
    Auto,
}

impl LinkMode {
    /// Every mode's name, as the flag and config take them.
    pub const NAMES: [&'static str; 5] = ["symlink", "hardlink", "reflink", "copy", "auto"];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkMode::Symlink => "symlink",
            LinkMode::Hardlink => "hardlink",
            LinkMode::Reflink => "reflink",
            LinkMode::Copy => "copy",
            LinkMode::Auto => "auto",
        }
    }

    /// Whether the tree holds its generations' files itself.
    pub fn is_self_contained(self) -> bool {
        self != LinkMode::Symlink
    }
}

impl std::str::FromStr for LinkMode {
    type Err = LinkModeError;

    fn from_str(s: &str) -> Result<LinkMode, LinkModeError> {
        Ok(match s {
            "symlink" => LinkMode::Symlink,
            "hardlink" => LinkMode::Hardlink,
            "reflink" => LinkMode::Reflink,
            "copy" => LinkMode::Copy,
            "auto" => LinkMode::Auto,
            other => return Err(LinkModeError::Unknown(other.to_owned())),
        })
    }
}

/// Why a generation's files could not be placed in the tree.
#[derive(Debug, thiserror::Error)]
pub enum LinkModeError {
    /// Not a mode.
    #[error("unknown link mode `{0}`: use one of symlink, hardlink, reflink, copy, auto")]
    Unknown(String),
    /// Hard links cannot cross file systems.
    #[error("--link-mode hardlink: the tree {} and the store {} are on different file systems, where hard links cannot go; nothing was changed.\nUse --link-mode copy (or auto), or a store on the tree's file system", tree.display(), store.display())]
    CrossDevice {
        /// The tree.
        tree: PathBuf,
        /// The store.
        store: PathBuf,
    },
    /// The file system cannot clone files.
    #[error("--link-mode reflink: the file system of {} cannot clone files from {} ({why}); nothing was changed.\nUse --link-mode auto (clones where it can, else hard links or copies) or copy", tree.display(), store.display())]
    NoReflink {
        /// The tree.
        tree: PathBuf,
        /// The store.
        store: PathBuf,
        /// What the kernel said.
        why: String,
    },
    /// Not enough room for the copies.
    #[error("not enough space in {} for the new generation: it needs about {} and {} is free; nothing was changed", tree.display(), human(*needed), human(*free))]
    NoSpace {
        /// The tree.
        tree: PathBuf,
        /// Bytes needed.
        needed: u64,
        /// Bytes free.
        free: u64,
    },
    /// File system trouble.
    #[error("cannot place {} in the tree", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LinkModeError + '_ {
    move |source| LinkModeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How the files of one placed generation were made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Hard-linked.
    pub linked: usize,
    /// Cloned.
    pub cloned: usize,
    /// Copied because the mode says so (or auto fell back to it).
    pub copied: usize,
    /// Copied although the mode said hard link: this process could write
    /// the store's file, so a link would share it with the tree.
    pub copied_instead_of_linked: usize,
}

/// One file to place: where it goes (relative to the profile) and where
/// its bytes are.
struct Planned {
    at: PathBuf,
    from: PathBuf,
    /// The rock item it comes from; none for the profile's own files.
    origin: Option<String>,
}

/// Lexically resolves `target` (a link's target) against `dir`.
fn resolve(dir: &Path, target: &Path) -> PathBuf {
    let mut out = if target.is_absolute() {
        PathBuf::new()
    } else {
        dir.to_path_buf()
    };
    for c in target.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The rock item `path` lies in: the component after the store's `store/`.
fn origin_of(store_items: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(store_items).ok()?;
    rest.components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
}

/// Every file of the profile item at `item`, links into rock items
/// followed (a link to a directory, such as a rock's `bin/`, gives every
/// file under it). Directories come back too, so empty ones are made.
fn plan(item: &Path) -> Result<(Vec<Planned>, Vec<PathBuf>), LinkModeError> {
    let store_items = item.parent().unwrap_or(item).to_path_buf();
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let mut stack: Vec<(PathBuf, PathBuf)> = vec![(item.to_path_buf(), PathBuf::new())];
    while let Some((src, at)) = stack.pop() {
        let meta = std::fs::symlink_metadata(&src).map_err(io_err(&src))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&src).map_err(io_err(&src))?;
            let real = resolve(src.parent().unwrap_or(item), &target);
            stack.push((real, at));
        } else if meta.is_dir() {
            dirs.push(at.clone());
            for entry in std::fs::read_dir(&src).map_err(io_err(&src))? {
                let entry = entry.map_err(io_err(&src))?;
                stack.push((entry.path(), at.join(entry.file_name())));
            }
        } else {
            let origin = origin_of(&store_items, &src).filter(|o| {
                item.file_name()
                    .is_none_or(|own| own.to_string_lossy() != o.as_str())
            });
            files.push(Planned {
                at,
                from: src,
                origin,
            });
        }
    }
    Ok((files, dirs))
}

/// Whether this process may write `path` (root may write anything).
fn writable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

/// Refuses, before the tree changes, a mode the file systems cannot do:
/// hard links across file systems, clones where the tree's file system
/// has none (tried on one of the store's files).
pub fn check(mode: LinkMode, tree_meta: &Path, item: &Path) -> Result<(), LinkModeError> {
    let store = item
        .parent()
        .and_then(Path::parent)
        .unwrap_or(item)
        .to_path_buf();
    match mode {
        LinkMode::Hardlink => {
            let tree_dev = std::fs::metadata(tree_meta)
                .map_err(io_err(tree_meta))?
                .dev();
            let store_dev = std::fs::metadata(item).map_err(io_err(item))?.dev();
            if tree_dev != store_dev {
                return Err(LinkModeError::CrossDevice {
                    tree: tree_meta.parent().unwrap_or(tree_meta).to_path_buf(),
                    store,
                });
            }
        }
        LinkMode::Reflink => {
            let probe_src = item.join(crate::tree::profile::PROFILE_FILE);
            let probe = tree_meta.join(crate::tree::temp_name::of("reflink-probe"));
            let result = clone_file(&probe_src, &probe);
            let _ = std::fs::remove_file(&probe);
            if let Err(e) = result {
                return Err(LinkModeError::NoReflink {
                    tree: tree_meta.parent().unwrap_or(tree_meta).to_path_buf(),
                    store,
                    why: e.to_string(),
                });
            }
        }
        _ => {}
    }
    Ok(())
}

/// Clones `from` into a new file `to` (`FICLONE`).
fn clone_file(from: &Path, to: &Path) -> io::Result<()> {
    let src = std::fs::File::open(from)?;
    let dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    if let Err(e) = rustix::fs::ioctl_ficlone(&dst, &src) {
        drop(dst);
        let _ = std::fs::remove_file(to);
        return Err(e.into());
    }
    let mode = std::fs::metadata(from)?.permissions();
    dst.set_permissions(mode)
}

/// Places one file by `mode`; what it did.
fn place_one(mode: LinkMode, from: &Path, to: &Path, placed: &mut Placed) -> io::Result<()> {
    let may_link = !writable(from);
    let try_link = |placed: &mut Placed| -> io::Result<bool> {
        if !may_link {
            return Ok(false);
        }
        match std::fs::hard_link(from, to) {
            Ok(()) => {
                placed.linked += 1;
                Ok(true)
            }
            // Across file systems, or an immutable (sealed) item: copied.
            Err(e)
                if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error())
                    || e.kind() == io::ErrorKind::PermissionDenied =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    };
    match mode {
        LinkMode::Hardlink => {
            if try_link(placed)? {
                return Ok(());
            }
            placed.copied_instead_of_linked += 1;
        }
        LinkMode::Reflink => {
            clone_file(from, to)?;
            placed.cloned += 1;
            return Ok(());
        }
        LinkMode::Auto => {
            if clone_file(from, to).is_ok() {
                placed.cloned += 1;
                return Ok(());
            }
            if try_link(placed)? {
                return Ok(());
            }
            placed.copied += 1;
        }
        LinkMode::Copy | LinkMode::Symlink => placed.copied += 1,
    }
    std::fs::copy(from, to)?;
    Ok(())
}

/// Bytes a placement by `mode` would write (what is copied; a clone or
/// a hard link costs no data blocks), with a margin for directories.
fn bytes_needed(mode: LinkMode, files: &[Planned]) -> u64 {
    let mut total: u64 = 0;
    for f in files {
        let size = std::fs::metadata(&f.from).map_or(0, |m| m.len());
        let copies = match mode {
            LinkMode::Copy | LinkMode::Symlink => true,
            // A clone needs no data blocks; a hard link none either.
            LinkMode::Reflink => false,
            // Hard links where allowed, else copies.
            LinkMode::Hardlink | LinkMode::Auto => f.origin.is_none() || writable(&f.from),
        };
        // Every file costs at least a block, its inode aside.
        total += if copies {
            size.div_ceil(4096) * 4096
        } else {
            0
        } + 256;
    }
    total
}

/// Free bytes for this process on the file system of `dir`.
pub fn free_space(dir: &Path) -> Option<u64> {
    let v = rustix::fs::statvfs(dir).ok()?;
    Some(v.f_bavail.saturating_mul(v.f_frsize))
}

/// Lays out the profile item at `item` in `<tree_meta>/profiles/<item
/// name>/` by `mode` (not [`LinkMode::Symlink`]). Made under a temporary
/// name, synced, renamed: on any failure nothing new is left in the tree.
/// An existing directory of that name (the same generation content) is
/// kept as it is.
pub fn place(
    mode: LinkMode,
    tree_meta: &Path,
    item: &Path,
) -> Result<(PathBuf, Placed), LinkModeError> {
    let name = item
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let profiles = tree_meta.join(PROFILES);
    let dest = profiles.join(&name);
    if dest.join(crate::tree::profile::PROFILE_FILE).exists() {
        return Ok((dest, Placed::default()));
    }
    std::fs::create_dir_all(&profiles).map_err(io_err(&profiles))?;
    check(mode, tree_meta, item)?;
    let (files, dirs) = plan(item)?;
    let needed = bytes_needed(mode, &files);
    if let Some(free) = free_space(&profiles) {
        if needed > free {
            return Err(LinkModeError::NoSpace {
                tree: tree_meta.parent().unwrap_or(tree_meta).to_path_buf(),
                needed,
                free,
            });
        }
    }
    let temp = profiles.join(crate::tree::temp_name::of(&name));
    let _ = std::fs::remove_dir_all(&temp);
    let made = (|| -> Result<Placed, LinkModeError> {
        let mut placed = Placed::default();
        for d in &dirs {
            let dir = temp.join(d);
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let mut origins: BTreeMap<String, String> = BTreeMap::new();
        for f in &files {
            let to = temp.join(&f.at);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            match &f.origin {
                Some(origin) => {
                    place_one(mode, &f.from, &to, &mut placed).map_err(io_err(&to))?;
                    origins.insert(f.at.to_string_lossy().into_owned(), origin.clone());
                }
                // The profile's own files (manifest, wrappers) are this
                // tree's: always copied.
                None => {
                    std::fs::copy(&f.from, &to).map_err(io_err(&to))?;
                }
            }
        }
        let json = serde_json::to_vec_pretty(&origins).unwrap_or_default();
        let at = temp.join(ORIGINS_FILE);
        std::fs::write(&at, json).map_err(io_err(&at))?;
        let dir = std::fs::File::open(&temp).map_err(io_err(&temp))?;
        rustix::fs::syncfs(&dir).map_err(|e| io_err(&temp)(e.into()))?;
        std::fs::rename(&temp, &dest).map_err(io_err(&dest))?;
        if let Ok(d) = std::fs::File::open(&profiles) {
            let _ = d.sync_all();
        }
        Ok(placed)
    })();
    match made {
        Ok(placed) => Ok((dest, placed)),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&temp);
            // A disk that filled meanwhile: said with the amounts.
            if let LinkModeError::Io { source, .. } = &e {
                if source.kind() == io::ErrorKind::StorageFull {
                    return Err(LinkModeError::NoSpace {
                        tree: tree_meta.parent().unwrap_or(tree_meta).to_path_buf(),
                        needed,
                        free: free_space(&profiles).unwrap_or(0),
                    });
                }
            }
            Err(e)
        }
    }
}

/// The rock item a placed file came from: `real` is a path inside
/// `.rockstore/profiles/<item>/`.
pub fn origin_in_placed(real: &Path) -> Option<String> {
    let mut dir = real.parent();
    while let Some(d) = dir {
        if d.parent().and_then(Path::file_name) == Some(std::ffi::OsStr::new(PROFILES)) {
            let rel = real.strip_prefix(d).ok()?;
            let bytes = std::fs::read(d.join(ORIGINS_FILE)).ok()?;
            let map: BTreeMap<String, String> = serde_json::from_slice(&bytes).ok()?;
            return map.get(&*rel.to_string_lossy()).cloned();
        }
        dir = d.parent();
    }
    None
}

/// Removes the placed profiles no generation of the tree names any more
/// (after generations were deleted, or a switch left one unused).
pub fn remove_unused(tree_meta: &Path) {
    let profiles = tree_meta.join(PROFILES);
    let Ok(entries) = std::fs::read_dir(&profiles) else {
        return;
    };
    let mut used = std::collections::BTreeSet::new();
    if let Ok(gens) = std::fs::read_dir(tree_meta.join("generations")) {
        for g in gens.flatten() {
            if let Ok(target) = std::fs::read_link(g.path()) {
                if let Some(n) = target.file_name() {
                    used.insert(n.to_owned());
                }
            }
        }
    }
    for entry in entries.flatten() {
        let name = entry.file_name();
        if crate::tree::temp_name::is_temp(&name) || used.contains(&name) {
            continue;
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_links_resolve() {
        for n in LinkMode::NAMES {
            assert_eq!(n.parse::<LinkMode>().map(LinkMode::as_str).ok(), Some(n));
        }
        assert!("clone".parse::<LinkMode>().is_err());
        assert_eq!(
            resolve(
                Path::new("/s/store/P/share/lua/5.4"),
                Path::new("../../../../I/lua/a.lua")
            ),
            PathBuf::from("/s/store/I/lua/a.lua")
        );
    }
}
