//! Taking rocks out of the target tree: `remove` (refused while
//! dependents need the rock, unless forced), `purge`, and
//! `purge --old-versions`.

use super::{compose, InstallError, Installer};
use crate::reporter::Event;
use crate::rock_id::RockId;
use crate::rockspec::{Dependency, Version};
use crate::tree::{Profile, ProfileRock};

impl<'a> Installer<'a> {
    /// Removes `name` (all versions, or `version`) from the tree: the new
    /// generation, and (with `force`) the rocks that needed it, which
    /// LuaRocks lists as "may be broken".
    pub fn remove(
        &mut self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(u64, Vec<RockId>), InstallError> {
        let lock = self.lock_for_change()?;
        let _store_lock = self.backend.hold()?;
        let base = self.settings.target.current_profile()?;
        let doomed: Vec<&ProfileRock> = base
            .rocks
            .iter()
            .filter(|r| r.name == name && version.is_none_or(|v| r.version == v))
            .collect();
        if doomed.is_empty() {
            return Err(InstallError::NotInstalled {
                rock: match version {
                    Some(v) => format!("{name} {v}"),
                    None => name.to_owned(),
                },
                tree: self.settings.target.root.clone(),
            });
        }
        let rocks: Vec<ProfileRock> = base
            .rocks
            .iter()
            .filter(|r| !doomed.contains(r))
            .cloned()
            .collect();
        // LuaRocks' words, as scripts read them.
        self.status("Checking stability of dependencies in the absence of");
        self.status(&format!(
            "{name} {}...",
            doomed
                .iter()
                .map(|r| r.version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        self.status("");
        let mut dependents = Vec::new();
        {
            for r in &rocks {
                for dep in r
                    .dependencies
                    .iter()
                    .filter_map(|d| Dependency::parse(d).ok())
                {
                    if dep.name != name {
                        continue;
                    }
                    let still = rocks
                        .iter()
                        .any(|o| o.name == dep.name && dep.matches(&Version::parse(&o.version)));
                    if !still && !r.external_items.contains_key(&dep.name) {
                        dependents.push(r.id());
                    }
                }
            }
            if !dependents.is_empty() && !self.settings.force {
                return Err(InstallError::Dependents {
                    rocks: doomed.iter().map(|r| r.id()).collect(),
                    dependents,
                });
            }
        }
        for r in &doomed {
            self.status(&format!("Removing {}...", r.id()));
        }
        let change = format!(
            "remove {}",
            doomed
                .iter()
                .map(|r| r.id().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let profile = Profile {
            format: 1,
            lua_version: self.settings.target.lua_version.clone(),
            rocks,
            others: base.others.clone(),
        };
        let generation = self.switch_to(&lock, &profile, &change)?;
        Ok((generation, dependents))
    }

    /// Removes every rock (a new, empty generation).
    pub fn purge(&mut self) -> Result<u64, InstallError> {
        let lock = self.lock_for_change()?;
        let _store_lock = self.backend.hold()?;
        // The tree's other Lua versions keep their rocks, as LuaRocks'
        // purge empties one version's rocks directory.
        let current = self.settings.target.current_profile()?;
        // LuaRocks' words: by name, each name's versions oldest first.
        let mut gone: Vec<&ProfileRock> = current.rocks.iter().collect();
        gone.sort_by(|a, b| {
            a.name.cmp(&b.name).then_with(|| {
                crate::rockspec::Version::parse(&a.version)
                    .sort_order(&crate::rockspec::Version::parse(&b.version))
            })
        });
        for r in gone {
            self.status(&format!("Removing {}...", r.id()));
        }
        let profile = Profile {
            others: current.others,
            ..Profile::empty(&self.settings.target.lua_version)
        };
        self.switch_to(&lock, &profile, "purge")
    }

    /// `purge --old-versions`: keeps the newest version of each rock and
    /// removes the others, except those another rock still needs (unless
    /// `force`), as LuaRocks. `None` when there was nothing to remove.
    pub fn purge_old_versions(&mut self) -> Result<Option<u64>, InstallError> {
        let lock = self.lock_for_change()?;
        let _store_lock = self.backend.hold()?;
        let rocks = self.settings.target.current_profile()?.rocks;
        let mut kept: Vec<ProfileRock> = Vec::new();
        let names: std::collections::BTreeSet<&str> =
            rocks.iter().map(|r| r.name.as_str()).collect();
        for name in names {
            let Some(newest) = rocks.iter().filter(|r| r.name == name).max_by(|a, b| {
                crate::rockspec::Version::parse(&a.version)
                    .sort_order(&crate::rockspec::Version::parse(&b.version))
            }) else {
                continue;
            };
            // Asked once per rock, so each warning is said once.
            let needed: Vec<String> = if self.settings.force {
                Vec::new()
            } else {
                compose::still_needed(&rocks, &[], newest)
                    .into_iter()
                    .map(|(version, dependents)| {
                        self.reporter.report(Event::Note(&compose::kept_warning(
                            &RockId::new(&newest.name, &version),
                            &dependents,
                        )));
                        version
                    })
                    .collect()
            };
            kept.extend(
                rocks
                    .iter()
                    .filter(|r| {
                        r.name == name
                            && (r.version == newest.version || needed.contains(&r.version))
                    })
                    .cloned(),
            );
        }
        if kept.len() == rocks.len() {
            return Ok(None);
        }
        kept.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        let profile = Profile {
            format: 1,
            lua_version: self.settings.target.lua_version.clone(),
            rocks: kept,
            others: self.settings.target.current_profile()?.others,
        };
        self.switch_to(&lock, &profile, "purge old versions")
            .map(Some)
    }
}
