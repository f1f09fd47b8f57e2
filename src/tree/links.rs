//! The links that show a tree's current generation: one per entry, in real
//! directories that may also hold others' files.
//!
//! ```text
//! <tree>/share/lua/<5.x>/<path>                 → ../…/.rockstore/current/share/lua/<5.x>/<path>   (each file)
//! <tree>/lib/lua/<5.x>/<path>                   → ../…/.rockstore/current/lib/lua/<5.x>/<path>
//! <tree>/lib/luarocks/rocks-<5.x>/<name>/<ver>  → ../../../../.rockstore/current/lib/luarocks/rocks-<5.x>/<name>/<ver>
//! <tree>/lib/luarocks/rocks-<5.x>/manifest      a real file: the current generation's, copied after each switch
//! <tree>/bin/<cmd>                              → ../.rockstore/current/bin/<cmd>
//! ```
//! Why per entry and not one link per directory: LuaRocks, run on the same
//! tree (`sudo luarocks install` by habit), creates, renames and deletes
//! entries in these directories. Through a directory link it would create
//! them inside a store item — as root, in spite of the item's modes. It
//! never writes through an existing entry (it deletes or renames it
//! first), except its manifest, which it opens for writing: so that one is
//! a real file. Per-entry links also let a tree share `/usr/local/share/lua`
//! with hand-installed modules, which stay where and what they are.
//!
//! Every link goes through `current`, so switching is still one rename for
//! every entry both generations have. Entries a new generation adds are
//! linked before the switch (dangling until then); entries it drops are
//! unlinked after. A link is "ours" when its target goes through
//! `.rockstore/current/` from where it sits; nothing else is ever removed.
//! Trees made before this layout (one link per directory) are converted on
//! their next switch.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use super::temp_name::is_temp;
use super::{io_err, TreeError, META};
use crate::rock_id::RockId;

/// The directories holding a generation's entries, relative to the tree,
/// with how deep their entries sit (`None`: any depth).
fn bases(lua_version: &str) -> [(PathBuf, Option<usize>); 4] {
    [
        (PathBuf::from(format!("share/lua/{lua_version}")), None),
        (PathBuf::from(format!("lib/lua/{lua_version}")), None),
        (
            PathBuf::from(format!("lib/luarocks/rocks-{lua_version}")),
            Some(2),
        ),
        (PathBuf::from("bin"), Some(1)),
    ]
}

/// The manifest's place, relative to the tree.
pub fn manifest_path(lua_version: &str) -> PathBuf {
    PathBuf::from(format!("lib/luarocks/rocks-{lua_version}/manifest"))
}

/// The link an entry at `rel` (relative to the tree) must be.
pub fn target_of(rel: &Path) -> PathBuf {
    let mut target = PathBuf::new();
    for _ in 1..rel.components().count() {
        target.push("..");
    }
    target.push(META);
    target.push("current");
    target.push(rel);
    target
}

/// Whether a link at `rel` with `target` is one of ours (goes through
/// `current` from where it sits), whatever entry it names now.
pub fn is_ours(rel: &Path, target: &Path) -> bool {
    let ups = rel.components().count().saturating_sub(1);
    let mut parts = target.components();
    for _ in 0..ups {
        if parts.next() != Some(Component::ParentDir) {
            return false;
        }
    }
    let rest: PathBuf = parts.collect();
    rest.starts_with(Path::new(META).join("current"))
}

