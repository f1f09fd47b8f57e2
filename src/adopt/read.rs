//! A tree as LuaRocks left it, read without changing anything: each rock
//! of `lib/luarocks/rocks-5.x` with the files its `rock_manifest` lists,
//! found where LuaRocks deployed them (plain or versioned names, as the
//! tree manifest says), each checked against the md5 recorded there; and
//! every file in the rock directories no rock owns.
//!
//! Every path here is named by the tree's files, so every one is
//! untrusted: files are read through a handle on the tree root (nothing
//! leads out of it) and only when they are regular files, never through a
//! link. A link where LuaRocks puts files is reported, not followed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::lua::value::{Key, Table, Value};
use crate::md5sum::md5_hex;
use crate::rock_id::RockId;
use crate::rockspec::{LoadOptions, Rockspec};
use crate::tree::links;
use crate::tree::profile::{module_name, versioned};

/// A file of a rock: where LuaRocks put it and where the item holds it.
#[derive(Debug, Clone)]
pub struct FoundFile {
    /// Relative to the tree.
    pub in_tree: PathBuf,
    /// Relative to the item.
    pub in_item: PathBuf,
    /// The md5 of what is there (a mismatch with `rock_manifest` is a
    /// [`Problem`]).
    pub actual: String,
}

/// A rock LuaRocks installed.
#[derive(Debug, Clone)]
pub struct FoundRock {
    /// Name.
    pub name: String,
    /// Version with revision.
    pub version: String,
    /// The files the item will hold.
    pub files: Vec<FoundFile>,
    /// Places LuaRocks deployed for it that our links replace: its
    /// modules, its commands' wrappers and its rock directory.
    pub deployed: Vec<PathBuf>,
    /// Its dependencies as the rockspec writes them.
    pub dependencies: Vec<String>,
    /// The rockspec's `deploy.wrap_bin_scripts`.
    pub wrap_bin_scripts: bool,
    /// The namespace its `rock_namespace` file names.
    pub namespace: Option<String>,
    /// Its `luarocks.lock` (`--pin`), when it has one.
    pub lock: Option<String>,
}

impl FoundRock {
    /// Which rock it is.
    pub fn id(&self) -> RockId {
        RockId::new(&self.name, &self.version)
    }
}

/// Something that stops an adoption unless forced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A file differs from what LuaRocks installed.
    Edited {
        /// Which rock.
        rock: RockId,
        /// Relative to the tree.
        file: PathBuf,
        /// The md5 `rock_manifest` records.
        expected: String,
        /// What is there.
        actual: String,
    },
    /// A file `rock_manifest` lists is not in the tree.
    Missing {
        /// Which rock.
        rock: RockId,
        /// Where it should be, relative to the tree.
        file: PathBuf,
    },
    /// Something is there, but not a regular file (a link, a directory).
    NotAFile {
        /// Which rock.
        rock: RockId,
        /// Relative to the tree.
        file: PathBuf,
    },
    /// A file in a rock directory that `rock_manifest` does not list.
    Unlisted {
        /// Which rock.
        rock: RockId,
        /// Relative to the tree.
        file: PathBuf,
    },
    /// Something in a rock directory that `rock_manifest` does not list
    /// and that is not a regular file (a link, a FIFO): never read.
    UnlistedNotAFile {
        /// Which rock.
        rock: RockId,
        /// Relative to the tree.
        file: PathBuf,
    },
    /// A `rock_manifest` entry that names no file of the rock directory
    /// (`..`, an absolute path, a name with `/`) or holds neither an md5
    /// nor a directory: never read.
    BadEntry {
        /// Which rock.
        rock: RockId,
        /// The entry's path in `rock_manifest`, as written.
        entry: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A rock whose `rock_manifest` or rockspec cannot be read.
    Unreadable {
        /// Which rock.
        rock: RockId,
        /// Why.
        why: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Edited {
                rock,
                file,
                expected,
                actual,
            } => write!(
                f,
                "{} (of {rock}) was changed after LuaRocks installed it: md5 {actual}, rock_manifest says {expected}",
                file.display()
            ),
            Problem::Missing { rock, file } => {
                write!(f, "{} (of {rock}) is missing", file.display())
            }
            Problem::NotAFile { rock, file } => write!(
                f,
                "{} (of {rock}) is not a regular file; it is not followed",
                file.display()
            ),
            Problem::Unlisted { rock, file } => write!(
                f,
                "{} is in {rock}'s rock directory but not in its rock_manifest",
                file.display()
            ),
            Problem::UnlistedNotAFile { rock, file } => write!(
                f,
                "{} is in {rock}'s rock directory but not in its rock_manifest, and is not a regular file",
                file.display()
            ),
            Problem::BadEntry { rock, entry, why } => {
                write!(f, "{rock}'s rock_manifest lists {entry:?}, which {why}")
            }
            Problem::Unreadable { rock, why } => write!(f, "{rock}: {why}"),
        }
    }
}

