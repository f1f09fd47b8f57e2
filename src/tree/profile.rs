//! A profile item: one immutable state of a tree.
//!
//! ```text
//! rockstore-profile.json                     the rocks (name, version, item, asked for or pulled in, deps)
//! share/lua/5.x/<module path>.lua            → ../…/<rock item>/lua/<module path>.lua
//! lib/lua/5.x/<module path>.so               → ../…/<rock item>/lib/<module path>.so
//! lib/luarocks/rocks-5.x/manifest            the LuaRocks tree manifest
//! lib/luarocks/rocks-5.x/<name>/<version>/*  → ../…/<rock item>/*  (rockspec, rock_manifest, bin/, doc/: all but lua/, lib/)
//! bin/<cmd>                                  LuaRocks' wrapper script (Lua scripts), else → the item's file
//! ```
//! Links leave the profile only into rock items it declares as references
//! (store-format model.md). Wrappers name the tree's path, like LuaRocks'
//! do: a profile belongs to one tree.
//!
//! Two rocks that would put a file at the same path are a conflict, found
//! here before anything is admitted or switched. Two versions of one rock
//! (`--keep`) do not conflict: the newest takes the plain path, older ones
//! get LuaRocks' versioned names (`name_1_0_1-mod.lua`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Tree;
use crate::manifest::tree::{InstalledRock, TreeManifest};
use crate::rock_id::RockId;
use crate::rockspec::{Dependency, Version};
use crate::store::db::ItemKind;
use crate::store::{Item, ItemSpec, Store, StoreError};

/// The metadata file at a profile's root.
pub const PROFILE_FILE: &str = "rockstore-profile.json";

/// One rock in a profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileRock {
    /// Rock name.
    pub name: String,
    /// Version with revision.
    pub version: String,
    /// Its item's name.
    pub item: String,
    /// Asked for by the user (not only pulled in as a dependency).
    pub explicit: bool,
    /// Direct dependencies as written in the rockspec.
    pub dependencies: Vec<String>,
    /// Dependencies satisfied by other trees' items: name → item.
    #[serde(default)]
    pub external_items: BTreeMap<String, String>,
    /// Whether Lua scripts in `bin/` get LuaRocks' wrapper (the rockspec's
    /// `deploy.wrap_bin_scripts`, default true); otherwise they are linked.
    #[serde(default = "wrap_by_default")]
    pub wrap_bin_scripts: bool,
    /// The rocks server namespace it was installed from (`user/rock`),
    /// which its rock directory's `rock_namespace` says, as LuaRocks'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The `luarocks.lock` `--pin` wrote for it, which its rock directory
    /// holds, as LuaRocks'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
}

impl ProfileRock {
    /// Which rock it is.
    pub fn id(&self) -> RockId {
        RockId::new(&self.name, &self.version)
    }
}

fn wrap_by_default() -> bool {
    true
}

/// A profile's content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Profile {
    /// Format of this file.
    pub format: u32,
    /// `5.x`.
    pub lua_version: String,
    /// Rocks, sorted by name then version.
    pub rocks: Vec<ProfileRock>,
    /// The rocks of the tree's other Lua versions (`5.x` → rocks), which a
    /// generation made for `lua_version` carries unchanged: a generation
    /// is the whole tree's state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub others: BTreeMap<String, Vec<ProfileRock>>,
}

/// Why a profile cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Two rocks provide one file.
    #[error("{first} and {second} both provide {file}; nothing was changed.\nRemove one of them first (rockstore remove), or install into another tree")]
    Conflict {
        /// One rock.
        first: RockId,
        /// The other.
        second: RockId,
        /// The path in the tree.
        file: String,
    },
    /// Writing the staging directory failed.
    #[error("cannot write the profile at {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Root asked to link from a group-writable shared store.
    #[error("root does not link items from {} into a tree: it is a shared store (`store init --shared`), whose items any member of its group could have written; nothing was changed", .0.display())]
    SharedStore(PathBuf),
}

impl crate::hint::Hint for ProfileError {
    fn hints(&self) -> Vec<String> {
        match self {
            ProfileError::SharedStore(root) => vec![format!(
                "convert it into a daemon store, which only root writes and its daemon serves to everyone: `rockstore store init --daemon {}`, then start `rockstore --store {} daemon`",
                root.display(),
                root.display()
            )],
            _ => Vec::new(),
        }
    }
}