/// The Lua versions a generation (its profile item) lays out: one rocks
/// directory each. A profile that cannot be read is an error: taken as
/// empty, a switch would remove every link of the tree.
pub fn versions_in(profile_root: &Path) -> io::Result<Vec<String>> {
    let dir = profile_root.join("lib/luarocks");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(named(&dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|e| named(&dir, e))?;
        if let Some(v) = e
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix("rocks-"))
        {
            out.push(v.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// `e` with the path it is about in its message.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Every Lua version a tree may have our links for.
fn every_version() -> impl Iterator<Item = &'static str> {
    crate::lua_install::KNOWN_VERSIONS.into_iter()
}

/// Every entry a generation (its profile item at `profile_root`) shows,
/// relative to the tree, sorted. A directory of it that cannot be read is
/// an error, never fewer entries.
pub fn entries_of(profile_root: &Path) -> io::Result<BTreeSet<PathBuf>> {
    let mut out = BTreeSet::new();
    let versions = versions_in(profile_root)?;
    for (base, depth) in versions.iter().flat_map(|v| bases(v)) {
        walk(&profile_root.join(&base), &base, depth, &mut |rel, kind| {
            // At the depth limit a directory is an entry too (a rock's).
            let at_limit =
                depth.is_some_and(|d| rel.components().count() == base.components().count() + d);
            if at_limit || !kind.is_dir() {
                out.insert(rel.to_path_buf());
            }
            true
        })?;
    }
    for v in &versions {
        out.remove(&manifest_path(v));
    }
    Ok(out)
}

/// Visits what lies under `dir` (shown as `rel`), never following links:
/// `visit(rel, type)` for each entry; a directory is entered when `visit`
/// says so and the depth allows. At `depth` (when given) everything is an
/// entry, directories included. `dir` not being there is no entry; any
/// other failure to read is the caller's to weigh.
fn walk(
    dir: &Path,
    rel: &Path,
    depth: Option<usize>,
    visit: &mut dyn FnMut(&Path, std::fs::FileType) -> bool,
) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(named(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| named(dir, e))?;
        let kind = entry.file_type().map_err(|e| named(&entry.path(), e))?;
        let child = rel.join(entry.file_name());
        if kind.is_dir() && depth != Some(1) {
            if visit(&child, kind) {
                walk(&entry.path(), &child, depth.map(|d| d - 1), visit)?;
            }
        } else {
            visit(&child, kind);
        }
    }
    Ok(())
}

/// What sits at an entry's place in the tree.
#[derive(Debug, PartialEq, Eq)]
pub enum Occupant {
    /// Nothing.
    Nothing,
    /// Our link, naming this entry.
    OursHere,
    /// Our link, naming another entry (LuaRocks renamed it).
    OursElsewhere,
    /// Something we did not put there: a file, a directory, another link.
    Foreign,
}

/// What occupies `rel` in the tree at `root`.
pub fn occupant(root: &Path, rel: &Path) -> Occupant {
    let path = root.join(rel);
    match std::fs::symlink_metadata(&path) {
        Err(_) => Occupant::Nothing,
        Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(&path) {
            Ok(t) if t == target_of(rel) => Occupant::OursHere,
            Ok(t) if is_ours(rel, &t) => Occupant::OursElsewhere,
            _ => Occupant::Foreign,
        },
        Ok(_) => Occupant::Foreign,
    }
}

/// Converts a tree made with one link per directory: each such link goes,
/// a real directory takes its place, and the current generation's entries
/// under it are linked at once, so the tree shows the same generation
/// before the switch is even checked.
pub fn convert_directory_links(root: &Path) -> Result<(), TreeError> {
    let mut converted = false;
    for (base, _) in every_version().flat_map(bases) {
        let path = root.join(&base);
        let Ok(target) = std::fs::read_link(&path) else {
            continue;
        };
        if is_ours(&base, &target) {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
            std::fs::create_dir_all(&path).map_err(io_err(&path))?;
            converted = true;
        }
    }
    if converted {
        let current = root.join(META).join("current");
        for rel in entries_of(&current).map_err(io_err(&current))? {
            if occupant(root, &rel) == Occupant::Nothing {
                link(root, &rel)?;
            }
        }
        for v in versions_in(&current).map_err(io_err(&current))? {
            write_manifest(root, &current, &v)?;
        }
    }
    Ok(())
}

/// What occupies each entry's place, as [`check`] found it.
pub struct Survey {
    places: Vec<(PathBuf, Occupant)>,
}

/// Refuses the switch when an entry's place (or a directory on its way)
/// holds something not ours, except the places in `taken_over` (files
/// LuaRocks deployed that an adoption takes over after the switch).
pub fn check(
    root: &Path,
    entries: &BTreeSet<PathBuf>,
    taken_over: &BTreeSet<PathBuf>,
) -> Result<Survey, TreeError> {
    let mut places = Vec::with_capacity(entries.len());
    // Directories on the way, checked once each; those found absent hold
    // nothing, so the entries under them are not looked up one by one
    // (a fresh tree: one lookup per directory, not per entry).
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    let mut absent: BTreeSet<PathBuf> = BTreeSet::new();
    for rel in entries {
        let mut on_the_way = PathBuf::new();
        let mut under_absent = false;
        let mut foreign_dir = None;
        let parents: Vec<_> = rel
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        for part in parents {
            on_the_way.push(part);
            if absent.contains(&on_the_way) {
                under_absent = true;
                break;
            }
            if !seen.insert(on_the_way.clone()) {
                continue;
            }
            let path = root.join(&on_the_way);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(_) if taken_over.contains(&on_the_way) => {}
                Ok(_) => {
                    // Refused after the entry itself, as it always was.
                    foreign_dir = Some(path);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    absent.insert(on_the_way.clone());
                    under_absent = true;
                    break;
                }
                Err(_) => {}
            }
        }
        let found = if under_absent {
            Occupant::Nothing
        } else {
            occupant(root, rel)
        };
        if found == Occupant::Foreign && !taken_over.contains(rel) {
            return Err(TreeError::Foreign {
                root: root.to_path_buf(),
                path: root.join(rel),
            });
        }
        if let Some(path) = foreign_dir {
            return Err(TreeError::Foreign {
                root: root.to_path_buf(),
                path,
            });
        }
        places.push((rel.clone(), found));
    }
    Ok(Survey { places })
}

