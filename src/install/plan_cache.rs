//! Plan documents in an install (store-format/v1/cache.md, "Plan
//! documents"): before asking the substituters level by level, ask one
//! plan document for the whole plan; after an install that pushed, write
//! one. A document is trusted entry by entry: each recipe key is
//! recomputed from the items the document gives the rock's dependencies,
//! and each entry's realisation is asked for (all at once) and must name
//! the same item; one mismatch and the document is refused, and the
//! install asks level by level as without one.

use super::plan::{Action, InstallPlan};
use super::resolve::dependency_items;
use super::{InstallError, Installer};
use crate::cache::plan_doc::{self, PlanEntry};
use crate::cache::substitute::{Expect, Hit, Substituters};
use crate::rock_id::RockId;
use crate::store::content_hash::{ContentHash, RecipeKey};
use crate::store::item_name::ItemName;

/// What a pushing host writes as its plan document (signed by the CLI,
/// which holds the keys, once its pushes are done).
#[derive(Debug, Clone)]
pub struct PlanRecord {
    /// The plan key.
    pub plan_key: String,
    /// The Lua ABI.
    pub lua_abi: String,
    /// The platform.
    pub platform: String,
    /// Every rock built or substituted, dependencies first.
    pub entries: Vec<RecordedRock>,
}

/// One rock of a [`PlanRecord`].
#[derive(Debug, Clone)]
pub struct RecordedRock {
    /// The rock.
    pub rock: RockId,
    /// The recipe it was built by.
    pub recipe_key: RecipeKey,
    /// The item that recipe built.
    pub item: String,
    /// The item's content hash.
    pub hash: ContentHash,
}

impl RecordedRock {
    /// As a plan document writes it (its fingerprint signs this text).
    pub fn entry(&self) -> PlanEntry {
        PlanEntry {
            rock: self.rock.to_string(),
            recipe_key: self.recipe_key.to_hex(),
            item: self.item.clone(),
            hash: self.hash.to_string(),
        }
    }
}

/// The items a plan knows before anything is built or asked.
fn known_items(plan: &InstallPlan) -> Vec<Option<String>> {
    plan.steps
        .iter()
        .map(|s| match &s.action {
            Action::Installed(item) | Action::Pinned(item) => Some(item.clone()),
            _ => None,
        })
        .collect()
}

/// The plan's key: its rocks to build and the recipe keys known without
/// any cache (see [`plan_doc::plan_key`]).
pub(super) fn plan_key(
    installer: &Installer<'_>,
    plan: &InstallPlan,
) -> Result<String, InstallError> {
    let items = known_items(plan);
    let mut rocks = Vec::new();
    let mut known: Vec<RecipeKey> = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let Some(source) = &step.build_from else {
            continue;
        };
        if items[i].is_some() {
            continue;
        }
        rocks.push(step.rock().to_string());
        if let Some(deps) = dependency_items(step, &items) {
            if let Some((key, _)) = source.recipe(&installer.builder, deps)? {
                known.push(key);
            }
        }
    }
    Ok(plan_doc::plan_key(
        &installer.builder.env.lua_abi(),
        &installer.builder.env.arch,
        &rocks,
        &known,
    ))
}