impl Profile {
    /// No rocks.
    pub fn empty(lua_version: &str) -> Profile {
        Profile {
            format: 1,
            lua_version: lua_version.to_owned(),
            rocks: Vec::new(),
            others: BTreeMap::new(),
        }
    }

    /// The same state seen from Lua `lua_version`: its rocks in `rocks`,
    /// every other version's in `others`.
    pub fn for_lua(mut self, lua_version: &str) -> Profile {
        if self.lua_version == lua_version {
            return self;
        }
        let mine = self.others.remove(lua_version).unwrap_or_default();
        let theirs = std::mem::replace(&mut self.rocks, mine);
        if !theirs.is_empty() {
            self.others.insert(self.lua_version.clone(), theirs);
        }
        self.lua_version = lua_version.to_owned();
        self
    }

    /// Every Lua version this profile holds rocks for, its own first.
    pub fn lua_versions(&self) -> Vec<(&str, &[ProfileRock])> {
        std::iter::once((self.lua_version.as_str(), self.rocks.as_slice()))
            .chain(
                self.others
                    .iter()
                    .filter(|(v, _)| **v != self.lua_version)
                    .map(|(v, r)| (v.as_str(), r.as_slice())),
            )
            .collect()
    }

    /// Every item this profile needs kept alive: its rocks' items and the
    /// items of other trees its rocks rely on.
    pub fn items(&self) -> BTreeSet<String> {
        self.rocks
            .iter()
            .chain(self.others.values().flatten())
            .flat_map(|r| std::iter::once(r.item.clone()).chain(r.external_items.values().cloned()))
            .collect()
    }
}