/// Links every entry [`check`] found unlinked (before a switch), leaving
/// the places in `taken_over` to [`take_over`].
pub fn ensure(root: &Path, versions: &[String], survey: &Survey) -> Result<(), TreeError> {
    for v in versions {
        for (base, _) in bases(v).iter().take(3) {
            let path = root.join(base);
            std::fs::create_dir_all(&path).map_err(io_err(&path))?;
        }
    }
    // Each directory is made once, not once per entry in it.
    let mut made: BTreeSet<PathBuf> = BTreeSet::new();
    for (rel, found) in &survey.places {
        let parent = root.join(rel).parent().map(Path::to_path_buf);
        if let Some(parent) = parent.filter(|p| !made.contains(p)) {
            std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
            made.insert(parent);
        }
        match found {
            Occupant::OursHere | Occupant::Foreign => {}
            Occupant::Nothing => link_new(root, rel)?,
            Occupant::OursElsewhere => link(root, rel)?,
        }
    }
    Ok(())
}

/// Puts our link at `rel`, where [`check`] found nothing: one `symlink`,
/// whose creation is atomic; if something appeared since, it is replaced
/// as [`link`] does.
fn link_new(root: &Path, rel: &Path) -> Result<(), TreeError> {
    let path = root.join(rel);
    match symlink(target_of(rel), &path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => link(root, rel),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Puts our link at `rel`, replacing what is there in one rename.
fn link(root: &Path, rel: &Path) -> Result<(), TreeError> {
    let path = root.join(rel);
    let parent = path.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let temp = temp_beside(&path);
    let _ = std::fs::remove_file(&temp);
    symlink(target_of(rel), &temp).map_err(io_err(&temp))?;
    std::fs::rename(&temp, &path).map_err(io_err(&path))
}

/// A name beside `path` for a file about to replace it.
fn temp_beside(path: &Path) -> PathBuf {
    super::temp_name::beside(path)
}

/// Replaces what LuaRocks deployed at `rel` (a file, or a rock directory)
/// with our link, in one atomic step: a rename over a file, an exchange
/// with a directory (whose old contents are then deleted). The caller has
/// made sure the link shows the same bytes.
pub fn take_over(root: &Path, rel: &Path) -> Result<(), TreeError> {
    let path = root.join(rel);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(_) => return link(root, rel),
    };
    if !meta.is_dir() {
        return link(root, rel);
    }
    let temp = temp_beside(&path);
    let _ = std::fs::remove_file(&temp);
    symlink(target_of(rel), &temp).map_err(io_err(&temp))?;
    exchange(&temp, &path)?;
    crate::store::failpoint::hit("adopt-exchanged");
    // `temp` now names LuaRocks' directory.
    std::fs::remove_dir_all(&temp).map_err(io_err(&temp))
}

/// Swaps two paths in one step (`renameat2(RENAME_EXCHANGE)`).
pub fn exchange(a: &Path, b: &Path) -> Result<(), TreeError> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(|e| TreeError::Io {
        path: b.to_path_buf(),
        source: e.into(),
    })
}

