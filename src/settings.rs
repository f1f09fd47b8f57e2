//! What LuaRocks derives from its config files, the command line and the
//! environment before a command works, resolved once into one value
//! ([`Resolved`]): the project around the working directory, the Lua
//! version and its installation, the config files for it, the rocks
//! servers, the build variables and environment, the rocks trees and the
//! target tree (LuaRocks 3.8's `process_tree_args`), and the deps mode.
//! The command line hands in what was asked ([`Asked`]); nothing here
//! reads the process environment but through [`EnvVars`].

use std::path::{Path, PathBuf};

use crate::build::variables::{self, Variables};
use crate::build::BuildEnv;
use crate::env_vars::EnvVars;
use crate::install::DepsMode;
use crate::lua_install::{LuaInstall, LuaInstallError};
use crate::luarocks_config::{
    ConfigFileError, ConfigSources, LuaRocksConfig, ServerEntry, TreeEntry,
};
use crate::project;
use crate::rockspec::Platforms;
use crate::tree::Tree;

/// What the command line asked for, as plain data.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    /// `--tree`: a name from `rocks_trees` or a path.
    pub tree: Option<String>,
    /// `--local`.
    pub local: bool,
    /// `--global`.
    pub global: bool,
    /// `--nodeps`.
    pub nodeps: bool,
    /// `--deps-mode`.
    pub deps_mode: Option<String>,
    /// `--no-project`.
    pub no_project: bool,
    /// `--project-tree`.
    pub project_tree: Option<PathBuf>,
    /// `--lua-version`.
    pub lua_version: Option<String>,
    /// `--lua-dir`.
    pub lua_dir: Option<PathBuf>,
    /// `--server`s, in order.
    pub servers: Vec<String>,
    /// `--only-server`.
    pub only_server: Option<String>,
    /// `--dev`.
    pub dev: bool,
    /// `--only-sources`.
    pub only_sources: Option<String>,
    /// `--link-mode`.
    pub link_mode: Option<String>,
}

/// Why the settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `--link-mode` or `rockstore_link_mode` names no mode.
    #[error(transparent)]
    LinkMode(crate::tree::link_mode::LinkModeError),
    /// No usable Lua.
    #[error(transparent)]
    Lua(#[from] LuaInstallError),
    /// A config file is broken.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// `--deps-mode` or the config names no deps mode.
    #[error("unknown deps mode `{0}` (one, all, order, none)")]
    DepsMode(String),
    /// `--local` or `local_by_default` without a home.
    #[error(
        "no home tree: HOME is not set (set home_tree in the LuaRocks config, or pass --tree DIR)"
    )]
    NoHome,
    /// `--local` as root, refused as LuaRocks refuses it.
    #[error("The --local flag is meant for operating in a user's home directory.\nYou are running as a superuser, which is intended for system-wide operation.\nTo force using the superuser's home, use --tree explicitly.")]
    LocalAsRoot,
    /// No tree at all.
    #[error("rocks_trees is empty: pass --tree DIR")]
    NoTrees,
    /// A path that cannot be made absolute.
    #[error("bad path {0}")]
    Path(String, #[source] std::io::Error),
}

/// Everything resolved for one command.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// What was asked.
    pub asked: Asked,
    /// The environment.
    pub env: EnvVars,
    /// The Lua installation.
    pub lua: LuaInstall,
    /// LuaRocks' config files, read for that Lua.
    pub config: LuaRocksConfig,
    /// The LuaRocks project, inside one.
    pub project: Option<project::Project>,
    /// A project around the working directory that is not used because
    /// another user owns part of it (the CLI warns).
    pub ignored_project: Option<project::Untrusted>,
    /// Where the config files were looked for (`config KEY VALUE` rewrites
    /// one of them).
    pub sources: ConfigSources,
}

/// The target tree, the rocks trees, and how the tree was chosen.
pub struct ChosenTarget {
    /// The target tree.
    pub tree: Tree,
    /// Every rocks tree, absolute, in order.
    pub trees: Vec<PathBuf>,
    /// Whether the flags or config chose the tree (`--tree`, `--local`,
    /// `local_by_default`) rather than a project or the last tree.
    pub chosen: bool,
}

