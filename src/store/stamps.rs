//! Stamps (store-format v1 stamps.md): what an item's files looked like
//! to `lstat` when it was admitted, as one digest in `db/stamps/<item>`.
//! A realisation lookup and a rock kept "installed" compare the item's
//! stamps now with the recorded ones, and re-hash the item only when they
//! differ: an edit through a tree (as root, who may write a 0444 file), a
//! file damaged on disk, is caught without re-hashing every item on every
//! install. Not ctime: a hard link (link mode `hardlink`) changes it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The first word of a stamps file.
pub const MAGIC: &str = "rockstore-stamps-1";

/// One entry's stamp: its path in the item ("" for the item's root) and
/// what `lstat` says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    /// Path relative to the item, `/`-separated.
    pub path: String,
    /// Inode number.
    pub ino: u64,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: i64,
}

/// The digest of `stamps` (any order: sorted here by path bytes): blake3
/// over, per entry, the path, a NUL, then `ino` u64, `mode` u32, `size`
/// u64, `mtime` i64, `mtime_nsec` i64, all little-endian.
pub fn digest(stamps: &[Stamp]) -> String {
    let mut sorted: Vec<&Stamp> = stamps.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut h = blake3::Hasher::new();
    for s in sorted {
        h.update(s.path.as_bytes());
        h.update(&[0]);
        h.update(&s.ino.to_le_bytes());
        h.update(&s.mode.to_le_bytes());
        h.update(&s.size.to_le_bytes());
        h.update(&s.mtime.to_le_bytes());
        h.update(&s.mtime_nsec.to_le_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// The stamps of everything under `item` (never following links).
/// Each entry is stat'ed once, relative to its directory's open descriptor
/// (`DirEntry::metadata` is `fstatat` without following), not by a full
/// path walked again from `/`: this runs on every warm install, for every
/// item reused.
pub fn take(item: &Path) -> std::io::Result<Vec<Stamp>> {
    let root = std::fs::symlink_metadata(item)?;
    let mut out = vec![stamp(String::new(), &root)];
    let mut dirs = Vec::new();
    if root.is_dir() {
        dirs.push((item.to_path_buf(), String::new()));
    }
    while let Some((path, rel)) = dirs.pop() {
        for entry in std::fs::read_dir(&path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let m = entry.metadata()?;
            if m.is_dir() {
                dirs.push((entry.path(), child.clone()));
            }
            out.push(stamp(child, &m));
        }
    }
    Ok(out)
}

fn stamp(path: String, m: &std::fs::Metadata) -> Stamp {
    Stamp {
        path,
        ino: m.ino(),
        mode: m.mode(),
        size: m.size(),
        mtime: m.mtime(),
        mtime_nsec: m.mtime_nsec(),
    }
}

/// The text of a stamps file: `rockstore-stamps-1 <hex digest>\n`.
pub fn render(digest: &str) -> String {
    format!("{MAGIC} {digest}\n")
}

/// The digest a stamps file holds; none when it is not one.
pub fn parse(text: &str) -> Option<&str> {
    let (magic, digest) = text.trim_end().split_once(' ')?;
    (magic == MAGIC && digest.len() == 64).then_some(digest)
}
