//! The command line's side of what commands resolve before they work: the
//! tree flags, and the store and fetcher the flags point at. What LuaRocks
//! derives from config, flags and environment is the library's
//! [`rockstore::settings::Resolved`], which a [`Context`] derefs to.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use rockstore::backend::StoreBackend;
use rockstore::config::Config;
use rockstore::env_vars::EnvVars;
use rockstore::fetch::Fetcher;
use rockstore::settings::{Asked, Resolved};
use rockstore::store::failpoint::{self, Failpoints};
use rockstore::store::{Store, StoreOptions};
use rockstore::tree::{binding, Tree};

pub use rockstore::settings::ChosenTarget;

use super::cache_cmd::CacheFlags;
use super::flags::ServerFlags;
use super::output;

/// Tree selection and deps mode; global, as LuaRocks'.
#[derive(Debug, Args, Clone, Default)]
pub struct TreeFlags {
    /// The tree to use: a name from rocks_trees (`user`, `system`) or a path.
    #[arg(
        long,
        visible_alias = "to",
        global = true,
        help_heading = "Global options",
        value_name = "TREE"
    )]
    pub tree: Option<String>,
    /// Use the tree in your home directory (config's `home_tree`, default
    /// ~/.luarocks), as LuaRocks 3.8.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "tree"
    )]
    pub local: bool,
    /// Do not use the home tree even if config says `local_by_default`: the
    /// last tree of rocks_trees (or the project's), as LuaRocks 3.8.
    #[arg(long, global = true, help_heading = "Global options", conflicts_with_all = ["tree", "local"])]
    pub global: bool,
    /// Refuse a tree LuaRocks installed rocks into (or changed since
    /// rockstore did) instead of adopting it first; the same as config's
    /// `rockstore_adopt = "explicit"`.
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_adopt: bool,
    /// Neither check nor install dependencies (the same as --deps-mode none).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "deps_mode"
    )]
    pub nodeps: bool,
    /// Which trees satisfy dependencies: one (only the target tree), all
    /// (every tree), order (the target and the trees after it), none (do not
    /// check or install dependencies) [default: config's deps_mode, else one].
    #[arg(long, global = true, help_heading = "Global options", value_name = "MODE", value_parser = ["one", "all", "order", "none"])]
    pub deps_mode: Option<String>,
    /// Ignore the project directory (one holding `.luarocks/` and
    /// `lua_modules/`, as `luarocks init` makes, found in the working
    /// directory or up to nine parents). Inside one, rocks go to its
    /// `lua_modules` tree and its `.luarocks/config-5.x.lua` is read.
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_project: bool,
    /// Use DIR as the project tree (the project is its parent directory).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        hide = true,
        value_name = "DIR",
        conflicts_with = "no_project"
    )]
    pub project_tree: Option<PathBuf>,
    /// How a tree gets its files: symlink (into the store; the default),
    /// or self-contained in the tree's `.rockstore/` by hardlink, reflink
    /// (FICLONE), copy, or auto (reflink, else hardlink, else copy), so a
    /// copy, tarball or Docker layer of the tree needs no store [default:
    /// the mode the tree last used, else config's rockstore_link_mode,
    /// else symlink].
    #[arg(long, global = true, help_heading = "Global options", value_name = "MODE", value_parser = ["symlink", "hardlink", "reflink", "copy", "auto"])]
    pub link_mode: Option<String>,
}

/// Everything resolved for one command: the flags as given, and what the
/// library resolved from them (reached through `Deref`).
pub struct Context {
    pub server_flags: ServerFlags,
    pub tree_flags: TreeFlags,
    pub cache_flags: CacheFlags,
    pub store_flag: Option<PathBuf>,
    resolved: Resolved,
    /// The target tree's store binding was checked (once per command).
    binding_checked: std::cell::OnceCell<()>,
    /// `doctor --fix` may make the tree's missing store again.
    pub may_recreate_store: std::cell::Cell<bool>,
    /// The run's build leases (made once: the substituters wait on them
    /// and the pusher releases them).
    pub leases: std::sync::OnceLock<Option<std::sync::Arc<rockstore::cache::lease::Leases>>>,
}

impl std::ops::Deref for Context {
    type Target = Resolved;

    fn deref(&self) -> &Resolved {
        &self.resolved
    }
}

