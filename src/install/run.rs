//! One install from requests to the switched generation: resolve, take
//! pinned and substituted items, run the builds, compose the new
//! generation's rocks, switch, and run the `post_install` hooks (undone
//! when one fails). Also what an install says as it goes.

use super::{
    compose, execute, pins::lock_text, plan, plan_cache, source, Added, InstallError, Installer,
    Outcome, Progress, Request, Step,
};
use crate::build::Built;
use crate::reporter::{Event, Reporter};
use crate::tree::{Profile, ProfileRock};

/// The license the rockspec of `name` `version` inside item `dir` names.
fn license_in(dir: &std::path::Path, name: &str, version: &str) -> Option<String> {
    let file = format!("{name}-{version}.rockspec");
    let bytes = std::fs::read(dir.join(&file)).ok()?;
    let options = crate::rockspec::LoadOptions {
        platforms: crate::rockspec::Platforms::host(),
    };
    crate::rockspec::Rockspec::from_bytes(&file, None, &bytes, &options)
        .ok()?
        .description
        .license
}

/// Progress as plain status lines through the installer's reporter.
struct StatusProgress<'s>(&'s dyn Reporter);

impl Progress for StatusProgress<'_> {
    fn finished(&self, _: usize, step: &Step, built: &Built) {
        self.0.report(Event::Status(&finished_line(step, built)));
    }
}

/// `name version: built ITEM` or `…: already built, reusing ITEM`.
pub fn finished_line(step: &Step, built: &Built) -> String {
    let rock = step.rock();
    if built.reused {
        format!(
            "{rock}: already built, reusing {}",
            built.item.name.as_str()
        )
    } else {
        format!("{rock}: built {}", built.item.name.as_str())
    }
}

impl<'a> Installer<'a> {
    /// Installs the requested rocks (`only_deps`: their dependencies only)
    /// and switches to the new generation.
    pub fn install(
        &mut self,
        requests: &[Request],
        only_deps: bool,
    ) -> Result<Outcome, InstallError> {
        self.install_watched(requests, only_deps, &StatusProgress(self.reporter))
    }

    /// [`Installer::install`], telling `progress` about each build.
    pub fn install_watched(
        &mut self,
        requests: &[Request],
        only_deps: bool,
        progress: &dyn Progress,
    ) -> Result<Outcome, InstallError> {
        let lock = self.lock_for_change()?;
        let done = self.install_locked(&lock, requests, only_deps, progress);
        if done.is_err() {
            // A tree this install was to create is not left behind.
            self.settings.target.unlock_unused(lock);
        }
        done
    }

    pub(super) fn install_locked(
        &mut self,
        lock: &crate::tree::TreeLock,
        requests: &[Request],
        only_deps: bool,
        progress: &dyn Progress,
    ) -> Result<Outcome, InstallError> {
        let _store_lock = self.backend.hold()?;
        let base = self.settings.target.current_profile()?;
        let mut plan = self.resolve(&base, requests, only_deps)?;
        self.use_pinned_items(&mut plan)?;
        self.prefetch_substitutes(&plan)?;
        let mut items = execute::run(
            &self.builder,
            self.backend,
            &plan,
            self.settings.jobs,
            progress,
        )?;
        // Before --no-doc swaps items: the document names what was built.
        let plan_record = match self.builder.substituters {
            Some(_) => plan_cache::plan_key(self, &plan)
                .and_then(|key| plan_cache::record(self, &plan, key, &items))
                .ok(),
            None => None,
        };
        if self.settings.no_doc {
            for (step, item) in plan.steps.iter().zip(items.iter_mut()) {
                if step.explicit && step.in_profile {
                    *item = source::without_docs(self.backend, item)?;
                }
            }
        }
        let planned = compose::planned_rocks(&plan, Some(&items), &self.settings.target.root);
        let installed = plan.requested.clone();
        // Drop other versions of what was installed, unless --keep, or
        // unless another rock needs them (LuaRocks then keeps them and
        // warns, unless --force).
        let (mut rocks, warnings) = compose::compose(
            &base.rocks,
            &planned,
            self.settings.keep,
            self.settings.force,
        );
        let pins = self.pins_of_run(&plan, &items)?;
        if self.settings.pin {
            let lock = lock_text(&pins);
            for rock in &mut rocks {
                if plan.requested.contains(&rock.id()) {
                    rock.lock = Some(lock.clone());
                }
            }
        }
        for warning in warnings {
            self.reporter.report(Event::Note(&warning));
        }
        let profile = Profile {
            format: 1,
            lua_version: self.settings.target.lua_version.clone(),
            rocks,
            others: base.others.clone(),
        };
        let announce = |step: &plan::Step, item: &String| Added {
            rock: step.rock(),
            license: license_in(
                &self.builder.store.root().join("store").join(item),
                &step.name,
                &step.version,
            ),
        };
        // The same rocks make no new generation, unless the current one's
        // files are gone (its store was): then it is made again.
        let target = &self.settings.target;
        if profile == base
            && target
                .current()
                .is_some_and(|n| target.generation_present(n))
        {
            // Forced (`make`, `--force`): LuaRocks installs again and says
            // so; the tree already holds exactly this.
            let again = plan
                .steps
                .iter()
                .zip(items.iter())
                .filter(|(step, _)| self.settings.force && step.explicit && step.in_profile)
                .map(|(step, item)| announce(step, item))
                .collect();
            return Ok(Outcome {
                generation: None,
                installed,
                added: again,
                pins: pins.clone(),
                plan: None,
            });
        }
        let added: Vec<Added> = plan
            .steps
            .iter()
            .zip(items.iter())
            .filter(|(step, item)| {
                let same = |r: &&ProfileRock| r.id() == step.rock();
                let before = base.rocks.iter().find(same);
                step.in_profile
                    && profile.rocks.iter().any(|r| same(&r))
                    && before.is_none_or(|b| b.item != **item)
            })
            .map(|(step, item)| announce(step, item))
            .collect();
        let change = if installed.is_empty() {
            "install dependencies".to_owned()
        } else {
            let rocks: Vec<String> = installed.iter().map(ToString::to_string).collect();
            format!("install {}", rocks.join(", "))
        };
        let previous = self.settings.target.current();
        let generation = self.switch_to(lock, &profile, &change)?;
        if let Err(failure) = self.run_hooks(&plan, &profile) {
            let restored = self.undo(lock, &base, previous, generation)?;
            return Err(InstallError::Hook {
                rock: Box::new(failure.rock),
                command: failure.command,
                status: failure.status,
                tree: self.settings.target.root.clone(),
                restored,
            });
        }
        Ok(Outcome {
            generation: Some(generation),
            installed,
            added,
            pins,
            plan: plan_record,
        })
    }
}
