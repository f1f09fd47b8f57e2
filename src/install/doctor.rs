//! What `doctor` checks in a tree: dependencies another tree provided
//! and no longer does ([`Installer::doctor`], which links the item that
//! was used when `--fix` asks); every link of the current generation is in the tree and
//! leads to a file, every rock item the generation needs is there (issue
//! 27). A tree whose store is gone answers too: its generation's files
//! are missing, and `doctor --fix` rebuilds them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{InstallError, Installer};
use crate::rock_id::RockId;
use crate::rockspec::{Dependency, Version};
use crate::tree::{links, Profile, ProfileRock, Tree, META};

/// One thing wrong with a tree's current generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    /// The generation's files are gone (its store, or its profile item).
    GenerationGone {
        /// The generation.
        number: u64,
        /// Where its files were.
        at: PathBuf,
    },
    /// A link of the generation is not in the tree (removed by hand).
    Missing(PathBuf),
    /// A link is there but leads nowhere (its item was removed or
    /// damaged and deleted).
    Dangling(PathBuf),
    /// The generation's files cannot be read (permissions, I/O): what
    /// they hold is unknown, so nothing is taken as fine.
    Unreadable(String),
    /// A rock's item is not in the store.
    ItemGone {
        /// The rock.
        rock: RockId,
        /// The item.
        item: String,
    },
}

impl LinkProblem {
    /// In words, for `doctor`'s report.
    pub fn describe(&self, root: &Path) -> String {
        match self {
            LinkProblem::GenerationGone { number, at } => format!(
                "{}: the files of generation {number} are missing ({} is gone)",
                root.display(),
                at.display()
            ),
            LinkProblem::Missing(rel) => {
                format!("{}: {} is missing", root.display(), rel.display())
            }
            LinkProblem::Dangling(rel) => format!(
                "{}: {} leads to a file that is gone",
                root.display(),
                rel.display()
            ),
            LinkProblem::Unreadable(why) => format!(
                "{}: the current generation cannot be read: {why}",
                root.display()
            ),
            LinkProblem::ItemGone { rock, item } => format!(
                "{}: the item {item} of {rock} is not in the store",
                root.display()
            ),
        }
    }

    /// Whether re-linking the generation mends it (its files are there).
    pub fn relinkable(&self) -> bool {
        matches!(self, LinkProblem::Missing(_))
    }
}

/// Checks the links and items of `tree`'s current generation; `store`
/// is the store's root when the generation lives in it.
pub fn check(tree: &Tree, store: Option<&Path>) -> Vec<LinkProblem> {
    let Some(number) = tree.current() else {
        return Vec::new();
    };
    let gen_link = tree
        .root
        .join(META)
        .join("generations")
        .join(number.to_string());
    if !tree.generation_present(number) {
        let at = std::fs::read_link(&gen_link).unwrap_or(gen_link);
        return vec![LinkProblem::GenerationGone { number, at }];
    }
    let mut problems = Vec::new();
    let entries = match links::entries_of(&gen_link) {
        Ok(entries) => entries,
        Err(e) => return vec![LinkProblem::Unreadable(e.to_string())],
    };
    for rel in entries {
        let at = tree.root.join(&rel);
        if std::fs::symlink_metadata(&at).is_err() {
            problems.push(LinkProblem::Missing(rel));
        } else if !at.exists() {
            problems.push(LinkProblem::Dangling(rel));
        }
    }
    // A symlink generation reads its rocks from the store's items.
    let in_store = std::fs::read_link(&gen_link).is_ok_and(|t| t.is_absolute());
    if let (Some(store), true, Ok(profile)) = (store, in_store, tree.current_profile()) {
        for (_, rocks) in profile.lua_versions() {
            for rock in rocks {
                if !store.join("store").join(&rock.item).is_dir() {
                    problems.push(LinkProblem::ItemGone {
                        rock: rock.id(),
                        item: rock.item.clone(),
                    });
                }
            }
        }
    }
    problems
}

