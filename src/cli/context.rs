//! What server- and tree-facing commands resolve before they work: the Lua
//! version, LuaRocks' config files for it, the store, the servers, the build
//! variables, the rocks trees and the target tree (LuaRocks'
//! `process_tree_args`), and the deps mode.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::build::variables::{self, Variables};
use rockstore::build::BuildEnv;
use rockstore::config::Config;
use rockstore::env_vars::EnvVars;
use rockstore::fetch::Fetcher;
use rockstore::install::DepsMode;
use rockstore::lua_install::LuaInstall;
use rockstore::luarocks_config::{ConfigSources, LuaRocksConfig, TreeEntry};
use rockstore::project;
use rockstore::rockspec::Platforms;
use rockstore::servers;
use rockstore::store::failpoint::Failpoints;
use rockstore::store::{Store, StoreOptions};
use rockstore::tree::Tree;

use super::build_cmd::ServerFlags;
use super::output;

/// Tree selection and deps mode; global, as LuaRocks'.
#[derive(Debug, Args, Clone, Default)]
pub struct TreeFlags {
    /// The tree to use: a name from rocks_trees (`user`, `system`) or a path.
    #[arg(long, visible_alias = "to", global = true, value_name = "TREE")]
    pub tree: Option<String>,
    /// Use the tree in your home directory (config's `home_tree`, default
    /// ~/.luarocks), as LuaRocks 3.8.
    #[arg(long, global = true, conflicts_with = "tree")]
    pub local: bool,
    /// Do not use the home tree even if config says `local_by_default`: the
    /// last tree of rocks_trees (or the project's), as LuaRocks 3.8.
    #[arg(long, global = true, conflicts_with_all = ["tree", "local"])]
    pub global: bool,
    /// Neither check nor install dependencies (the same as --deps-mode none).
    #[arg(long, global = true, conflicts_with = "deps_mode")]
    pub nodeps: bool,
    /// Which trees satisfy dependencies: one (only the target tree), all
    /// (every tree), order (the target and the trees after it), none (do not
    /// check or install dependencies) [default: config's deps_mode, else one].
    #[arg(long, global = true, value_name = "MODE", value_parser = ["one", "all", "order", "none"])]
    pub deps_mode: Option<String>,
    /// Ignore the project directory (one holding `.luarocks/` and
    /// `lua_modules/`, as `luarocks init` makes, found in the working
    /// directory or up to nine parents). Inside one, rocks go to its
    /// `lua_modules` tree and its `.luarocks/config-5.x.lua` is read.
    #[arg(long, global = true)]
    pub no_project: bool,
    /// Use DIR as the project tree (the project is its parent directory).
    #[arg(
        long,
        global = true,
        hide = true,
        value_name = "DIR",
        conflicts_with = "no_project"
    )]
    pub project_tree: Option<PathBuf>,
}

/// Everything resolved for one command.
pub struct Context {
    pub server_flags: ServerFlags,
    pub tree_flags: TreeFlags,
    pub env: EnvVars,
    pub store_flag: Option<PathBuf>,
    pub lua: LuaInstall,
    pub config: LuaRocksConfig,
    /// The LuaRocks project, inside one.
    pub project: Option<project::Project>,
    /// Where the config files were looked for (`config KEY VALUE` rewrites
    /// one of them).
    pub sources: ConfigSources,
}

impl Context {
    pub fn new(
        server_flags: &ServerFlags,
        tree_flags: &TreeFlags,
        store_flag: Option<PathBuf>,
        env: &EnvVars,
    ) -> anyhow::Result<Context> {
        let project = Context::find_project(tree_flags)?;
        let lua = Context::detect_lua(server_flags, env, project.as_ref())?;
        Context::with_lua(server_flags, tree_flags, store_flag, env, lua, project)
    }

    /// For commands that only need the store: its location may come from
    /// LuaRocks' config (`rockstore_store`), but no Lua interpreter is
    /// needed, so a missing one falls back to the 5.4 config file.
    pub fn for_store(
        server_flags: &ServerFlags,
        tree_flags: &TreeFlags,
        store_flag: Option<PathBuf>,
        env: &EnvVars,
    ) -> anyhow::Result<Context> {
        let project = Context::find_project(tree_flags)?;
        let version = server_flags.lua_version.as_deref().unwrap_or("5.4");
        let lua = Context::detect_lua(server_flags, env, project.as_ref())
            .or_else(|_| LuaInstall::detect(Some(version), None))?;
        Context::with_lua(server_flags, tree_flags, store_flag, env, lua, project)
    }