/// `--local` as LuaRocks 3.8 decides it (`fs.is_superuser`): refused when
/// `$USER` is `root`, whatever the uid, so root without `$USER` (a
/// Dockerfile's `RUN`) gets `$HOME/.luarocks`. Checked before anything is
/// read or opened, so a refused command creates nothing.
fn check_local(asked: &Asked, env: &EnvVars) -> Result<(), SettingsError> {
    if asked.local && env.user.as_deref() == Some(std::ffi::OsStr::new("root")) {
        return Err(SettingsError::LocalAsRoot);
    }
    Ok(())
}

impl Resolved {
    /// Resolves for commands that need Lua.
    pub fn new(asked: Asked, env: &EnvVars) -> Result<Resolved, SettingsError> {
        check_local(&asked, env)?;
        let (project, ignored) = find_project(&asked)?;
        let lua = detect_lua(&asked, env, project.as_ref())?;
        Resolved::with_lua(asked, env, lua, project, ignored)
    }

    /// For commands that only need the store: its location may come from
    /// LuaRocks' config (`rockstore_store`), but no Lua interpreter is
    /// needed, so a missing one falls back to the 5.4 config file.
    pub fn for_store(asked: Asked, env: &EnvVars) -> Result<Resolved, SettingsError> {
        check_local(&asked, env)?;
        let (project, ignored) = find_project(&asked)?;
        let version = asked
            .lua_version
            .clone()
            .unwrap_or_else(|| "5.4".to_owned());
        let lua = detect_lua(&asked, env, project.as_ref())
            .or_else(|_| LuaInstall::detect(Some(&version), None))?;
        Resolved::with_lua(asked, env, lua, project, ignored)
    }

    fn with_lua(
        asked: Asked,
        env: &EnvVars,
        lua: LuaInstall,
        project: Option<project::Project>,
        ignored_project: Option<project::Untrusted>,
    ) -> Result<Resolved, SettingsError> {
        let explicit = env
            .luarocks_config_versioned
            .iter()
            .find(|(v, _)| *v == lua.version)
            .map(|(_, p)| PathBuf::from(p))
            .or_else(|| env.luarocks_config.clone().map(PathBuf::from));
        let sources = config_sources(env, project.as_ref().map(|p| p.dir.clone()), explicit);
        let config = LuaRocksConfig::load(&sources, &lua.version)?;
        Ok(Resolved {
            asked,
            env: env.clone(),
            lua,
            config,
            project,
            ignored_project,
            sources,
        })
    }

    /// The `rocks_servers` in use, the flags applied as LuaRocks'
    /// `process_server_args` applies them: `--only-server` alone, else
    /// every `--server` (in order) before the configured (or default)
    /// entries; with `--dev`, every entry's dev tree first.
    pub fn server_entries(&self) -> Vec<ServerEntry> {
        let entries: Vec<ServerEntry> = match self.asked.only_server.as_deref() {
            Some(only) => vec![ServerEntry::Url(only.to_owned())],
            None => self
                .asked
                .servers
                .iter()
                .map(|s| ServerEntry::Url(s.clone()))
                .chain(self.config.rocks_servers.iter().cloned())
                .collect(),
        };
        if self.asked.dev {
            entries
                .iter()
                .map(ServerEntry::dev)
                .chain(entries.iter().cloned())
                .collect()
        } else {
            entries
        }
    }

    /// The servers to ask, in order: each entry's first URL (a group's
    /// other mirrors are the fetcher's fallbacks).
    pub fn servers(&self) -> Vec<String> {
        self.server_entries()
            .iter()
            .filter_map(|e| e.first().map(str::to_owned))
            .collect()
    }

    /// Defaults, then config `variables`, then command-line `VAR=VALUE`.
    pub fn build_env(&self, overrides: Variables) -> BuildEnv {
        let mut vars = variables::defaults(
            &self.lua,
            self.env.cc.as_deref(),
            self.env.cflags.as_deref(),
            self.env.ldflags.as_deref(),
        );
        vars.extend(self.config.variables.iter().cloned());
        vars.extend(overrides);
        BuildEnv {
            only_sources_from: self.asked.only_sources.clone(),
            lua: self.lua.clone(),
            platforms: Platforms::host(),
            variables: vars,
            deps_dirs: merged_deps_dirs(self.config.external_deps_dirs.as_deref()),
            arch: BuildEnv::host_arch(),
            rocks_provided: self.rocks_provided(),
            branch: None,
        }
    }