/// A dependency that another tree provided and no longer does.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rock that needs it.
    pub rock: RockId,
    /// The dependency's name.
    pub dependency: String,
    /// The item that was used.
    pub item: String,
    /// Whether the store still has that item (GC kept it).
    pub kept: bool,
}

impl<'a> Installer<'a> {
    /// Finds rocks of the target tree whose dependency was satisfied by
    /// another tree that no longer provides it; with `fix`, links the item
    /// that was used (GC kept it) into the target tree in a new generation.
    pub fn doctor(&mut self, fix: bool) -> Result<Vec<Finding>, InstallError> {
        let lock = self.lock_for_change()?;
        let _store_lock = self.backend.hold()?;
        let base = self.settings.target.current_profile()?;
        // Other trees matter only to rocks that relied on one: a tree that
        // cannot be read then stops the check (a warning otherwise).
        let relied = base.rocks.iter().any(|r| !r.external_items.is_empty());
        let needed: &[PathBuf] = if relied {
            &self.settings.rocks_trees
        } else {
            &[]
        };
        let others = self.read_other_trees(needed)?;
        let mut findings = Vec::new();
        for rock in &base.rocks {
            for (dep_name, item) in &rock.external_items {
                let constraint = rock
                    .dependencies
                    .iter()
                    .filter_map(|d| Dependency::parse(d).ok())
                    .find(|d| d.name == *dep_name);
                let still_there = others.iter().any(|t| {
                    t.rocks.iter().any(|(name, version, _)| {
                        name == dep_name
                            && constraint
                                .as_ref()
                                .is_none_or(|c| c.matches(&Version::parse(version)))
                    })
                });
                let in_own_tree = base.rocks.iter().any(|r| r.name == *dep_name);
                if !still_there && !in_own_tree {
                    let kept = crate::store::item_name::ItemName::parse(item)
                        .ok()
                        .and_then(|n| self.builder.store.get(&n).ok().flatten());
                    findings.push(Finding {
                        rock: rock.id(),
                        dependency: dep_name.clone(),
                        item: item.clone(),
                        kept: kept.is_some(),
                    });
                }
            }
        }
        if fix && findings.iter().any(|f| f.kept) {
            let mut rocks = base.rocks.clone();
            for f in findings.iter().filter(|f| f.kept) {
                let Ok(name) = crate::store::item_name::ItemName::parse(&f.item) else {
                    continue;
                };
                let Some(item) = self.builder.store.get(&name)? else {
                    continue;
                };
                let spec_path = item.path.join(format!(
                    "{}-{}.rockspec",
                    item.record.name, item.record.version
                ));
                let dependencies = std::fs::read(&spec_path)
                    .ok()
                    .and_then(|bytes| {
                        crate::rockspec::Rockspec::from_bytes(
                            &spec_path.display().to_string(),
                            None,
                            &bytes,
                            &crate::rockspec::LoadOptions {
                                platforms: self.builder.env.platforms.clone(),
                            },
                        )
                        .ok()
                    })
                    .map(|r| r.dependencies.iter().map(ToString::to_string).collect())
                    .unwrap_or_default();
                if !rocks.iter().any(|r| r.item == f.item) {
                    rocks.push(ProfileRock {
                        name: item.record.name.clone(),
                        version: item.record.version.clone(),
                        item: f.item.clone(),
                        explicit: false,
                        dependencies,
                        external_items: BTreeMap::new(),
                        wrap_bin_scripts: true,
                        namespace: None,
                        lock: None,
                    });
                }
                for r in &mut rocks {
                    if r.external_items.get(&f.dependency) == Some(&f.item) {
                        r.external_items.remove(&f.dependency);
                    }
                }
            }
            rocks.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
            let profile = Profile {
                format: 1,
                lua_version: self.settings.target.lua_version.clone(),
                rocks,
                others: base.others.clone(),
            };
            let change = format!(
                "doctor --fix: link {}",
                findings
                    .iter()
                    .filter(|f| f.kept)
                    .map(|f| f.dependency.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.switch_to(&lock, &profile, &change)?;
        }
        Ok(findings)
    }
}