    /// `--project-tree`'s parent, else the project around the working
    /// directory unless `--no-project`.
    fn find_project(flags: &TreeFlags) -> anyhow::Result<Option<project::Project>> {
        if let Some(tree) = &flags.project_tree {
            let tree = std::path::absolute(tree)
                .with_context(|| format!("bad project tree {}", tree.display()))?;
            return Ok(Some(project::Project::of_tree(tree)));
        }
        if flags.no_project {
            return Ok(None);
        }
        // A working directory that is gone has no project around it.
        Ok(std::env::current_dir()
            .ok()
            .and_then(|cwd| project::find(&cwd))
            .map(project::Project::found))
    }

    /// `--lua-version`, else a `default-lua-version.lua` or the project's
    /// config file says which Lua (as LuaRocks), else whichever is found.
    fn detect_lua(
        flags: &ServerFlags,
        env: &EnvVars,
        project: Option<&project::Project>,
    ) -> Result<LuaInstall, rockstore::lua_install::LuaInstallError> {
        let defaulted = if flags.lua_version.is_none() {
            let dir = project.map(|p| p.dir.clone());
            let dirs = config_sources(env, dir.clone(), None).default_version_dirs();
            project::default_lua_version(&dirs, dir.as_deref())
        } else {
            None
        };
        let version = flags.lua_version.as_deref().or(defaulted.as_deref());
        LuaInstall::detect(version, flags.lua_dir.as_deref())
    }

    fn with_lua(
        server_flags: &ServerFlags,
        tree_flags: &TreeFlags,
        store_flag: Option<PathBuf>,
        env: &EnvVars,
        lua: LuaInstall,
        project: Option<project::Project>,
    ) -> anyhow::Result<Context> {
        let explicit = env
            .luarocks_config_versioned
            .iter()
            .find(|(v, _)| *v == lua.version)
            .map(|(_, p)| PathBuf::from(p))
            .or_else(|| env.luarocks_config.clone().map(PathBuf::from));
        let sources = config_sources(env, project.as_ref().map(|p| p.dir.clone()), explicit);
        let config = LuaRocksConfig::load(&sources, &lua.version)?;
        Ok(Context {
            server_flags: server_flags.clone(),
            tree_flags: tree_flags.clone(),
            env: env.clone(),
            store_flag,
            lua,
            config,
            project,
            sources,
        })
    }

    fn paths(&self) -> anyhow::Result<Config> {
        Ok(Config::resolve_as(
            self.store_flag.clone(),
            self.config.store.clone(),
            &self.env,
            rustix::process::geteuid().is_root(),
        )?)
    }

    pub fn store(&self) -> anyhow::Result<Store> {
        let config = self.paths()?;
        let failpoints = config
            .failpoint
            .as_deref()
            .map(|spec| {
                Failpoints::parse(spec)
                    .resume_through(self.env.failpoint_resume.clone().map(PathBuf::from))
            })
            .unwrap_or_default();
        let options = StoreOptions {
            reporter: Arc::new(output::StderrReporter),
            failpoints: Arc::new(failpoints),
        };
        Ok(Store::open(&config.store_root, options)?)
    }

    pub fn fetcher(&self) -> Fetcher {
        let cache = self.paths().ok().and_then(|c| c.cache_dir);
        Fetcher::new(cache, Duration::from_secs(self.server_flags.timeout.max(1)))
    }