    /// The VM's provided rocks, then the config's `rocks_provided` (which
    /// may override a version), as LuaRocks' `get_rocks_provided`.
    pub fn rocks_provided(&self) -> Vec<(String, String)> {
        let mut provided = self.lua.rocks_provided();
        for (name, version) in &self.config.rocks_provided {
            provided.retain(|(n, _)| n != name);
            provided.push((name.clone(), version.clone()));
        }
        provided
    }

    /// `--nodeps`, else `--deps-mode`, else the config's, else `one`.
    pub fn deps_mode(&self) -> Result<DepsMode, SettingsError> {
        if self.asked.nodeps {
            return Ok(DepsMode::None);
        }
        let text = self
            .asked
            .deps_mode
            .clone()
            .or_else(|| self.config.deps_mode.clone())
            .unwrap_or_else(|| "one".to_owned());
        DepsMode::parse(&text).ok_or(SettingsError::DepsMode(text))
    }

    /// `rocks_trees` from config, else LuaRocks' defaults (`user`, then
    /// `system` = /usr/local).
    pub fn rocks_trees(&self) -> Vec<TreeEntry> {
        self.config.rocks_trees.clone()
    }

    /// LuaRocks' `cfg.home_tree`: config's `home_tree`, else
    /// `$HOME/.luarocks`.
    pub fn home_tree(&self) -> Result<PathBuf, SettingsError> {
        if let Some(t) = &self.config.home_tree {
            return Ok(t.clone());
        }
        match &self.env.home {
            Some(home) => Ok(PathBuf::from(home).join(".luarocks")),
            None => Err(SettingsError::NoHome),
        }
    }

    /// The target tree and the rocks trees as LuaRocks arranges them.
    pub fn target(&self) -> Result<(Tree, Vec<PathBuf>), SettingsError> {
        self.chosen_target().map(|c| (c.tree, c.trees))
    }

    /// How new generations of `tree` reach it: `--link-mode`, else the
    /// mode the tree last used, else config's `rockstore_link_mode`, else
    /// symlink.
    pub fn link_mode(&self, tree: &Tree) -> Result<crate::tree::LinkMode, SettingsError> {
        if let Some(asked) = &self.asked.link_mode {
            return asked.parse().map_err(SettingsError::LinkMode);
        }
        if let Some(b) = crate::tree::binding::read(&tree.root) {
            return Ok(b.link_mode);
        }
        match &self.config.link_mode {
            Some(configured) => configured.parse().map_err(SettingsError::LinkMode),
            None => Ok(crate::tree::LinkMode::default()),
        }
    }

    /// [`Resolved::target`], and whether the tree was chosen; `list` then
    /// shows that tree alone.
    pub fn chosen_target(&self) -> Result<ChosenTarget, SettingsError> {
        let asked = &self.asked;
        let mut trees = self.rocks_trees();
        let named = |name: &str, trees: &[TreeEntry]| {
            trees
                .iter()
                .find(|t| t.name.as_deref() == Some(name))
                .map(|t| t.root.clone())
        };
        // LuaRocks 3.8's `process_tree_args`: `--global` only turns
        // `local_by_default` off; `--local` (and `local_by_default`) use
        // `cfg.home_tree`, whatever `rocks_trees` names its entries (Debian's
        // stock config names none).
        let local_by_default = self.config.local_by_default && !asked.global;
        let chosen = asked.tree.is_some()
            || asked.local
            || (local_by_default && !self.project.as_ref().is_some_and(|p| p.explicit));
        let root = if let Some(t) = &asked.tree {
            match named(t, &trees) {
                Some(root) => root,
                None => {
                    let root =
                        std::path::absolute(t).map_err(|e| SettingsError::Path(t.clone(), e))?;
                    if self.deps_mode()? != DepsMode::Order {
                        trees.insert(
                            0,
                            TreeEntry {
                                name: Some("arg".into()),
                                root: root.clone(),
                            },
                        );
                    }
                    root
                }
            }
        } else if asked.local {
            check_local(asked, &self.env)?;
            self.home_tree()?
        } else if let Some(p) = self.project.as_ref().filter(|p| p.explicit) {
            trees.insert(0, project_entry(&p.tree));
            p.tree.clone()
        } else if local_by_default {
            self.home_tree()?
        } else if let Some(p) = &self.project {
            trees.insert(0, project_entry(&p.tree));
            p.tree.clone()
        } else {
            match trees.last() {
                Some(t) => t.root.clone(),
                None => return Err(SettingsError::NoTrees),
            }
        };
        let mut tree = Tree::new(&root, &self.lua.version)
            .map_err(|e| SettingsError::Path(root.display().to_string(), e))?;
        tree.link_mode = self.link_mode(&tree)?;
        let trees = trees
            .into_iter()
            .map(|t| std::path::absolute(&t.root).unwrap_or(t.root))
            .collect();
        Ok(ChosenTarget {
            tree,
            trees,
            chosen,
        })
    }
}

