//! What already exists elsewhere, found before any build: the items a
//! project's `luarocks.lock` pins by content hash, and every step's
//! realisation asked of the substituters a plan level at a time.

use super::{plan_cache, resolve, Action, InstallError, InstallPlan, Installer};

impl<'a> Installer<'a> {
    /// The dependencies whose item the project's `luarocks.lock` names by
    /// content hash (`rockstore_items`): taken from the store, or else
    /// from any substituter's blob of that hash, signed or not (the hash
    /// is the proof), with no realisation asked for. A pinned item found
    /// nowhere is built, after a warning. The rocks asked for are always
    /// built: `make` builds the working directory, whatever a lock says.
    pub(super) fn use_pinned_items(&self, plan: &mut InstallPlan) -> Result<(), InstallError> {
        let Some(lock) = &self.pins else {
            return Ok(());
        };
        if lock.items.is_empty() {
            return Ok(());
        }
        for step in &mut plan.steps {
            if step.explicit || !matches!(step.action, Action::Build) {
                continue;
            }
            let Some(hash) = lock.items.get(&step.name) else {
                continue;
            };
            let Ok(hash) = crate::store::content_hash::ContentHash::parse_hex(hash) else {
                continue;
            };
            let Ok(name) = crate::store::item_name::ItemName::new(&hash, &step.name, &step.version)
            else {
                continue;
            };
            if self.builder.store.get(&name)?.is_some() {
                step.action = Action::Pinned(name.as_str().to_owned());
                continue;
            }
            let found = self
                .builder
                .substituters
                .and_then(|s| s.archive_by_hash(&hash, crate::cache::copy::FetchLimits::default()));
            let Some((url, mut archive, len)) = found else {
                self.notice(&format!(
                    "{}: its pinned item {} is in no substituter (or none gave a blob it could use); building it",
                    step.rock(),
                    name.as_str()
                ));
                continue;
            };
            let spec = crate::store::ItemSpec {
                name: step.name.clone(),
                version: step.version.clone(),
                kind: crate::store::db::ItemKind::Rock,
                references: Vec::new(),
                recipe_key: None,
            };
            let item = self.backend.add_archive(&mut archive, len, &spec)?;
            if item.name != name {
                self.notice(&format!(
                    "{}: {url} gave {} for the pinned item {}; building it",
                    step.rock(),
                    item.name.as_str(),
                    name.as_str()
                ));
                continue;
            }
            self.status(&format!(
                "{}: pinned item {} from {url}",
                step.rock(),
                name.as_str()
            ));
            step.action = Action::Pinned(name.as_str().to_owned());
        }
        Ok(())
    }

    /// Asks the substituters for every step's realisation before anything
    /// is built, all the steps of a level at once: a step's recipe key is
    /// known once its dependencies' items are (installed, realised here, or
    /// substituted), so the round trips grow with the plan's depth, not
    /// with its number of rocks. The builds then find the answers at once.
    pub(super) fn prefetch_substitutes(&self, plan: &InstallPlan) -> Result<(), InstallError> {
        let Some(substituters) = self.builder.substituters else {
            return Ok(());
        };
        let fetch_blobs = |hits: &[crate::cache::substitute::Hit]| {
            if self.backend.substitutes_here() && !hits.is_empty() {
                let started = std::time::Instant::now();
                let (count, bytes) = substituters.prefetch_blobs(hits);
                // Nothing ahead (a cache cut or refusing, warned about
                // already): each step fetches or builds its own, so no
                // line saying "0" as if that were the result.
                if count == 0 {
                    return;
                }
                self.status(&format!(
                    "downloaded {count} build(s) ({} KiB) from the substituters in {:.1} ms",
                    bytes.div_ceil(1024),
                    started.elapsed().as_secs_f64() * 1e3
                ));
            }
        };
        // A plan document: the whole closure in one request.
        if let Some(hits) = plan_cache::hits_from_document(self, plan, substituters)? {
            self.status(&format!(
                "a plan document named {} build(s) of this plan",
                hits.len()
            ));
            fetch_blobs(&hits);
            return Ok(());
        }
        let abi = self.builder.env.lua_abi();
        let platform = self.builder.env.arch.clone();
        let mut items: Vec<Option<String>> = plan
            .steps
            .iter()
            .map(|s| match &s.action {
                Action::Installed(item) | Action::Pinned(item) => Some(item.clone()),
                _ => None,
            })
            .collect();
        let mut asked = vec![false; plan.steps.len()];
        let mut hits = Vec::new();
        loop {
            let mut level = Vec::new();
            for (i, step) in plan.steps.iter().enumerate() {
                if asked[i] || items[i].is_some() {
                    continue;
                }
                let (Some(source), Some(deps)) =
                    (&step.build_from, resolve::dependency_items(step, &items))
                else {
                    continue;
                };
                asked[i] = true;
                if let Some((key, rock)) = source.recipe(&self.builder, deps)? {
                    match self.builder.store.realisation(&key)? {
                        Some(item) => items[i] = Some(item.name.as_str().to_owned()),
                        // Asked as text: a substituter compares it with
                        // its realisation's.
                        None => level.push((i, key, rock.to_string())),
                    }
                }
            }
            if level.is_empty() {
                fetch_blobs(&hits);
                return Ok(());
            }
            let wanted: Vec<_> = level
                .iter()
                .map(|(_, key, rock)| {
                    (
                        *key,
                        crate::cache::substitute::Expect {
                            rock,
                            lua_abi: &abi,
                            platform: &platform,
                        },
                    )
                })
                .collect();
            substituters.prefetch(&wanted);
            for ((i, _, _), (key, expect)) in level.iter().zip(&wanted) {
                if let Some(hit) = substituters.lookup(key, *expect) {
                    items[*i] = Some(hit.doc.item.clone());
                    hits.push(hit);
                }
            }
        }
    }
}