    /// `--only-server`, else `--server`s then the config's (or LuaRocks'
    /// default) servers.
    pub fn servers(&self) -> Vec<String> {
        let configured = self.config.rocks_servers.clone().unwrap_or_else(|| {
            servers::DEFAULT_SERVERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
        let list = servers::server_list(
            &self.server_flags.server,
            self.server_flags.only_server.as_deref(),
            &configured,
        );
        if self.server_flags.dev {
            // As LuaRocks: every server's dev tree first, then the servers.
            list.iter()
                .map(|s| rockstore::fetch::join(s, "dev"))
                .chain(list.iter().cloned())
                .collect()
        } else {
            list
        }
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
            only_sources_from: self.server_flags.only_sources.clone(),
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

    pub fn deps_mode(&self) -> anyhow::Result<DepsMode> {
        if self.tree_flags.nodeps {
            return Ok(DepsMode::None);
        }
        let text = self
            .tree_flags
            .deps_mode
            .clone()
            .or_else(|| self.config.deps_mode.clone())
            .unwrap_or_else(|| "one".to_owned());
        DepsMode::parse(&text)
            .with_context(|| format!("unknown deps mode `{text}` (one, all, order, none)"))
    }

    /// `rocks_trees` from config, else LuaRocks' defaults (`user`, then
    /// `system` = /usr/local).
    pub fn rocks_trees(&self) -> Vec<TreeEntry> {
        self.config.rocks_trees.clone().unwrap_or_else(|| {
            let mut trees = Vec::new();
            if let Some(home) = &self.env.home {
                trees.push(TreeEntry {
                    name: Some("user".into()),
                    root: PathBuf::from(home).join(".luarocks"),
                });
            }
            trees.push(TreeEntry {
                name: Some("system".into()),
                root: PathBuf::from("/usr/local"),
            });
            trees
        })
    }

    /// LuaRocks' `cfg.home_tree`: config's `home_tree`, else
    /// `$HOME/.luarocks`.
    fn home_tree(&self) -> anyhow::Result<PathBuf> {
        if let Some(t) = &self.config.home_tree {
            return Ok(t.clone());
        }
        match &self.env.home {
            Some(home) => Ok(PathBuf::from(home).join(".luarocks")),
            None => bail!(
                "no home tree: HOME is not set (set home_tree in the LuaRocks config, or pass --tree DIR)"
            ),
        }
    }

    /// The target tree and the rocks trees as LuaRocks arranges them.
    pub fn target(&self) -> anyhow::Result<(Tree, Vec<PathBuf>)> {
        self.chosen_target().map(|c| (c.tree, c.trees))
    }

    /// [`Context::target`], and whether the tree was chosen (LuaRocks sets
    /// `args.tree`: `--tree`, `--local`, `local_by_default`) rather than
    /// being a project's or the default last tree; `list` then shows that
    /// tree alone.
    pub fn chosen_target(&self) -> anyhow::Result<ChosenTarget> {
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
        let local_by_default = self.config.local_by_default && !self.tree_flags.global;
        let chosen = self.tree_flags.tree.is_some()
            || self.tree_flags.local
            || (local_by_default && !self.project.as_ref().is_some_and(|p| p.explicit));
        let root = if let Some(t) = &self.tree_flags.tree {
            match named(t, &trees) {
                Some(root) => root,
                None => {
                    let root =
                        std::path::absolute(t).with_context(|| format!("bad tree path {t}"))?;
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
        } else if self.tree_flags.local && rustix::process::geteuid().is_root() {
            bail!("The --local flag is meant for operating in a user's home directory.\nYou are running as a superuser, which is intended for system-wide operation.\nTo force using the superuser's home, use --tree explicitly.")
        } else if self.tree_flags.local {
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
                None => bail!("rocks_trees is empty: pass --tree DIR"),
            }
        };
        let tree = Tree::new(&root, &self.lua.version)?;
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

/// What [`Context::chosen_target`] found.
pub struct ChosenTarget {
    /// The target tree.
    pub tree: Tree,
    /// Every rocks tree, absolute, in order.
    pub trees: Vec<PathBuf>,
    /// Whether the flags or config chose the tree.
    pub chosen: bool,
}

/// `external_deps_dirs` as LuaRocks 3.8 ends up with it: the config's list
/// deep-merged over the defaults by index (`{ "/opt/x" }` gives
/// `/opt/x`, `/usr`, `/`), not replacing them.
fn merged_deps_dirs(configured: Option<&[PathBuf]>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = rockstore::build::external::DEFAULT_DIRS
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

fn project_entry(root: &std::path::Path) -> TreeEntry {
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