/// Removes our links to entries the current generation lacks (the previous
/// generation's, and any a killed switch made for one that never became
/// current), then the directories that leaves empty. Others' files are
/// never touched.
pub fn prune(root: &Path, entries: &BTreeSet<PathBuf>) {
    let mut seen = BTreeSet::new();
    for (base, depth) in every_version().flat_map(bases) {
        if !seen.insert(base.clone()) {
            continue;
        }
        let mut emptied: BTreeSet<PathBuf> = BTreeSet::new();
        walk(&root.join(&base), &base, depth, &mut |rel, kind| {
            if kind.is_symlink() && !entries.contains(rel) {
                let path = root.join(rel);
                let ours = std::fs::read_link(&path).is_ok_and(|t| is_ours(rel, &t));
                if ours && std::fs::remove_file(&path).is_ok() {
                    if let Some(parent) = rel.parent() {
                        emptied.insert(parent.to_path_buf());
                    }
                }
            }
            true
        })
        // Best effort: what cannot be read here keeps its links, and the
        // next switch or `doctor` meets them again.
        .ok();
        // Deepest first, never the base itself.
        for dir in emptied.iter().rev() {
            let mut at = dir.clone();
            while at.starts_with(&base) && at != base {
                if std::fs::remove_dir(root.join(&at)).is_err() {
                    break;
                }
                at.pop();
            }
        }
    }
}

/// Copies the current generation's LuaRocks manifest into the tree as a
/// real file (temp and rename), for LuaRocks to read and rewrite.
pub fn write_manifest(
    root: &Path,
    profile_root: &Path,
    lua_version: &str,
) -> Result<(), TreeError> {
    let rel = manifest_path(lua_version);
    let from = profile_root.join(&rel);
    let bytes = std::fs::read(&from).map_err(io_err(&from))?;
    let path = root.join(&rel);
    if std::fs::read(&path).is_ok_and(|b| b == bytes) {
        return Ok(());
    }
    let temp = temp_beside(&path);
    if let Err(e) = std::fs::write(&temp, &bytes) {
        // A full disk leaves a partial file: it goes at once.
        let _ = std::fs::remove_file(&temp);
        return Err(io_err(&temp)(e));
    }
    std::fs::rename(&temp, &path).map_err(io_err(&path))
}

/// The rocks LuaRocks installed in a tree's rocks directory: each
/// `<name>/<version>` that is a real directory, not our link.
pub fn luarocks_rocks(root: &Path, lua_version: &str) -> Vec<RockId> {
    let rocks = root.join(format!("lib/luarocks/rocks-{lua_version}"));
    let mut out = Vec::new();
    let Ok(meta) = std::fs::symlink_metadata(&rocks) else {
        return out;
    };
    if !meta.is_dir() {
        return out;
    }
    for name in std::fs::read_dir(&rocks).into_iter().flatten().flatten() {
        // A temporary name is never a rock (see `temp_name`).
        if !name.file_type().is_ok_and(|t| t.is_dir()) || is_temp(&name.file_name()) {
            continue;
        }
        for version in std::fs::read_dir(name.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if version.file_type().is_ok_and(|t| t.is_dir())
                && !is_temp(&version.file_name())
                && version.path().join("rock_manifest").is_file()
            {
                out.push(RockId::new(
                    name.file_name().to_string_lossy(),
                    version.file_name().to_string_lossy(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Whether the tree still has our link for rock `name` `version`.
pub fn has_rock_link(root: &Path, lua_version: &str, name: &str, version: &str) -> bool {
    let rocks = format!("lib/luarocks/rocks-{lua_version}");
    if std::fs::read_link(root.join(&rocks)).is_ok() {
        // A tree with one link for the whole rocks directory.
        return true;
    }
    std::fs::symlink_metadata(root.join(&rocks).join(name).join(version))
        .is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_go_through_current_from_where_they_sit() {
        assert_eq!(
            target_of(Path::new("share/lua/5.4/a/b.lua")),
            PathBuf::from("../../../../.rockstore/current/share/lua/5.4/a/b.lua")
        );
        assert_eq!(
            target_of(Path::new("bin/cmd")),
            PathBuf::from("../.rockstore/current/bin/cmd")
        );
        assert!(is_ours(
            Path::new("share/lua/5.4/x_1_0_1-a.lua"),
            Path::new("../../../.rockstore/current/share/lua/5.4/a.lua")
        ));
        assert!(!is_ours(
            Path::new("share/lua/5.4/a.lua"),
            Path::new("../../.rockstore/current/share/lua/5.4/a.lua")
        ));
        assert!(!is_ours(Path::new("bin/cmd"), Path::new("/usr/bin/cmd")));
        // The links of the layout before this one.
        assert!(is_ours(
            Path::new("share/lua/5.4"),
            Path::new("../../.rockstore/current/share/lua/5.4")
        ));
    }
}
