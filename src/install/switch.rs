//! Changing the target tree: the tree lock (adopting what LuaRocks left
//! there first, under it), and a new generation's profile item made,
//! rooted and switched to.

use std::path::PathBuf;

use super::{consulted, InstallError, Installer};
use crate::backend::ProfileRequest;
use crate::store::GenerationRoot;
use crate::tree::profile::WrapperContext;
use crate::tree::Profile;

impl<'a> Installer<'a> {
    /// Takes the tree lock to change the tree. What LuaRocks installed or
    /// changed there is adopted first, under that lock, unless the policy
    /// asks for the explicit step (then the tree refuses, as
    /// [`Tree::lock_for_change`]). A failed adoption leaves the tree as it
    /// was, and no `.rockstore/` it did not have.
    pub(super) fn lock_for_change(&self) -> Result<crate::tree::TreeLock, InstallError> {
        use crate::adopt::first_touch::{self, Policy};
        let target = &self.settings.target;
        if self.settings.adopt == Policy::Explicit {
            return Ok(target.lock_for_change()?);
        }
        let lock = target.lock_for_adopting_change()?;
        let (lua, trees) = self.wrapper_parts();
        let wrap = WrapperContext { lua: &lua, trees };
        match first_touch::adopt_first(self.backend, target, &lock, wrap, now()) {
            Ok(None) => Ok(lock),
            Ok(Some(touch)) => {
                for warning in touch.warnings() {
                    self.notice(&warning);
                }
                self.status(&touch.line(&target.root, false));
                Ok(lock)
            }
            Err(e) => {
                target.unlock_unused(lock);
                Err(e.into())
            }
        }
    }

    /// The interpreter and the trees the `bin/` wrappers of a new
    /// generation name.
    pub(super) fn wrapper_parts(&self) -> (String, Vec<PathBuf>) {
        let lua = self
            .builder
            .env
            .lua
            .interpreter
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("lua{}", self.settings.target.lua_version));
        let mut wrapper_trees = consulted::consulted_roots(&self.settings, self.settings.deps_mode);
        if wrapper_trees.is_empty() {
            wrapper_trees.push(self.settings.target.root.clone());
        }
        (lua, wrapper_trees)
    }

    /// Builds the profile item, records the generation, switches, and
    /// registers the tree as a GC root.
    pub(super) fn switch_to(
        &self,
        lock: &crate::tree::TreeLock,
        profile: &Profile,
        change: &str,
    ) -> Result<u64, InstallError> {
        let (lua, wrapper_trees) = self.wrapper_parts();
        let target = &self.settings.target;
        let item = self.backend.build_profile(&ProfileRequest {
            tree: target,
            profile,
            wrap: &WrapperContext {
                lua: &lua,
                trees: wrapper_trees,
            },
        })?;
        // The new generation is a root before the tree names it: a
        // collection in between keeps it.
        let mut roots = crate::backend::roots_of(target)?;
        roots.push(GenerationRoot {
            generation: target.next_generation()?,
            item: item.name.clone(),
        });
        self.backend.register_tree(&target.root, &roots)?;
        self.builder.store.failpoint("before-switch");
        Ok(self
            .settings
            .target
            .commit(lock, &item.path, change, now())?)
    }
}

/// Seconds since the epoch, for a generation's record.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
