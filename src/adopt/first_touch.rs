//! Adoption on first touch: a command that changes a tree (`install`,
//! `remove`, `purge`, `doctor`, and `build`/`make` through `install`)
//! adopts what LuaRocks installed or changed there first, under the same
//! tree lock, as one generation before its own. Every Lua version the tree
//! holds rocks for is covered (one generation holds them all).
//!
//! What LuaRocks itself would not have cared about — a file edited since
//! it installed it, one missing, one its `rock_manifest` does not list —
//! is taken as it is, each named in a warning; a rock whose
//! `rock_manifest` cannot be read stops the command before anything
//! changed (adopting it would leave a rock no one can remove).
//!
//! An admin who wants the explicit step (`rockstore adopt`) says so with
//! `rockstore_adopt = "explicit"` in LuaRocks' config, or `--no-adopt`:
//! then the command refuses, as before.

use std::path::Path;

use crate::backend::StoreBackend;
use crate::tree::profile::{Profile, ProfileRock, WrapperContext};
use crate::tree::{LuaRocksChanges, Tree, TreeLock};

use super::{AdoptError, Options, Problem, Survey};

/// Whether a command adopts on first touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Adopt, in the same command (the default).
    #[default]
    Auto,
    /// Refuse, saying to run `rockstore adopt` (`--no-adopt`, or
    /// `rockstore_adopt = "explicit"`).
    Explicit,
}

impl Policy {
    /// The policy `--no-adopt` and config `rockstore_adopt` ask for (the
    /// flag wins; any value but `"explicit"` adopts).
    pub fn of(no_adopt: bool, config: Option<&str>) -> Policy {
        if no_adopt || config == Some("explicit") {
            Policy::Explicit
        } else {
            Policy::Auto
        }
    }
}

/// Whether `problem` stops an adoption on first touch (the rock could not
/// be taken in at all) rather than being taken as it is.
pub fn stops(problem: &Problem) -> bool {
    matches!(problem, Problem::Unreadable { why, .. } if !why.starts_with("its rockspec"))
}

/// What an adoption on first touch did (or, for a dry run, would do).
#[derive(Debug)]
pub struct FirstTouch {
    /// What was taken in.
    pub survey: Survey,
    /// The tree was LuaRocks' alone (else: LuaRocks changed an adopted tree).
    pub was_plain: bool,
    /// What LuaRocks changed, per Lua version.
    pub changes: Vec<(String, LuaRocksChanges)>,
    /// The generation made (for a dry run, the one it would be).
    pub generation: u64,
}

impl FirstTouch {
    /// The one line that says what happened, e.g. `Adopted T first: 2
    /// rock(s) LuaRocks installed (Lua 5.4: 1, Lua 5.1: 1) are generation
    /// 1; …`, or for a dry run what would.
    pub fn line(&self, root: &Path, dry_run: bool) -> String {
        let shown = root.display();
        let g = self.generation;
        if self.was_plain {
            let per_version: Vec<String> = self
                .survey
                .versions
                .iter()
                .filter(|v| !v.adopted.is_empty())
                .map(|v| format!("Lua {}: {}", v.lua_version, v.adopted.len()))
                .collect();
            let n = self.survey.adopted();
            let per_version = per_version.join(", ");
            if dry_run {
                format!(
                    "Would adopt {shown} first: {n} rock(s) LuaRocks installed ({per_version}) would be generation {g}; the plan below starts from them."
                )
            } else {
                format!(
                    "Adopted {shown} first: {n} rock(s) LuaRocks installed ({per_version}) are generation {g}; `rockstore release {shown}` gives the tree back to LuaRocks."
                )
            }
        } else {
            let what = self
                .changes
                .iter()
                .map(|(v, c)| format!("for Lua {v}, {}", c.describe()))
                .collect::<Vec<_>>()
                .join("; ");
            if dry_run {
                format!(
                    "Would take in what LuaRocks changed in {shown} first ({what}) as generation {g}; the plan below starts from it."
                )
            } else {
                format!("Took in what LuaRocks changed in {shown} first ({what}): generation {g}.")
            }
        }
    }