/// The realisations of the whole plan from one plan document and one
/// parallel round of lookups; `None` when there is no document or it is
/// refused (the caller asks level by level).
pub(super) fn hits_from_document(
    installer: &Installer<'_>,
    plan: &InstallPlan,
    substituters: &Substituters,
) -> Result<Option<Vec<Hit>>, InstallError> {
    let abi = installer.builder.env.lua_abi();
    let platform = installer.builder.env.arch.clone();
    let key = plan_key(installer, plan)?;
    let Some(doc) = substituters.plan_document(&key, &abi, &platform) else {
        return Ok(None);
    };
    let refuse = |why: String| {
        substituters.warn(&format!(
            "refusing the plan document {key}: {why}; asking for each rock instead"
        ));
        Ok(None)
    };
    let mut items = known_items(plan);
    let mut asked = vec![false; plan.steps.len()];
    let mut wanted: Vec<(RecipeKey, RockId, String)> = Vec::new();
    let mut hashes: Vec<ContentHash> = Vec::new();
    // The levels, with no request: the document gives each item.
    loop {
        let mut progressed = false;
        for (i, step) in plan.steps.iter().enumerate() {
            if asked[i] || items[i].is_some() {
                continue;
            }
            let (Some(source), Some(deps)) = (&step.build_from, dependency_items(step, &items))
            else {
                continue;
            };
            asked[i] = true;
            progressed = true;
            let Some((recipe, rock)) = source.recipe(&installer.builder, deps)? else {
                continue;
            };
            if let Some(item) = installer.builder.store.realisation(&recipe)? {
                items[i] = Some(item.name.as_str().to_owned());
                continue;
            }
            // The document holds each rock as its text (what was signed).
            let listed = |e: &&PlanEntry| RockId::parse(&e.rock).as_ref() == Some(&rock);
            let Some(entry) = doc.entries.iter().find(listed) else {
                return refuse(format!("it does not list {rock}"));
            };
            if entry.recipe_key != recipe.to_hex() {
                return refuse(format!("it names another recipe of {rock}"));
            }
            let Ok(hash) = ContentHash::parse_hex(&entry.hash) else {
                return refuse(format!("its hash of {rock} is not a content hash"));
            };
            items[i] = Some(entry.item.clone());
            hashes.push(hash);
            wanted.push((recipe, rock, entry.item.clone()));
        }
        if !progressed {
            break;
        }
    }
    // Each entry against its signed realisation, all asked at once, and
    // the blobs the entries name fetched in the same round (kept aside:
    // admission checks each against its hash and realisation). The
    // substituter compares each rock with its realisation's text.
    let texts: Vec<String> = wanted.iter().map(|(_, rock, _)| rock.to_string()).collect();
    let expects: Vec<(RecipeKey, Expect<'_>)> = wanted
        .iter()
        .zip(&texts)
        .map(|((key, _, _), rock)| {
            (
                *key,
                Expect {
                    rock,
                    lua_abi: &abi,
                    platform: &platform,
                },
            )
        })
        .collect();
    let blobs = installer.backend.substitutes_here();
    std::thread::scope(|scope| {
        if blobs {
            scope.spawn(|| substituters.prefetch_hashes(&hashes));
        }
        substituters.prefetch(&expects);
    });
    let mut hits = Vec::new();
    for (((key, expect), (_, rock, item)), hash) in expects.iter().zip(&wanted).zip(&hashes) {
        match substituters.lookup(key, *expect) {
            Some(hit) if hit.doc.item == *item && hit.hash == *hash => hits.push(hit),
            Some(hit) => {
                return refuse(format!(
                    "it says {rock} built {item}, its realisation says {}",
                    hit.doc.item
                ))
            }
            None => return refuse(format!("no trusted realisation of {rock} is there")),
        }
    }
    Ok(Some(hits))
}

/// The plan document of an install whose steps gave `items`: every rock
/// built or substituted, with its recipe key.
pub(super) fn record(
    installer: &Installer<'_>,
    plan: &InstallPlan,
    plan_key: String,
    items: &[String],
) -> Result<PlanRecord, InstallError> {
    let known: Vec<Option<String>> = items.iter().cloned().map(Some).collect();
    let before = known_items(plan);
    let mut entries = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let (Some(source), None) = (&step.build_from, &before[i]) else {
            continue;
        };
        let Some(deps) = dependency_items(step, &known) else {
            continue;
        };
        let Some((key, rock)) = source.recipe(&installer.builder, deps)? else {
            continue;
        };
        let Some(item) = ItemName::parse(&items[i])
            .ok()
            .and_then(|name| installer.builder.store.get(&name).ok().flatten())
        else {
            continue;
        };
        entries.push(RecordedRock {
            rock,
            recipe_key: key,
            item: items[i].clone(),
            hash: item.record.hash,
        });
    }
    Ok(PlanRecord {
        plan_key,
        lua_abi: installer.builder.env.lua_abi(),
        platform: installer.builder.env.arch.clone(),
        entries,
    })
}