/// What the flags ask, for the library.
fn asked(server_flags: &ServerFlags, tree_flags: &TreeFlags) -> Asked {
    Asked {
        tree: tree_flags.tree.clone(),
        local: tree_flags.local,
        global: tree_flags.global,
        nodeps: tree_flags.nodeps,
        deps_mode: tree_flags.deps_mode.clone(),
        no_project: tree_flags.no_project,
        project_tree: tree_flags.project_tree.clone(),
        lua_version: server_flags.lua_version.clone(),
        lua_dir: server_flags.lua_dir.clone(),
        servers: server_flags.server.clone(),
        only_server: server_flags.only_server.clone(),
        dev: server_flags.dev,
        only_sources: server_flags.only_sources.clone(),
        link_mode: tree_flags.link_mode.clone(),
    }
}

/// One line on stderr when a project around the working directory was
/// passed over because another user owns part of it.
fn warn_ignored_project(resolved: &Resolved) {
    if let Some(why) = &resolved.ignored_project {
        errln!("Warning: {why}");
    }
}

impl Context {
    pub fn new(
        server_flags: &ServerFlags,
        tree_flags: &TreeFlags,
        cache_flags: &CacheFlags,
        store_flag: Option<PathBuf>,
        env: &EnvVars,
    ) -> anyhow::Result<Context> {
        let resolved = Resolved::new(asked(server_flags, tree_flags), env)?;
        warn_ignored_project(&resolved);
        Ok(Context {
            server_flags: server_flags.clone(),
            tree_flags: tree_flags.clone(),
            cache_flags: cache_flags.clone(),
            store_flag,
            leases: std::sync::OnceLock::new(),
            resolved,
            binding_checked: Default::default(),
            may_recreate_store: Default::default(),
        })
    }

    /// For commands that only need the store (no Lua interpreter needed).
    pub fn for_store(
        server_flags: &ServerFlags,
        tree_flags: &TreeFlags,
        cache_flags: &CacheFlags,
        store_flag: Option<PathBuf>,
        env: &EnvVars,
    ) -> anyhow::Result<Context> {
        let resolved = Resolved::for_store(asked(server_flags, tree_flags), env)?;
        warn_ignored_project(&resolved);
        Ok(Context {
            server_flags: server_flags.clone(),
            tree_flags: tree_flags.clone(),
            cache_flags: cache_flags.clone(),
            store_flag,
            leases: std::sync::OnceLock::new(),
            resolved,
            binding_checked: Default::default(),
            may_recreate_store: Default::default(),
        })
    }

    fn paths(&self) -> anyhow::Result<Config> {
        // A tree knows its store: without --store or ROCKSTORE_STORE, the
        // target tree's store is the one used.
        let bound = match self.explicit_store() {
            // Commands on the tree refuse another store first (see
            // [`Context::chosen_target`]); others (`build --no-install`,
            // `store`, `gc`) use the store named.
            Some(_) => None,
            None => self.target_binding().map(|b| b.store),
        };
        Ok(Config::resolve_as(
            self.store_flag.clone().or(bound),
            self.config.store.clone(),
            &self.env,
            rustix::process::geteuid().is_root(),
        )?)
    }

    /// The store `--store` or `ROCKSTORE_STORE` names.
    fn explicit_store(&self) -> Option<PathBuf> {
        self.store_flag
            .clone()
            .or_else(|| self.env.store.clone().map(PathBuf::from))
            .map(|p| std::path::absolute(&p).unwrap_or(p))
    }

    /// What the target tree records about its store, when it does.
    fn target_binding(&self) -> Option<binding::Binding> {
        let chosen = self.resolved.chosen_target().ok()?;
        binding::read(&chosen.tree.root)
    }

    /// The target tree, its store binding checked (see [`Context::chosen_target`]).
    pub fn target(&self) -> anyhow::Result<(Tree, Vec<PathBuf>)> {
        self.chosen_target().map(|c| (c.tree, c.trees))
    }

    /// The library's [`Resolved::chosen_target`], and, once per command,
    /// the tree's store binding checked: another store named by --store
    /// or ROCKSTORE_STORE is refused, naming both; a tree found at a new
    /// path (a copy) is registered as a root of its store, saying so.
    pub fn chosen_target(&self) -> anyhow::Result<ChosenTarget> {
        let chosen = self.resolved.chosen_target()?;
        if self.binding_checked.get().is_none() {
            let _ = self.binding_checked.set(());
            self.check_binding(&chosen.tree)?;
        }
        Ok(chosen)
    }