/// `--project-tree`'s parent, else the project around the working
/// directory unless `--no-project`; a found one that is not ours to use is
/// returned second, unused.
fn find_project(
    asked: &Asked,
) -> Result<(Option<project::Project>, Option<project::Untrusted>), SettingsError> {
    if let Some(tree) = &asked.project_tree {
        let tree = std::path::absolute(tree)
            .map_err(|e| SettingsError::Path(tree.display().to_string(), e))?;
        return Ok((Some(project::Project::of_tree(tree)), None));
    }
    if asked.no_project {
        return Ok((None, None));
    }
    // A working directory that is gone has no project around it.
    let Some(dir) = std::env::current_dir()
        .ok()
        .and_then(|cwd| project::find(&cwd))
    else {
        return Ok((None, None));
    };
    match project::check_ownership(&dir, rustix::process::geteuid().as_raw()) {
        Ok(()) => Ok((Some(project::Project::found(dir)), None)),
        Err(untrusted) => Ok((None, Some(untrusted))),
    }
}

/// `--lua-version`, else a `default-lua-version.lua` or the project's
/// config file says which Lua (as LuaRocks), else whichever is found.
fn detect_lua(
    asked: &Asked,
    env: &EnvVars,
    project: Option<&project::Project>,
) -> Result<LuaInstall, LuaInstallError> {
    let defaulted = if asked.lua_version.is_none() {
        let dir = project.map(|p| p.dir.clone());
        let dirs = config_sources(env, dir.clone(), None).default_version_dirs();
        project::default_lua_version(&dirs, dir.as_deref())
    } else {
        None
    };
    let version = asked.lua_version.as_deref().or(defaulted.as_deref());
    LuaInstall::detect(version, asked.lua_dir.as_deref())
}

/// `external_deps_dirs` as LuaRocks 3.8 ends up with it: the config's list
/// deep-merged over the defaults by index (`{ "/opt/x" }` gives
/// `/opt/x`, `/usr`, `/`), not replacing them.
fn merged_deps_dirs(configured: Option<&[PathBuf]>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = crate::build::external::DEFAULT_DIRS
        .iter()
        .map(PathBuf::from)
        .collect();
    for (i, dir) in configured.unwrap_or_default().iter().enumerate() {
        match dirs.get_mut(i) {
            Some(slot) => *slot = dir.clone(),
            None => dirs.push(dir.clone()),
        }
    }
    dirs
}

fn project_entry(root: &Path) -> TreeEntry {
    TreeEntry {
        name: Some("project".into()),
        root: root.to_path_buf(),
    }
}

/// Where LuaRocks' config files are looked for, from the environment.
fn config_sources(
    env: &EnvVars,
    project: Option<PathBuf>,
    explicit: Option<PathBuf>,
) -> ConfigSources {
    ConfigSources {
        sysconfdir: env
            .luarocks_sysconfdir
            .clone()
            .map_or_else(|| PathBuf::from("/etc/luarocks"), PathBuf::from),
        explicit,
        xdg_config_home: env.xdg_config_home.clone().map(PathBuf::from),
        home: env.home.clone().map(PathBuf::from),
        project,
    }
}
