//! Stamps (store-format v1 stamps.md): what an item's files looked like
//! to `lstat` when it was admitted, as one digest in `db/stamps/<item>`.
//! A realisation lookup and a rock kept "installed" compare the item's
//! stamps now with the recorded ones, and re-hash the item only when they
//! differ: an edit through a tree (as root, who may write a 0444 file), a
//! file damaged on disk, is caught without re-hashing every item on every
//! install. Not ctime: a hard link (link mode `hardlink`) changes it.
//!
//! The file lists the paths it stamped, so a check `lstat`s exactly those,
//! relative to the item's descriptor, and never lists a directory: an
//! entry added, removed or renamed changes its directory's mtime, which is
//! stamped. A warm install checks every item it reuses; walking them cost
//! it ~700 syscalls (getdents, opens and closes per directory) of ~5,600.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The first word of a stamps file that lists its paths (written).
pub const MAGIC: &str = "rockstore-stamps-2";

/// The first word of a stamps file with the digest alone (read: an older
/// rockstore wrote it; checked by walking the item).
pub const MAGIC_DIGEST_ONLY: &str = "rockstore-stamps-1";

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

/// A stamps file as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Recorded<'a> {
    /// The digest of every entry's stamp.
    pub digest: &'a str,
    /// The paths stamped, besides the item's root; `None` in a file an
    /// older rockstore wrote, which must be checked by walking the item.
    pub paths: Option<Vec<&'a str>>,
}

/// The bytes of a stamps file: `rockstore-stamps-2 <hex digest>\n`, then
/// every stamped path but the root's, in bytewise order, each followed by
/// a NUL (a path may hold a newline, never a NUL).
pub fn render(stamps: &[Stamp]) -> Vec<u8> {
    let mut out = format!("{MAGIC} {}\n", digest(stamps)).into_bytes();
    let mut paths: Vec<&str> = stamps
        .iter()
        .map(|s| s.path.as_str())
        .filter(|p| !p.is_empty())
        .collect();
    paths.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for path in paths {
        out.extend_from_slice(path.as_bytes());
        out.push(0);
    }
    out
}

/// What a stamps file holds; none when it is not one.
pub fn parse(bytes: &[u8]) -> Option<Recorded<'_>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (first, rest) = text.split_once('\n')?;
    let (magic, digest) = first.split_once(' ')?;
    if digest.len() != 64 {
        return None;
    }
    match magic {
        MAGIC_DIGEST_ONLY if rest.is_empty() => Some(Recorded {
            digest,
            paths: None,
        }),
        MAGIC => {
            let body = rest.strip_suffix('\0').unwrap_or(rest);
            let paths = if body.is_empty() {
                Vec::new()
            } else {
                body.split('\0').collect()
            };
            if rest.is_empty() != paths.is_empty() || paths.iter().any(|p| p.is_empty()) {
                return None;
            }
            Some(Recorded {
                digest,
                paths: Some(paths),
            })
        }
        _ => None,
    }
}

