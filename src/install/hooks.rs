//! `post_install` hooks: run with LuaRocks' variables once the new
//! generation is current, and the switch back when one fails.

use super::{InstallError, InstallPlan, Installer};
use crate::rock_id::RockId;
use crate::tree::Profile;

/// A hook that failed: the rock, the command as run, and how it ended.
pub(super) struct HookFailure {
    pub(super) rock: RockId,
    pub(super) command: String,
    pub(super) status: String,
}

impl<'a> Installer<'a> {
    /// Runs the `post_install` hooks of the rocks the new generation
    /// holds, with LuaRocks' variables: the build variables, and `PREFIX`,
    /// `LUADIR`, `LIBDIR`, `CONFDIR`, `BINDIR`, `DOCDIR` of the rock's
    /// directory in the tree. The hook runs in the working directory, as
    /// LuaRocks runs it; its output is the user's to see.
    pub(super) fn run_hooks(
        &self,
        plan: &InstallPlan,
        profile: &Profile,
    ) -> Result<(), HookFailure> {
        for hook in &plan.hooks {
            let kept = profile.rocks.iter().any(|r| r.id() == hook.rock);
            if !kept {
                continue;
            }
            let prefix = self
                .settings
                .target
                .rocks_dir()
                .join(&hook.rock.name)
                .join(&hook.rock.version);
            let mut vars = self.builder.env.variables.clone();
            vars.insert("PREFIX".into(), prefix.display().to_string());
            for (var, sub) in [
                ("LUADIR", "lua"),
                ("LIBDIR", "lib"),
                ("CONFDIR", "conf"),
                ("BINDIR", "bin"),
                ("DOCDIR", "doc"),
            ] {
                vars.insert(var.into(), prefix.join(sub).display().to_string());
            }
            let command =
                crate::build::variables::substitute(&hook.command, &vars, &mut Vec::new());
            self.status(&command);
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .status();
            let failure = match status {
                Ok(s) if s.success() => continue,
                Ok(s) => match s.code() {
                    Some(code) => format!("exited with status {code}"),
                    None => format!("was killed ({s})"),
                },
                Err(e) => format!("could not be started: {e}"),
            };
            return Err(HookFailure {
                rock: hook.rock.clone(),
                command,
                status: failure,
            });
        }
        Ok(())
    }

    /// After a failed hook: the previous generation is current again (or,
    /// for a tree's first install, a new empty one), and the failed
    /// generation is deleted, as LuaRocks deletes the rock it installed.
    /// Returns the generation now current.
    pub(super) fn undo(
        &self,
        lock: &crate::tree::TreeLock,
        base: &Profile,
        previous: Option<u64>,
        failed: u64,
    ) -> Result<u64, InstallError> {
        let restored = match previous {
            Some(p) => {
                self.settings.target.switch(lock, p)?;
                p
            }
            None => self.switch_to(lock, base, "undo a failed post_install hook")?,
        };
        self.settings.target.delete_generations(lock, &[failed])?;
        let roots = crate::backend::roots_of(&self.settings.target)?;
        self.backend
            .register_tree(&self.settings.target.root, &roots)?;
        Ok(restored)
    }
}