    /// One warning per file taken as it is (rockstore's own: the command
    /// line writes each after `warning: `).
    pub fn warnings(&self) -> Vec<String> {
        self.survey
            .problems()
            .iter()
            .map(|p| format!("{p}; {}", p.forced()))
            .collect()
    }
}

/// Adopts what LuaRocks installed or changed in `tree`, under `lock` (the
/// tree lock the command took with [`Tree::lock_for_adopting_change`]).
/// `None` when LuaRocks changed nothing.
pub fn adopt_first(
    backend: &dyn StoreBackend,
    tree: &Tree,
    lock: &TreeLock,
    wrap: WrapperContext<'_>,
    now: u64,
) -> Result<Option<FirstTouch>, AdoptError> {
    let changes = tree.luarocks_changes_all();
    if changes.is_empty() {
        return Ok(None);
    }
    let was_plain = !tree.is_profile();
    let options = Options {
        force: false,
        dry_run: false,
        wrap,
        now,
        first_touch: true,
    };
    let survey = super::adopt_locked(backend, tree, lock, &options)?;
    let generation = survey.generation.or_else(|| tree.current()).unwrap_or(0);
    Ok(Some(FirstTouch {
        survey,
        was_plain,
        changes,
        generation,
    }))
}

/// For a dry run: what adopting `tree` first would do, and the tree's
/// rocks for its own Lua version as they would be then (a rock LuaRocks
/// installed stands for the item it would become, named
/// `luarocks:NAME-VERSION`). `None` when LuaRocks changed nothing.
pub fn planned(tree: &Tree) -> Result<Option<(FirstTouch, Profile)>, AdoptError> {
    let changes = tree.luarocks_changes_all();
    if changes.is_empty() {
        return Ok(None);
    }
    let (survey, found) = super::survey(tree)?;
    let stopping: Vec<Problem> = survey.problems().into_iter().filter(stops).collect();
    if !stopping.is_empty() {
        return Err(AdoptError::Unadoptable {
            root: tree.root.clone(),
            problems: stopping,
        });
    }
    let base = tree.current_profile()?;
    let mut profile = base.clone();
    if let Some((one, found)) = survey
        .versions
        .iter()
        .zip(&found)
        .find(|(v, _)| v.lua_version == tree.lua_version)
    {
        profile.rocks.retain(|r| one.kept.contains(&r.id()));
        profile
            .rocks
            .extend(found.rocks.iter().map(|rock| ProfileRock {
                name: rock.name.clone(),
                version: rock.version.clone(),
                item: format!("luarocks:{}-{}", rock.name, rock.version),
                explicit: true,
                dependencies: rock.dependencies.clone(),
                external_items: Default::default(),
                wrap_bin_scripts: rock.wrap_bin_scripts,
                namespace: rock.namespace.clone(),
                lock: rock.lock.clone(),
            }));
        profile
            .rocks
            .sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    }
    let touch = FirstTouch {
        survey,
        was_plain: !tree.is_profile(),
        changes,
        generation: tree.next_generation()?,
    };
    Ok(Some((touch, profile)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_or_explicit_in_config_refuses_and_anything_else_adopts() {
        assert_eq!(Policy::of(false, None), Policy::Auto);
        assert_eq!(Policy::of(false, Some("auto")), Policy::Auto);
        assert_eq!(Policy::of(false, Some("explicit")), Policy::Explicit);
        assert_eq!(Policy::of(true, None), Policy::Explicit);
    }

    #[test]
    fn only_a_rock_that_cannot_be_read_stops_it() {
        let rock = crate::rock_id::RockId::new("x", "1.0-1");
        assert!(stops(&Problem::Unreadable {
            rock: rock.clone(),
            why: "its rock_manifest cannot be read".into(),
        }));
        assert!(!stops(&Problem::Unreadable {
            rock: rock.clone(),
            why: "its rockspec: bad syntax".into(),
        }));
        assert!(!stops(&Problem::Edited {
            rock,
            file: "share/lua/5.4/x.lua".into(),
            expected: "a".into(),
            actual: "b".into(),
        }));
    }
}