/// The stamps of `item`'s root and of `paths` in it, each `lstat`ed
/// relative to the item's descriptor; an error when one is gone.
pub fn take_listed(item: &Path, paths: &[&str]) -> std::io::Result<Vec<Stamp>> {
    use rustix::fs::{AtFlags, Mode, OFlags, CWD};
    let root = std::fs::symlink_metadata(item)?;
    let mut out = Vec::with_capacity(paths.len() + 1);
    out.push(stamp(String::new(), &root));
    if paths.is_empty() {
        return Ok(out);
    }
    let fd = rustix::fs::openat(
        CWD,
        item,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for path in paths {
        let st = rustix::fs::statat(&fd, *path, AtFlags::SYMLINK_NOFOLLOW)?;
        out.push(Stamp {
            path: (*path).to_owned(),
            ino: st.st_ino,
            mode: st.st_mode,
            size: st.st_size as u64,
            mtime: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec as i64,
        });
    }
    Ok(out)
}

/// The digest `item` has now, taken the way `recorded` was written.
pub fn digest_now(item: &Path, recorded: &Recorded<'_>) -> Option<String> {
    let taken = match &recorded.paths {
        Some(paths) => take_listed(item, paths),
        None => take(item),
    };
    taken.ok().map(|s| digest(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item as admission leaves it: every time fixed in the past.
    fn item(root: &Path) -> std::path::PathBuf {
        let item = root.join("item");
        std::fs::create_dir_all(item.join("lua/deep")).expect("test");
        std::fs::write(item.join("lua/a.lua"), "return 1\n").expect("test");
        std::fs::write(item.join("lua/deep/b.lua"), "return 2\n").expect("test");
        std::fs::write(item.join("rock_manifest"), "x").expect("test");
        let past = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1);
        let times = std::fs::FileTimes::new().set_modified(past);
        for p in [
            "lua/a.lua",
            "lua/deep/b.lua",
            "rock_manifest",
            "lua/deep",
            "lua",
            "",
        ] {
            let f = std::fs::File::open(item.join(p)).expect("test");
            f.set_times(times).expect("test");
        }
        item
    }

    fn unchanged(item: &Path, file: &[u8]) -> bool {
        let recorded = parse(file).expect("test");
        digest_now(item, &recorded).as_deref() == Some(recorded.digest)
    }

    /// Every kind of change a walk would see, the listed check sees too,
    /// without listing a directory.
    #[test]
    fn a_listed_check_sees_what_a_walk_sees() {
        type Change = fn(&Path);
        let changes: [(&str, Change); 6] = [
            ("a file added deep", |i| {
                std::fs::write(i.join("lua/deep/new.lua"), "").expect("test")
            }),
            ("a file edited, same size", |i| {
                std::fs::write(i.join("lua/a.lua"), "return 9\n").expect("test")
            }),
            ("a file removed", |i| {
                std::fs::remove_file(i.join("lua/deep/b.lua")).expect("test")
            }),
            ("a file renamed", |i| {
                std::fs::rename(i.join("lua/a.lua"), i.join("lua/c.lua")).expect("test")
            }),
            ("a directory made a symlink", |i| {
                std::fs::rename(i.join("lua/deep"), i.join("elsewhere")).expect("test");
                std::os::unix::fs::symlink("../elsewhere", i.join("lua/deep")).expect("test");
            }),
            ("a mode changed", |i| {
                use std::os::unix::fs::PermissionsExt as _;
                let p = std::fs::Permissions::from_mode(0o777);
                std::fs::set_permissions(i.join("rock_manifest"), p).expect("test");
            }),
        ];
        for (what, change) in changes {
            let dir = tempfile::tempdir().expect("test");
            let item = item(dir.path());
            let file = render(&take(&item).expect("test"));
            assert!(unchanged(&item, &file), "{what}: fresh item");
            assert!(std::str::from_utf8(&file).expect("test").starts_with(MAGIC));
            change(&item);
            assert!(!unchanged(&item, &file), "{what}: not seen");
            let v1 = format!(
                "{MAGIC_DIGEST_ONLY} {}\n",
                parse(&file).expect("test").digest
            );
            assert!(
                !unchanged(&item, v1.as_bytes()),
                "{what}: not seen by the walk"
            );
        }
    }

    #[test]
    fn malformed_stamps_files_are_none() {
        let d = "0".repeat(64);
        for bad in [
            format!("{MAGIC} {d}"),
            format!("{MAGIC} {d}\na\0\0"),
            format!("{MAGIC_DIGEST_ONLY} {d}\nextra"),
            format!("{MAGIC} {}\n", "0".repeat(63)),
            format!("other {d}\n"),
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(
            parse(format!("{MAGIC} {d}\n").as_bytes())
                .expect("test")
                .paths,
            Some(Vec::new())
        );
    }
}