/// Files under a rock item's directory, relative, sorted; none when the
/// directory is not there. A directory inside it that cannot be read is an
/// error naming it, never fewer files.
pub fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let named = |path: &Path, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
    };
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        let entries = match std::fs::read_dir(&here) {
            Ok(entries) => entries,
            Err(e) if rel.as_os_str().is_empty() && e.kind() == std::io::ErrorKind::NotFound => {
                continue
            }
            Err(e) => return Err(named(&here, e)),
        };
        for e in entries {
            let e = e.map_err(|e| named(&here, e))?;
            let child = rel.join(e.file_name());
            if e.file_type().map_err(|err| named(&e.path(), err))?.is_dir() {
                stack.push(child);
            } else {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `a/b/init.lua` → `a.b.init`; `a/b.so` → `a.b` (LuaRocks' path_to_module).
pub fn module_name(rel: &Path) -> String {
    let text = rel.to_string_lossy();
    // Only an extension of the file itself: `a.b/c` has none.
    let stem = match text.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.contains('/') => stem,
        _ => &text,
    };
    stem.replace('/', ".")
}

/// LuaRocks' versioned file name: `name_1_0_1-` before the first component.
pub fn versioned(name: &str, version: &str, rel: &Path) -> PathBuf {
    let prefix = format!("{}_{}-", name, version.replace(['.', '-'], "_"));
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(first) = parts.first_mut() {
        first.insert_str(0, &prefix);
    }
    parts.iter().collect()
}

/// The relative link from `at` (a path inside the profile) to `rel` inside
/// the item named `item`.
fn link_into(at: &Path, item: &str, rel: &Path) -> PathBuf {
    let depth = at.components().count();
    let mut target = PathBuf::new();
    for _ in 0..depth {
        target.push("..");
    }
    target.push(item);
    if !rel.as_os_str().is_empty() {
        target.push(rel);
    }
    target
}

/// Lua code for LuaRocks' bin wrapper.
fn wrapper(lua: &str, tree: &Tree, v: &str, trees: &[PathBuf], rock: &ProfileRock) -> String {
    let mut paths = String::new();
    let mut cpaths = String::new();
    for t in trees {
        let t = t.display();
        let _ = write!(
            paths,
            "{t}/share/lua/{v}/?.lua;{t}/share/lua/{v}/?/init.lua;"
        );
        let _ = write!(cpaths, "{t}/lib/lua/{v}/?.so;");
    }
    format!(
        "#!/bin/sh\n\nexec '{lua}' -e 'package.path=\"{paths}\"..package.path;package.cpath=\"{cpaths}\"..package.cpath;local k,l,_=pcall(require,\"luarocks.loader\") _=k and l.add_context(\"{name}\",\"{version}\")' '{rocks}/{name}/{version}/bin/SCRIPT' \"$@\"\n",
        name = rock.name,
        version = rock.version,
        rocks = tree.root.join(format!("lib/luarocks/rocks-{v}")).display(),
    )
}

/// What a profile needs from the outside world to write wrappers.
pub struct WrapperContext<'a> {
    /// The Lua interpreter wrappers run.
    pub lua: &'a str,
    /// Trees whose paths wrappers put first (deps mode at install).
    pub trees: Vec<PathBuf>,
}

/// Builds and admits the profile item for `profile` in `tree`.
pub fn build(
    store: &Store,
    tree: &Tree,
    profile: &Profile,
    wrap: &WrapperContext<'_>,
) -> Result<Item, ProfileError> {
    if store.is_shared_layout() && rustix::process::geteuid().is_root() {
        return Err(ProfileError::SharedStore(store.root().to_path_buf()));
    }
    // Another user's item is re-hashed against its name before we link it
    // (once per user; see store::shared).
    for item in profile.items() {
        let name = crate::store::item_name::ItemName::parse(&item).map_err(StoreError::from)?;
        store.check_trusted(&name)?;
    }
    let staging = store.stage()?;
    let root = staging.path();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ProfileError::Io { path, source }
    };
    // The bin/ names every version shares: the generation's own version
    // takes them first; another version's command of the same name stays
    // in its rock directory.
    let mut commands: BTreeSet<PathBuf> = BTreeSet::new();
    for (v, rocks) in profile.lua_versions() {
        let other_lua;
        let (lua, trees) = if v == profile.lua_version {
            (wrap.lua, wrap.trees.clone())
        } else {
            other_lua = crate::lua_install::LuaInstall::detect(Some(v), None)
                .ok()
                .and_then(|l| l.interpreter)
                .map_or_else(|| format!("lua{v}"), |p| p.display().to_string());
            (other_lua.as_str(), vec![tree.root.clone()])
        };
        let layout = Layout {
            store,
            tree,
            root: &root,
            v,
            lua,
            trees: &trees,
        };
        layout.lay_out(rocks, &mut commands)?;
    }
    let v = &profile.lua_version;
    let json = serde_json::to_vec_pretty(profile).unwrap_or_default();
    std::fs::write(root.join(PROFILE_FILE), json).map_err(io(&root.join(PROFILE_FILE)))?;
    let references: Vec<String> = profile.items().into_iter().collect();
    Ok(store.admit(
        staging,
        &ItemSpec {
            name: "profile".to_owned(),
            version: format!("lua{}", v.replace('.', "")),
            kind: ItemKind::Profile,
            references,
            recipe_key: None,
        },
    )?)
}

/// Where and how one Lua version's rocks are laid out in a profile.
struct Layout<'a> {
    store: &'a Store,
    tree: &'a Tree,
    root: &'a Path,
    v: &'a str,
    lua: &'a str,
    trees: &'a [PathBuf],
}