    /// Refuses a store other than the one the target tree records; a
    /// tree whose store is gone may be mended into another (`doctor --fix
    /// --store NEW`).
    fn refuse_other_store(
        &self,
        bound: &binding::Binding,
        given: &std::path::Path,
    ) -> anyhow::Result<()> {
        let gone = !bound.store.join("store").is_dir();
        if binding::same_store(given, &bound.store) || gone {
            return Ok(());
        }
        Err(binding::BindingError::OtherStore {
            tree: bound.tree.clone(),
            recorded: bound.store.clone(),
            given: given.to_path_buf(),
        }
        .into())
    }

    fn check_binding(&self, tree: &Tree) -> anyhow::Result<()> {
        let Some(mut bound) = binding::read(&tree.root) else {
            return Ok(());
        };
        if let Some(given) = self.explicit_store() {
            self.refuse_other_store(&bound, &given)?;
        }
        if binding::moved(&tree.root, &bound) && bound.store.join("store").is_dir() {
            let backend = self.store()?;
            let roots = rockstore::backend::roots_of(tree)?;
            backend.register_tree(&tree.root, &roots)?;
            errln!(
                "{} is a copy of {}: registered it as a root of the store {}",
                tree.root.display(),
                bound.tree.display(),
                bound.store.display()
            );
            bound.tree = tree.root.clone();
            let _ = binding::write(&tree.root, &bound);
        }
        Ok(())
    }

    /// The store the flags and config name, with the backend that may
    /// write it (its daemon, for a daemon store this user does not own).
    pub fn store(&self) -> anyhow::Result<Box<dyn StoreBackend>> {
        Ok(rockstore::stores::backend_for(self.open_store()?))
    }

    /// [`Context::store`] for commands that only read or collect (`gc`,
    /// `verify`, `store ls/info/path/why`): a store that does not exist is
    /// an error naming it, not a new empty store (a mistyped `--store`
    /// would otherwise make one and report it clean).
    pub fn existing_store(&self) -> anyhow::Result<Box<dyn StoreBackend>> {
        let root = self.paths()?.store_root;
        // Only where opening would make one: a directory that holds
        // anything is left to `Store::open` (a store, or refused as foreign).
        let would_create = std::fs::read_dir(&root).map_or(true, |mut d| d.next().is_none());
        if would_create {
            anyhow::bail!(
                "no store at {}: nothing was read or changed (a store is made by the first install, build or `store add` there; check --store, ROCKSTORE_STORE or rockstore_store)",
                root.display()
            );
        }
        self.store()
    }

    /// The store itself, opened by this process (the daemon serves it).
    /// A tree's store that is gone is never made again silently.
    pub fn open_store(&self) -> anyhow::Result<Store> {
        let config = self.paths()?;
        if !config.store_root.join("store").is_dir() && !self.may_recreate_store.get() {
            if let Some(b) = self.target_binding() {
                if binding::same_store(&b.store, &config.store_root) {
                    let tree = self.resolved.chosen_target()?.tree.root;
                    return Err(binding::BindingError::StoreMissing {
                        tree,
                        store: b.store,
                    }
                    .into());
                }
            }
        }
        let failpoints = config
            .failpoint
            .as_deref()
            .map(|spec| {
                Failpoints::parse(spec)
                    .resume_through(self.env.failpoint_resume.clone().map(PathBuf::from))
            })
            .unwrap_or_default();
        let options = StoreOptions {
            reporter: Arc::new(output::Terminal),
            // One set for the process: a tree's switch hits them too.
            failpoints: failpoint::set_process(failpoints),
        };
        Ok(Store::open(&config.store_root, options)?)
    }

    pub fn fetcher(&self) -> Fetcher {
        let cache = self.paths().ok().and_then(|c| c.cache_dir);
        let fetcher = Fetcher::new(cache, Duration::from_secs(self.server_flags.timeout.max(1)));
        // `--only-server` replaces `rocks_servers`, mirrors and all.
        fetcher.with_mirrors(
            rockstore::luarocks_config::mirror_groups(&self.server_entries()),
            Arc::new(output::Terminal),
        )
    }

    /// The rocks-server session of a command: the servers, Lua version
    /// and provided rocks resolved here; its events printed on the
    /// terminal.
    pub fn session(&self) -> rockstore::ops::session::Session {
        rockstore::ops::session::Session::new(
            self.fetcher(),
            self.servers(),
            self.lua.version.clone(),
            self.rocks_provided(),
            Arc::new(output::Terminal),
        )
    }
}
