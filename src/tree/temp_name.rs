//! The one pattern of the temporary names rockstore puts into a tree
//! (store-format v1 profiles.md, "Temporary names"):
//!
//! ```text
//! .<final name>.rockstore-<pid>
//! ```
//! beside the entry it is about to replace (a link, a manifest, a copy of
//! a rock directory, LuaRocks' old rock directory after an exchange), or
//! inside `.rockstore/` (the new `current`, a generation link, a marker,
//! an adoption's scratch copies). Every writer holds the tree lock while
//! such a name exists, so under that lock every one found belongs to a
//! process that is gone: [`sweep`] removes them (a directory with its
//! contents), and nothing else ever reads one — in particular a rock
//! directory under such a name is never taken for a rock.
//!
//! Earlier versions also wrote `.<name>.rockstore-release-<pid>` (release
//! copies), and in `.rockstore/` `.current-<pid>.tmp`, `.<N>.tmp`,
//! `<marker>.tmp-<pid>` and `.adopt-<random>`; they are recognised too.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::META;

/// What every temporary name carries before the process id.
const INFIX: &str = ".rockstore-";

/// The temporary name beside `path` for something about to replace it.
pub fn beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(of(&name))
}

/// The temporary name for `name` (in whatever directory it goes).
pub fn of(name: &str) -> String {
    format!(".{name}{INFIX}{}", std::process::id())
}

/// Whether `name` is a temporary name (of this version or an earlier one).
pub fn is_temp(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some((_, tail)) = rest.rsplit_once(INFIX) else {
        return false;
    };
    let pid = tail.strip_prefix("release-").unwrap_or(tail);
    !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `name`, inside `.rockstore/` or its `generations/`, is a
/// temporary name of an earlier version.
fn is_legacy_meta_temp(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    (name.starts_with('.') && name.ends_with(".tmp"))
        || name.starts_with(".adopt-")
        || name.contains(".tmp-")
}

/// Removes every temporary name in the tree at `root`: in `.rockstore/`
/// and `generations/`, and in the places links go for every Lua version
/// (at any depth). The caller holds the tree lock. Returns what was
/// removed, relative to the tree; what cannot be removed stays for the
/// next sweep.
pub fn sweep(root: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let meta = PathBuf::from(META);
    for dir in [
        meta.clone(),
        meta.join("generations"),
        meta.join("profiles"),
    ] {
        sweep_dir(root, &dir, Some(1), true, &mut removed);
    }
    for v in crate::lua_install::KNOWN_VERSIONS {
        sweep_dir(
            root,
            Path::new(&format!("share/lua/{v}")),
            None,
            false,
            &mut removed,
        );
        sweep_dir(
            root,
            Path::new(&format!("lib/lua/{v}")),
            None,
            false,
            &mut removed,
        );
        sweep_dir(
            root,
            Path::new(&format!("lib/luarocks/rocks-{v}")),
            Some(2),
            false,
            &mut removed,
        );
    }
    sweep_dir(root, Path::new("bin"), Some(1), false, &mut removed);
    removed
}

/// Removes the temporary names directly in `.rockstore/` (the scratch
/// copies of a killed adoption, a marker's temp file) when the tree lock
/// is free at once: what `gc` does for each registered tree, never waiting
/// for a tree (an installer holding one waits for GC's store lock) nor
/// walking its links, and only in a tree of its own user's. Returns what
/// was removed, relative to the tree.
pub fn sweep_meta_if_free(root: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    // Only a real `.rockstore/` of this user's: a daemon's GC (root) never
    // removes anything in a member's tree, and nobody follows a link there.
    let mine = std::fs::symlink_metadata(root.join(META))
        .is_ok_and(|m| m.is_dir() && m.uid() == rustix::process::geteuid().as_raw());
    if !mine {
        return Vec::new();
    }
    let lock = root.join(META).join("lock");
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(&lock) else {
        return Vec::new();
    };
    if fs2::FileExt::try_lock_exclusive(&file).is_err() {
        return Vec::new();
    }
    let removed = sweep_meta(root);
    drop(file);
    removed
}

/// Whether `.rockstore/` or `generations/` holds a temporary name: a
/// look at two small directories.
pub fn any_in_meta(root: &Path) -> bool {
    let meta = root.join(META);
    [
        meta.clone(),
        meta.join("generations"),
        meta.join("profiles"),
    ]
    .iter()
    .any(|dir| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let name = e.file_name();
                is_temp(&name) || is_legacy_meta_temp(&name)
            })
    })
}

/// Removes the temporary names in `.rockstore/` and `generations/` (a
/// marker or a generation link a kill left half made), two small
/// directories: what every change does first. The caller holds the tree
/// lock.
pub fn sweep_meta(root: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let meta = PathBuf::from(META);
    for dir in [
        meta.clone(),
        meta.join("generations"),
        meta.join("profiles"),
    ] {
        sweep_dir(root, &dir, Some(1), true, &mut removed);
    }
    removed
}

/// Sweeps `rel` (relative to `root`) down to `depth` levels (`None`: all),
/// never following links.
fn sweep_dir(
    root: &Path,
    rel: &Path,
    depth: Option<usize>,
    meta: bool,
    removed: &mut Vec<PathBuf>,
) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let child = rel.join(&name);
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if is_temp(&name) || (meta && is_legacy_meta_temp(&name)) {
            let path = entry.path();
            let gone = if kind.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if gone.is_ok() {
                removed.push(child);
            }
        } else if kind.is_dir() && depth != Some(1) {
            sweep_dir(root, &child, depth.map(|d| d - 1), meta, removed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised_and_rocks_are_not() {
        for temp in [
            ".1.0-1.rockstore-4242",
            ".manifest.rockstore-7",
            ".foo.lua.rockstore-release-12",
            ".current.rockstore-1",
            &of("x.lua"),
        ] {
            assert!(is_temp(OsStr::new(temp)), "{temp}");
        }
        for name in [
            "1.0-1",
            "manifest",
            "foo.rockstore-12",
            ".foo.rockstore-",
            ".foo.rockstore-12a",
            ".rockstore",
            "rockstore-profile.json",
        ] {
            assert!(!is_temp(OsStr::new(name)), "{name}");
        }
        assert_eq!(
            beside(Path::new("/t/lib/luarocks/rocks-5.4/manifest")),
            PathBuf::from(format!(
                "/t/lib/luarocks/rocks-5.4/.manifest.rockstore-{}",
                std::process::id()
            ))
        );
    }
}
