//! What LuaRocks did to a tree behind rockstore's back: the rocks it
//! installed (real rock directories) and the rocks of the current
//! generation it removed, per Lua version. Read here; what is done about
//! it (refusing, adopting first) is decided by [`super::Tree::check_usable`]
//! and `crate::adopt::first_touch`.

use super::{links, Profile, ProfileRock, Tree};
use crate::rock_id::RockId;

/// What LuaRocks did to a tree that rockstore did not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LuaRocksChanges {
    /// Rocks it installed.
    pub installed: Vec<RockId>,
    /// Rocks of the current generation it removed.
    pub removed: Vec<RockId>,
}

impl LuaRocksChanges {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.installed.is_empty() && self.removed.is_empty()
    }

    /// In words: "it installed a 1.0-1; it removed b 2.0-1".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.installed.is_empty() {
            parts.push(format!("it installed {}", examples(&self.installed)));
        }
        if !self.removed.is_empty() {
            parts.push(format!("it removed {}", examples(&self.removed)));
        }
        parts.join("; ")
    }
}

/// Up to five `name version`s, and how many more.
pub(super) fn examples(rocks: &[RockId]) -> String {
    let mut shown: Vec<String> = rocks.iter().take(5).map(RockId::to_string).collect();
    if rocks.len() > 5 {
        shown.push(format!("and {} more", rocks.len() - 5));
    }
    shown.join(", ")
}

impl Tree {
    /// What LuaRocks changed in the tree that rockstore did not: rocks it
    /// installed (real rock directories) and rocks of the current
    /// generation it removed (their link gone).
    pub fn luarocks_changes(&self) -> LuaRocksChanges {
        let profile = if self.is_profile() {
            self.current_profile().ok()
        } else {
            None
        };
        self.luarocks_changes_in(&self.lua_version, profile.as_ref())
    }

    /// [`Tree::luarocks_changes`] for Lua `version`, against `profile`
    /// (the current one, for any Lua version; none for a plain tree).
    fn luarocks_changes_in(&self, version: &str, profile: Option<&Profile>) -> LuaRocksChanges {
        let installed = links::luarocks_rocks(&self.root, version);
        let mut removed = Vec::new();
        let held: &[ProfileRock] = match profile {
            Some(p) if p.lua_version == version => &p.rocks,
            Some(p) => p.others.get(version).map_or(&[], Vec::as_slice),
            None => &[],
        };
        for rock in held {
            let reinstalled = installed.contains(&rock.id());
            if !reinstalled && !links::has_rock_link(&self.root, version, &rock.name, &rock.version)
            {
                removed.push(rock.id());
            }
        }
        LuaRocksChanges { installed, removed }
    }

    /// What LuaRocks changed, per Lua version the tree holds rocks for
    /// (LuaRocks' or ours), the tree's own first; versions it did not
    /// change are left out.
    pub fn luarocks_changes_all(&self) -> Vec<(String, LuaRocksChanges)> {
        let mut versions = vec![self.lua_version.clone()];
        versions.extend(
            crate::lua_install::KNOWN_VERSIONS
                .iter()
                .map(|v| (*v).to_owned())
                .filter(|v| *v != self.lua_version),
        );
        // The profile is read once for every version.
        let profile = if self.is_profile() {
            self.current_profile().ok()
        } else {
            None
        };
        versions
            .into_iter()
            .map(|v| {
                let changes = self.luarocks_changes_in(&v, profile.as_ref());
                (v, changes)
            })
            .filter(|(_, c)| !c.is_empty())
            .collect()
    }
}