impl Problem {
    /// What `adopt --force` does about it, in words.
    pub fn forced(&self) -> &'static str {
        match self {
            Problem::Edited { .. } | Problem::Unlisted { .. } => "adopted as it is",
            Problem::Missing { .. } | Problem::NotAFile { .. } | Problem::BadEntry { .. } => {
                "left out of the adopted rock"
            }
            Problem::UnlistedNotAFile { .. } => {
                "dropped: the adopted rock directory will not hold it"
            }
            Problem::Unreadable { why, .. } if why.starts_with("its rockspec") => {
                "adopted without the dependencies its rockspec would name"
            }
            Problem::Unreadable { .. } => "not adopted: the rock stays LuaRocks'",
        }
    }
}

/// What a LuaRocks tree holds.
#[derive(Debug, Default)]
pub struct Found {
    /// Its rocks, by name then version.
    pub rocks: Vec<FoundRock>,
    /// Files no rock owns, relative to the tree.
    pub unowned: Vec<PathBuf>,
    /// What stops the adoption unless forced.
    pub problems: Vec<Problem>,
}

/// Why a tree could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the tree {}", root.display())]
pub struct ReadError {
    /// The tree.
    pub root: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The largest file an adoption reads into memory at once (a module or a
/// C library; a rock holding more is unusual and reported as unreadable).
pub(crate) const LARGEST_FILE: u64 = 1 << 30;

/// The largest `rock_manifest`, rockspec or small file LuaRocks writes
/// that an adoption reads: the sandbox's limit for such files.
const LUA_FILE: u64 = crate::lua::Limits::SMALL_FILE.source_bytes as u64;

/// The largest tree manifest an adoption reads.
const MANIFEST_FILE: u64 = crate::lua::Limits::MANIFEST.source_bytes as u64;

/// Reads the LuaRocks rocks of `root` for `lua_version`: those in real rock
/// directories (a rock rockstore already links is not LuaRocks' to give).
pub fn read(root: &Path, lua_version: &str) -> Result<Found, ReadError> {
    let dir = Dir::open_ambient_dir(root, ambient_authority()).map_err(|source| ReadError {
        root: root.to_path_buf(),
        source,
    })?;
    let reader = TreeReader::new(&dir, lua_version);
    let mut found = Found::default();
    for rock in links::luarocks_rocks(root, lua_version) {
        reader.rock(&rock.name, &rock.version, &mut found);
    }
    found.unowned = reader.unowned(root, &found);
    Ok(found)
}

struct TreeReader<'a> {
    dir: &'a Dir,
    v: String,
    /// The tree manifest's `modules` and `commands`: item → providers
    /// (`name/version`), the first holding the plain name.
    providers: BTreeMap<(&'static str, String), Vec<String>>,
}

impl<'a> TreeReader<'a> {
    fn new(dir: &'a Dir, v: &str) -> TreeReader<'a> {
        let mut providers = BTreeMap::new();
        let manifest = links::manifest_path(v);
        if let Some(table) = read_regular(dir, &manifest, MANIFEST_FILE)
            .ok()
            .and_then(|bytes| lua_table(&bytes))
        {
            for (kind, key) in [("module", "modules"), ("command", "commands")] {
                let Some(items) = table.get(key).and_then(Value::as_table) else {
                    continue;
                };
                for (item, list) in items.iter() {
                    let (Key::String(item), Some(list)) = (item, list.as_table()) else {
                        continue;
                    };
                    let names = list
                        .sequence()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    providers.insert((kind, item.clone()), names);
                }
            }
        }
        TreeReader {
            dir,
            v: v.to_owned(),
            providers,
        }
    }

    fn rock(&self, name: &str, version: &str, found: &mut Found) {
        let shown = RockId::new(name, version);
        let rock_dir = PathBuf::from(format!("lib/luarocks/rocks-{}/{name}/{version}", self.v));
        let manifest_rel = rock_dir.join("rock_manifest");
        let table = match read_regular(self.dir, &manifest_rel, LUA_FILE) {
            Ok(bytes) => match lua_table(&bytes)
                .and_then(|t| t.get("rock_manifest").and_then(Value::as_table).cloned())
            {
                Some(t) => t,
                None => {
                    found.problems.push(Problem::Unreadable {
                        rock: shown,
                        why: format!("{} is not a rock_manifest", manifest_rel.display()),
                    });
                    return;
                }
            },
            Err(e) => {
                found.problems.push(Problem::Unreadable {
                    rock: shown,
                    why: format!("cannot read {}: {e}", manifest_rel.display()),
                });
                return;
            }
        };
        let mut listed: Vec<(PathBuf, String)> = Vec::new();
        let mut bad: Vec<(String, &'static str)> = Vec::new();
        flatten(&table, "", &mut listed, &mut bad);
        for (entry, why) in bad {
            found.problems.push(Problem::BadEntry {
                rock: shown.clone(),
                entry,
                why,
            });
        }
        let me = format!("{name}/{version}");
        let mut rock = FoundRock {
            name: name.to_owned(),
            version: version.to_owned(),
            files: Vec::new(),
            deployed: vec![rock_dir.clone()],
            dependencies: Vec::new(),
            wrap_bin_scripts: true,
            namespace: read_regular(self.dir, &rock_dir.join("rock_namespace"), LUA_FILE)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
                .filter(|ns| !ns.is_empty()),
            lock: read_regular(self.dir, &rock_dir.join("luarocks.lock"), LUA_FILE)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
        };
        let mut in_rock_dir: BTreeSet<PathBuf> = BTreeSet::new();
        in_rock_dir.insert(PathBuf::from("rock_manifest"));
        // Written by LuaRocks beside the manifest; the profile writes it
        // again from the namespace.
        in_rock_dir.insert(PathBuf::from("rock_namespace"));
        in_rock_dir.insert(PathBuf::from("luarocks.lock"));
        for (rel, md5) in listed {
            let deployed_under = [("lua", "share/lua"), ("lib", "lib/lua")]
                .into_iter()
                .find_map(|(dir, base)| Some((rel.strip_prefix(dir).ok()?, base)));
            let in_tree = if let Some((sub, base)) = deployed_under {
                let at = self.placement(
                    "module",
                    &module_name(sub),
                    &me,
                    name,
                    version,
                    sub,
                    &format!("{base}/{}", self.v),
                );
                rock.deployed.push(at.clone());
                at
            } else {
                if let Ok(sub) = rel.strip_prefix("bin") {
                    let cmd = sub.to_string_lossy().into_owned();
                    let wrapper = self.placement("command", &cmd, &me, name, version, sub, "bin");
                    if self.dir.symlink_metadata(&wrapper).is_ok() {
                        rock.deployed.push(wrapper);
                    }
                }
                in_rock_dir.insert(rel.clone());
                rock_dir.join(&rel)
            };
            match read_regular(self.dir, &in_tree, LARGEST_FILE) {
                Ok(bytes) => {
                    let actual = md5_hex(&bytes);
                    if actual != md5 {
                        found.problems.push(Problem::Edited {
                            rock: shown.clone(),
                            file: in_tree.clone(),
                            expected: md5.clone(),
                            actual: actual.clone(),
                        });
                    }
                    rock.files.push(FoundFile {
                        in_tree,
                        in_item: rel,
                        actual,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    found.problems.push(Problem::Missing {
                        rock: shown.clone(),
                        file: in_tree,
                    });
                }
                Err(_) => found.problems.push(Problem::NotAFile {
                    rock: shown.clone(),
                    file: in_tree,
                }),
            }
        }
        match read_regular(self.dir, &manifest_rel, LUA_FILE) {
            Ok(bytes) => rock.files.push(FoundFile {
                in_tree: manifest_rel,
                in_item: PathBuf::from("rock_manifest"),
                actual: md5_hex(&bytes),
            }),
            Err(_) => return,
        }
        // Whatever else the rock directory holds would be lost with it.
        let mut extra = Vec::new();
        walk_files(self.dir, &rock_dir, &mut extra);
        for file in extra {
            let rel = file.strip_prefix(&rock_dir).unwrap_or(&file).to_path_buf();
            if in_rock_dir.contains(&rel) {
                continue;
            }
            match read_regular(self.dir, &file, LARGEST_FILE) {
                Ok(bytes) => {
                    found.problems.push(Problem::Unlisted {
                        rock: shown.clone(),
                        file: file.clone(),
                    });
                    rock.files.push(FoundFile {
                        in_tree: file,
                        in_item: rel,
                        actual: md5_hex(&bytes),
                    });
                }
                Err(_) => found.problems.push(Problem::UnlistedNotAFile {
                    rock: shown.clone(),
                    file: file.clone(),
                }),
            }
        }
        let rockspec_rel = rock_dir.join(format!("{name}-{version}.rockspec"));
        match read_regular(self.dir, &rockspec_rel, LUA_FILE)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                Rockspec::from_bytes(
                    &rockspec_rel.display().to_string(),
                    None,
                    &bytes,
                    &LoadOptions::default(),
                )
                .map_err(|e| e.to_string())
            }) {
            Ok(spec) => {
                rock.dependencies = spec.dependencies.iter().map(ToString::to_string).collect();
                rock.wrap_bin_scripts = spec.wrap_bin_scripts.unwrap_or(true);
            }
            Err(why) => found.problems.push(Problem::Unreadable {
                rock: shown.clone(),
                why: format!("its rockspec: {why}"),
            }),
        }
        found.rocks.push(rock);
    }

    /// Where LuaRocks put `sub` of rock `me` under `base`: the plain name
    /// when the manifest names this rock first for the item, else the
    /// versioned one; without a manifest entry, the versioned name when
    /// such a file exists.
    #[allow(clippy::too_many_arguments)]
    fn placement(
        &self,
        kind: &'static str,
        item: &str,
        me: &str,
        name: &str,
        version: &str,
        sub: &Path,
        base: &str,
    ) -> PathBuf {
        let plain = Path::new(base).join(sub);
        let versioned = Path::new(base).join(versioned(name, version, sub));
        match self.providers.get(&(kind, item.to_owned())) {
            Some(list) if list.first().is_some_and(|f| f == me) => plain,
            Some(list) if list.iter().any(|p| p == me) => versioned,
            _ if self.dir.symlink_metadata(&versioned).is_ok() => versioned,
            _ => plain,
        }
    }

    /// Files under the places LuaRocks deploys to that neither a rock
    /// found here nor rockstore owns.
    fn unowned(&self, root: &Path, found: &Found) -> Vec<PathBuf> {
        let mut owned: BTreeSet<PathBuf> = BTreeSet::new();
        for rock in &found.rocks {
            owned.extend(rock.files.iter().map(|f| f.in_tree.clone()));
            owned.extend(rock.deployed.iter().cloned());
        }
        owned.insert(links::manifest_path(&self.v));
        let rock_dirs: Vec<&PathBuf> = found
            .rocks
            .iter()
            .filter_map(|r| r.deployed.first())
            .collect();
        let mut out = Vec::new();
        for base in [
            format!("share/lua/{}", self.v),
            format!("lib/lua/{}", self.v),
            format!("lib/luarocks/rocks-{}", self.v),
            "bin".to_owned(),
        ] {
            let mut files = Vec::new();
            walk_files(self.dir, Path::new(&base), &mut files);
            for file in files {
                if owned.contains(&file)
                    || rock_dirs.iter().any(|d| file.starts_with(d))
                    || file.iter().any(crate::tree::temp_name::is_temp)
                {
                    continue;
                }
                let ours =
                    std::fs::read_link(root.join(&file)).is_ok_and(|t| links::is_ours(&file, &t));
                if !ours {
                    out.push(file);
                }
            }
        }
        out.sort();
        out
    }
}

/// `rock_manifest`'s nested table as `(path, md5)` pairs; every entry
/// that is not one plain name holding an md5 or a directory goes to `bad`,
/// with why (shown as `at/name`).
fn flatten(
    table: &Table,
    at: &str,
    out: &mut Vec<(PathBuf, String)>,
    bad: &mut Vec<(String, &'static str)>,
) {
    for (key, value) in table.iter() {
        let name = key.to_string();
        let shown = if at.is_empty() {
            name.clone()
        } else {
            format!("{at}/{name}")
        };
        // A name from the file: one plain component, or it is not read.
        let why = match key {
            Key::String(_) if name.is_empty() => Some("is empty"),
            Key::String(_) if name == "." || name == ".." => Some("leads out of its directory"),
            Key::String(_) if name.starts_with('/') => Some("is an absolute path"),
            Key::String(_) if name.contains('/') => Some("is not a single file name"),
            Key::String(_) if name.contains('\0') => Some("holds a NUL byte"),
            Key::String(_) => None,
            _ => Some("is not a file name"),
        };
        if let Some(why) = why {
            bad.push((shown, why));
            continue;
        }
        match value {
            Value::String(md5) => out.push((PathBuf::from(&shown), md5.clone())),
            Value::Table(sub) => flatten(sub, &shown, out, bad),
            _ => bad.push((shown, "holds neither an md5 nor a directory")),
        }
    }
    out.sort();
}

/// The assignments of a Lua data file (a manifest), read as data when it
/// is plain literals, else evaluated in the sandbox.
fn lua_table(bytes: &[u8]) -> Option<Table> {
    crate::lua::literal::parse_assignments(bytes).or_else(|| {
        crate::lua::sandbox::evaluate(
            "manifest",
            bytes,
            &Table::new(),
            crate::lua::sandbox::Limits::SMALL_FILE,
        )
        .ok()
        .map(|e| e.globals)
    })
}

/// Reads `rel` under the tree when it is a regular file (never a link) of
/// at most `limit` bytes; a larger one is refused before it is read.
pub(crate) fn read_regular(dir: &Dir, rel: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let meta = dir.symlink_metadata(rel)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    crate::lua::check_size(meta.len(), limit)?;
    let file = dir.open(rel)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    crate::lua::check_size(bytes.len() as u64, limit)?;
    Ok(bytes)
}

/// Every non-directory under `rel` (not following links), relative to the
/// tree.
fn walk_files(dir: &Dir, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = dir.read_dir(rel) else {
        return;
    };
    for entry in entries.flatten() {
        let child = rel.join(entry.file_name());
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk_files(dir, &child, out),
            Ok(_) => out.push(child),
            Err(_) => {}
        }
    }
}
