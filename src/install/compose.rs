//! The rocks of a new generation: the tree's current rocks with the
//! plan's added, other versions of each added rock dropped unless
//! `--keep` or another rock still needs them (LuaRocks keeps those, with
//! its warning). And the test of a greedy plan: a rock the plan touches
//! left with two versions, or a dependency left unmet, means LuaRocks'
//! greedy choice failed and the solver is asked.

use std::collections::BTreeMap;
use std::path::Path;

use super::consulted::ConsultedTree;
use super::plan::{InstallPlan, Step};
use super::resolve::external_items;
use crate::rock_id::RockId;
use crate::rockspec::{Dependency, Version};
use crate::tree::ProfileRock;

/// The plan's rocks as the profile holds them (`items`: each step's item,
/// or none before execution).
pub(crate) fn planned_rocks(
    plan: &InstallPlan,
    items: Option<&[String]>,
    target: &Path,
) -> Vec<ProfileRock> {
    plan.steps
        .iter()
        .enumerate()
        .filter(|(_, step)| step.in_profile)
        .map(|(i, step)| profile_rock(step, items.and_then(|it| it.get(i)), target))
        .collect()
}

fn profile_rock(step: &Step, item: Option<&String>, target: &Path) -> ProfileRock {
    ProfileRock {
        name: step.name.clone(),
        version: step.version.clone(),
        item: item.cloned().unwrap_or_default(),
        explicit: step.explicit,
        dependencies: step.rockspec_dependencies.clone(),
        external_items: external_items(step, target),
        wrap_bin_scripts: step.wrap_bin_scripts,
        namespace: step.namespace.clone(),
        lock: None,
    }
}

/// The other installed versions of `new`'s rock that a rock of the tree
/// still needs (its dependency is met by them, not by `new`): each with
/// the rocks that need it.
pub(crate) fn still_needed(
    rocks: &[ProfileRock],
    planned: &[ProfileRock],
    new: &ProfileRock,
) -> Vec<(String, Vec<RockId>)> {
    let new_version = Version::parse(&new.version);
    let mut kept = Vec::new();
    for old in rocks
        .iter()
        .filter(|r| r.name == new.name && r.version != new.version)
    {
        let old_version = Version::parse(&old.version);
        let dependents: Vec<RockId> = rocks
            .iter()
            .chain(planned)
            .filter(|r| r.name != new.name)
            .filter(|r| {
                parsed(r).any(|d| {
                    d.name == new.name && d.matches(&old_version) && !d.matches(&new_version)
                })
            })
            .map(ProfileRock::id)
            .collect();
        if !dependents.is_empty() {
            kept.push((old.version.clone(), dependents));
        }
    }
    kept
}

/// LuaRocks' warning for a version kept because others need it.
pub(crate) fn kept_warning(rock: &RockId, dependents: &[RockId]) -> String {
    let dependents: Vec<String> = dependents.iter().map(RockId::to_string).collect();
    format!(
        "Will not remove {rock}.\nRemoving it would break dependencies for: {}\n\nUse --force to force removal (warning: this may break modules).",
        dependents.join(", ")
    )
}

fn parsed(rock: &ProfileRock) -> impl Iterator<Item = Dependency> + '_ {
    rock.dependencies
        .iter()
        .filter_map(|d| Dependency::parse(d).ok())
}

/// The new generation's rocks, sorted, and the warnings to say.
pub(crate) fn compose(
    base: &[ProfileRock],
    planned: &[ProfileRock],
    keep: bool,
    force: bool,
) -> (Vec<ProfileRock>, Vec<String>) {
    let mut rocks: Vec<ProfileRock> = base.to_vec();
    let mut warnings = Vec::new();
    for new in planned {
        let was_explicit = rocks.iter().any(|r| r.name == new.name && r.explicit);
        let kept: Vec<String> = if keep || force {
            Vec::new()
        } else {
            still_needed(&rocks, planned, new)
                .into_iter()
                .map(|(version, dependents)| {
                    warnings.push(kept_warning(&RockId::new(&new.name, &version), &dependents));
                    version
                })
                .collect()
        };
        // Another version of the new rock stays only with --keep or when
        // another rock needs it.
        rocks.retain(|r| {
            r.name != new.name || (r.version != new.version && (keep || kept.contains(&r.version)))
        });
        let mut new = new.clone();
        new.explicit |= was_explicit;
        rocks.push(new);
    }
    rocks.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
    (rocks, warnings)
}

/// A rock the greedy plan left inconsistent: two versions of it in the
/// tree, or a rock's dependency on it unmet. `needs` is every rock of the
/// new generation that depends on it, with the dependency as written.
#[derive(Debug, Clone)]
pub(crate) struct Split {
    pub name: String,
    pub needs: Vec<(RockId, String)>,
}

impl Split {
    /// `btz is needed as "btz >= 2" by btx 2.0-1 and as "btz < 2" by bty 1.0-1`.
    pub fn describe(&self) -> String {
        let needs: Vec<String> = self
            .needs
            .iter()
            .map(|(rock, dep)| format!("as `{dep}` by {rock}"))
            .collect();
        format!("{} is needed {}", self.name, needs.join(" and "))
    }
}

/// What the new generation `rocks` leaves inconsistent among the rocks
/// the plan touches: a name with two versions, or a dependency nothing
/// meets, unless the rock is one the user asked for (LuaRocks honours the
/// request and keeps what others need, with its warning).
pub(crate) fn splits(
    plan: &InstallPlan,
    rocks: &[ProfileRock],
    provided: &[(String, String)],
    others: &[&ConsultedTree],
) -> Vec<Split> {
    let touched: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    let mut split: BTreeMap<String, ()> = BTreeMap::new();
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in rocks {
        versions.entry(&r.name).or_default().push(&r.version);
    }
    let asked = |name: &str| plan.requested.iter().any(|r| r.name == name);
    for (name, vs) in &versions {
        if vs.len() > 1 && touched.contains(name) && !asked(name) {
            split.insert((*name).to_owned(), ());
        }
    }
    for r in rocks {
        for dep in parsed(r) {
            let met = provided
                .iter()
                .any(|(n, v)| *n == dep.name && dep.matches(&Version::parse(v)))
                || rocks
                    .iter()
                    .any(|o| o.name == dep.name && dep.matches(&Version::parse(&o.version)))
                || others.iter().any(|t| {
                    t.rocks
                        .iter()
                        .any(|(n, v, _)| *n == dep.name && dep.matches(&Version::parse(v)))
                });
            let involved =
                touched.contains(&dep.name.as_str()) || touched.contains(&r.name.as_str());
            if !met && involved && !asked(&dep.name) {
                split.insert(dep.name.clone(), ());
            }
        }
    }
    split
        .into_keys()
        .map(|name| Split {
            needs: rocks
                .iter()
                .flat_map(|r| {
                    parsed(r)
                        .filter(|d| d.name == name)
                        .map(|d| (r.id(), d.to_string()))
                        .collect::<Vec<_>>()
                })
                .collect(),
            name,
        })
        .collect()
}