impl Layout<'_> {
    /// Links and wrappers of `rocks`, their manifest and deploy
    /// directories; `commands` holds the `bin/` names already taken.
    fn lay_out(
        &self,
        rocks: &[ProfileRock],
        commands: &mut BTreeSet<PathBuf>,
    ) -> Result<(), ProfileError> {
        let (store, tree, root, v) = (self.store, self.tree, self.root, self.v);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ProfileError::Io { path, source }
        };
        let lua_dir = PathBuf::from(format!("share/lua/{v}"));
        let lib_dir = PathBuf::from(format!("lib/lua/{v}"));
        let rocks_dir = PathBuf::from(format!("lib/luarocks/rocks-{v}"));

        // Newest version of each rock first, so it takes the plain paths.
        let mut ordered: Vec<&ProfileRock> = rocks.iter().collect();
        ordered.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| Version::parse(&b.version).sort_order(&Version::parse(&a.version)))
        });
        let mut owners: BTreeMap<PathBuf, &ProfileRock> = BTreeMap::new();
        let mut links: Vec<(PathBuf, String, PathBuf)> = Vec::new();
        let mut wrappers: Vec<(PathBuf, String)> = Vec::new();
        let mut manifest = TreeManifest::default();
        for rock in &ordered {
            let item_dir = store.root().join("store").join(&rock.item);
            let mut installed = InstalledRock {
                name: rock.name.clone(),
                version: rock.version.clone(),
                dependencies: rock
                    .dependencies
                    .iter()
                    .filter_map(|d| Dependency::parse(d).ok())
                    .collect(),
                met_elsewhere: rock.external_items.keys().cloned().collect(),
                ..InstalledRock::default()
            };
            for rel in files_under(&item_dir).map_err(io(&item_dir))? {
                let (deploy_dir, sub) = if let Ok(sub) = rel.strip_prefix("lua") {
                    (&lua_dir, sub)
                } else if let Ok(sub) = rel.strip_prefix("lib") {
                    (&lib_dir, sub)
                } else if let Ok(sub) = rel.strip_prefix("bin") {
                    let cmd = sub.to_string_lossy().into_owned();
                    let mut at = PathBuf::from("bin").join(sub);
                    if let Some(other) = owners.get(&at) {
                        if other.name != rock.name {
                            return Err(conflict(other, rock, &at));
                        }
                        // Another version of the rock owns the name: this one's
                        // command gets LuaRocks' versioned name, as for modules.
                        at = PathBuf::from("bin").join(versioned(&rock.name, &rock.version, sub));
                    } else if commands.contains(&at) {
                        // Another Lua version's rock has the name.
                        installed.commands.insert(cmd.clone(), cmd);
                        continue;
                    } else {
                        owners.insert(at.clone(), rock);
                    }
                    commands.insert(at.clone());
                    let bytes = std::fs::read(item_dir.join(&rel)).map_err(io(&item_dir))?;
                    if rock.wrap_bin_scripts && crate::lua::compiles(&bytes) {
                        let text =
                            wrapper(self.lua, tree, v, self.trees, rock).replace("SCRIPT", &cmd);
                        wrappers.push((at, text));
                    } else {
                        links.push((at, rock.item.clone(), rel.clone()));
                    }
                    installed.commands.insert(cmd.clone(), cmd);
                    continue;
                } else {
                    continue;
                };
                let mut at = deploy_dir.join(sub);
                if let Some(other) = owners.get(&at) {
                    if other.name != rock.name {
                        return Err(conflict(other, rock, &at));
                    }
                    at = deploy_dir.join(versioned(&rock.name, &rock.version, sub));
                } else {
                    owners.insert(at.clone(), rock);
                }
                installed
                    .modules
                    .insert(module_name(sub), sub.to_string_lossy().into_owned());
                links.push((at, rock.item.clone(), rel));
            }
            // The rock directory as LuaRocks keeps one: the item's files but
            // the deployed `lua/` and `lib/`.
            let rock_dir = rocks_dir.join(&rock.name).join(&rock.version);
            std::fs::create_dir_all(root.join(&rock_dir)).map_err(io(&rock_dir))?;
            for entry in std::fs::read_dir(&item_dir)
                .map_err(io(&item_dir))?
                .flatten()
            {
                let name = PathBuf::from(entry.file_name());
                // `rock_namespace` is the profile's to write, from the
                // rock's namespace; `--pin` writes the lock and the manifest
                // listing it.
                let written_here = name == Path::new("rock_namespace")
                    || (rock.lock.is_some()
                        && (name == Path::new("luarocks.lock")
                            || name == Path::new("rock_manifest")));
                if name == Path::new("lua") || name == Path::new("lib") || written_here {
                    continue;
                }
                links.push((rock_dir.join(&name), rock.item.clone(), name));
            }
            if let Some(ns) = &rock.namespace {
                let file = root.join(&rock_dir).join("rock_namespace");
                std::fs::write(&file, ns).map_err(io(&file))?;
            }
            if let Some(lock) = &rock.lock {
                let file = root.join(&rock_dir).join("luarocks.lock");
                std::fs::write(&file, lock).map_err(io(&file))?;
                // LuaRocks writes the lock before the rock's manifest, which
                // so lists it too.
                let listed = item_dir.join("rock_manifest");
                let bytes = std::fs::read(&listed).map_err(io(&listed))?;
                let mut globals =
                    crate::lua::literal::parse_assignments(&bytes).unwrap_or_default();
                if let Some(crate::lua::Value::Table(t)) = globals.get_mut("rock_manifest") {
                    t.insert(
                        "luarocks.lock",
                        crate::lua::Value::String(crate::md5sum::md5_hex(lock.as_bytes())),
                    );
                }
                let file = root.join(&rock_dir).join("rock_manifest");
                std::fs::write(&file, crate::lua::persist::save_from_table(&globals))
                    .map_err(io(&file))?;
            }
            manifest.rocks.push(installed);
        }
        // Each rock's resolved closure, for luarocks.loader, as LuaRocks'
        // `deps.scan_deps`: each dependency is met by the newest version
        // here that satisfies it, then that version's own, depth first;
        // the first version met for a name stands.
        let newest_matching = |dep: &Dependency| {
            ordered
                .iter()
                .find(|r| r.name == dep.name && dep.matches(&Version::parse(&r.version)))
                .copied()
        };
        for installed in &mut manifest.rocks {
            let mut results: BTreeMap<String, String> = BTreeMap::new();
            results.insert(installed.name.clone(), installed.version.clone());
            let mut stack: Vec<Dependency> = installed.dependencies.iter().rev().cloned().collect();
            while let Some(dep) = stack.pop() {
                if results.contains_key(&dep.name) {
                    continue;
                }
                let Some(rock) = newest_matching(&dep) else {
                    continue;
                };
                results.insert(rock.name.clone(), rock.version.clone());
                stack.extend(
                    rock.dependencies
                        .iter()
                        .rev()
                        .filter_map(|d| Dependency::parse(d).ok()),
                );
            }
            results.remove(&installed.name);
            installed.resolved = results;
        }

        // Each directory is made once, not once per link in it.
        let mut made: BTreeSet<PathBuf> = BTreeSet::new();
        let mut make_parent = |full: &Path| -> Result<(), ProfileError> {
            if let Some(parent) = full.parent().filter(|p| !made.contains(*p)) {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
                made.insert(parent.to_path_buf());
            }
            Ok(())
        };
        for (at, item, rel) in &links {
            let full = root.join(at);
            make_parent(&full)?;
            symlink(link_into(at, item, rel), &full).map_err(io(&full))?;
        }
        for (at, text) in &wrappers {
            let full = root.join(at);
            make_parent(&full)?;
            std::fs::write(&full, text).map_err(io(&full))?;
            std::fs::set_permissions(&full, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(io(&full))?;
        }
        let manifest_path = root.join(&rocks_dir).join("manifest");
        std::fs::create_dir_all(root.join(&rocks_dir)).map_err(io(&manifest_path))?;
        std::fs::write(&manifest_path, manifest.render()).map_err(io(&manifest_path))?;
        // Lua and the loader want the deploy directories even when empty.
        for dir in [&lua_dir, &lib_dir] {
            std::fs::create_dir_all(root.join(dir)).map_err(io(&root.join(dir)))?;
        }
        Ok(())
    }
}

fn conflict(first: &ProfileRock, second: &ProfileRock, file: &Path) -> ProfileError {
    ProfileError::Conflict {
        first: first.id(),
        second: second.id(),
        file: file.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_luarocks() {
        assert_eq!(module_name(Path::new("a/b/init.lua")), "a.b.init");
        assert_eq!(module_name(Path::new("a/b.so")), "a.b");
        assert_eq!(
            versioned("adep", "1.0-1", Path::new("adep.lua")),
            PathBuf::from("adep_1_0_1-adep.lua")
        );
        assert_eq!(
            versioned("x", "1.0-1", Path::new("a/b.lua")),
            PathBuf::from("x_1_0_1-a/b.lua")
        );
        assert_eq!(
            link_into(
                Path::new("share/lua/5.4/a.lua"),
                "ITEM",
                Path::new("lua/a.lua")
            ),
            PathBuf::from("../../../../ITEM/lua/a.lua")
        );
    }
}
