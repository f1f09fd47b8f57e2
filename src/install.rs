//! `install` and `remove` on a tree: LuaRocks' dependency resolution
//! (`deps.fulfill_dependencies`: installed first, greedy, depth-first, no
//! backtracking) under a deps mode over `rocks_trees`, builds through
//! [`crate::build`], then one new generation switched atomically.
//!
//! While an install runs it holds the shared store lock from its first
//! build to its switch, so a GC (which takes the exclusive lock) can never
//! sweep an item the install admitted but has not yet linked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::build::{BuildError, Builder, Built, Origin, RockspecInput, Sources};
use crate::fetch::Freshness;
use crate::lockfile::Lockfile;
use crate::manifest::RepositoryManifest;
use crate::rockspec::{Dependency, Rockspec, Version};
use crate::servers::{self, Offer, ServerError, ServerManifest, Want};
use crate::store::lock::LockMode;
use crate::store::StoreError;
use crate::tree::profile::{self, ProfileError, WrapperContext};
use crate::tree::{Profile, ProfileRock, Tree, TreeError};

/// LuaRocks' deps modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepsMode {
    /// Only the target tree satisfies dependencies.
    One,
    /// Every tree does.
    All,
    /// The target tree and those after it in `rocks_trees`.
    Order,
    /// Dependencies are neither checked nor installed.
    None,
}

impl DepsMode {
    /// Parses `one`, `all`, `order`, `none`.
    pub fn parse(s: &str) -> Option<DepsMode> {
        Some(match s {
            "one" => DepsMode::One,
            "all" => DepsMode::All,
            "order" => DepsMode::Order,
            "none" => DepsMode::None,
            _ => return None,
        })
    }
}

/// Why an install or removal failed. Nothing was switched when it did.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Building failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The tree refused.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The profile could not be made (e.g. a file conflict).
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// Servers failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A dependency nobody offers.
    #[error("Could not satisfy dependency {dependency} of {rock}: {source}")]
    Unsatisfied {
        /// The rock needing it.
        rock: String,
        /// The dependency as written.
        dependency: String,
        /// Why.
        #[source]
        source: ServerError,
    },
    /// The rockspec says it does not run here.
    #[error("{rock} does not support this platform (supported_platforms: {})", platforms.join(", "))]
    Platform {
        /// The rock.
        rock: String,
        /// What it supports.
        platforms: Vec<String>,
    },
    /// Removing would break dependents.
    #[error("Will not remove {rock}. Removing it would break dependencies for:\n{}\nUse --force to force removal (warning: this may break modules).", dependents.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Dependents {
        /// `name version` being removed.
        rock: String,
        /// `name version` of each rock that needs it.
        dependents: Vec<String>,
    },
    /// `hooks_enabled = false` and the rock has a hook.
    #[error("{rock}: this rockspec contains hooks, which are blocked by the 'hooks_enabled' setting in your LuaRocks configuration.")]
    HooksBlocked {
        /// `name version`.
        rock: String,
    },
    /// A `post_install` hook failed; the install was undone.
    #[error("Failed running post_install hook of {rock}: `{command}` {status}. The install was undone: {tree} is back at generation {restored}.", tree = tree.display())]
    Hook {
        /// `name version`.
        rock: String,
        /// The command, variables substituted.
        command: String,
        /// How it ended.
        status: String,
        /// The tree.
        tree: PathBuf,
        /// The generation current again.
        restored: u64,
    },
    /// Not installed.
    #[error("{rock} is not installed in {}", tree.display())]
    NotInstalled {
        /// The query.
        rock: String,
        /// The tree.
        tree: PathBuf,
    },
}

/// A tree consulted for dependencies: the target (whose rocks are the plan)
/// or another tree's installed rocks.
pub struct ConsultedTree {
    /// Root.
    pub root: PathBuf,
    /// Installed: name → (version, item when it is a rockstore tree).
    pub rocks: Vec<(String, String, Option<String>)>,
}

impl ConsultedTree {
    /// Reads another tree: its rockstore profile when it has one, else its
    /// LuaRocks manifest (a plain LuaRocks tree), else nothing.
    pub fn read(root: &Path, lua_version: &str) -> ConsultedTree {
        let mut rocks = Vec::new();
        if let Ok(tree) = Tree::new(root, lua_version) {
            if tree.is_profile() {
                if let Ok(profile) = tree.current_profile() {
                    rocks = profile
                        .rocks
                        .into_iter()
                        .map(|r| (r.name, r.version, Some(r.item)))
                        .collect();
                }
                return ConsultedTree {
                    root: root.to_path_buf(),
                    rocks,
                };
            }
            let manifest = tree.rocks_dir().join("manifest");
            if let Ok(bytes) = std::fs::read(&manifest) {
                if let Ok(m) = RepositoryManifest::from_bytes("manifest", &bytes) {
                    for (name, versions) in m.repository {
                        for version in versions.keys() {
                            rocks.push((name.clone(), version.clone(), None));
                        }
                    }
                }
            }
        }
        ConsultedTree {
            root: root.to_path_buf(),
            rocks,
        }
    }
}

/// Where a rock to install comes from.
#[derive(Debug, Clone)]
pub enum Request {
    /// A name (and version constraint) on the servers.
    Name(String, Option<String>),
    /// The same, built from its sources (a rockspec or `.src.rock`, never
    /// a binary rock), as `luarocks build NAME` does.
    Source(String, Option<String>),
    /// A rockspec, `.src.rock` or `.rock` file or URL.
    File(String),
    /// A rockspec built with a working directory as its sources (`make`).
    Local {
        /// The rockspec file.
        rockspec: PathBuf,
        /// The sources.
        dir: PathBuf,
    },
}

/// What an install or removal works on, and how.
pub struct Plan {
    /// The rocks servers.
    pub servers: Vec<String>,
    /// The tree changed.
    pub target: Tree,
    /// Every configured tree, in `rocks_trees` order (the target among them
    /// as LuaRocks places it).
    pub rocks_trees: Vec<PathBuf>,
    /// The deps mode.
    pub deps_mode: DepsMode,
    /// Keep other versions (`--keep`).
    pub keep: bool,
    /// Reinstall / remove despite dependents (`--force`).
    pub force: bool,
    /// Config `hooks_enabled`: when false, a rock with a `post_install`
    /// hook is refused before anything is built.
    pub hooks_enabled: bool,
    /// Config `wrap_bin_scripts`, which decides over the rockspec's.
    pub wrap_bin_scripts: Option<bool>,
}

/// A rock's `hooks.post_install`, run once the generation holding the
/// rock is current (LuaRocks runs it after deploying).
#[derive(Debug, Clone)]
struct PostInstall {
    name: String,
    version: String,
    command: String,
}

/// A hook that failed: the rock, the command as run, and how it ended.
struct HookFailure {
    rock: String,
    command: String,
    status: String,
}

/// One install or removal run.
pub struct Installer<'a> {
    /// Builds.
    pub builder: Builder<'a>,
    /// What it works on, and how.
    pub plan: Plan,
    /// Messages for the user (stderr).
    pub say: &'a dyn Fn(&str),
    manifests: Option<Vec<ServerManifest>>,
    /// Rocks built or reused by this run, to join the target's profile.
    planned: Vec<ProfileRock>,
    base: Profile,
    /// Other trees' installed rocks, read once each (all of `rocks_trees`,
    /// since build dependencies consult every tree).
    others: Vec<ConsultedTree>,
    /// Hooks of the rocks this run adds, in install order.
    hooks: Vec<PostInstall>,
    /// `luarocks.lock` of the sources `make` builds: the requested rock's
    /// dependencies are exactly these, and they win over other rocks'.
    pub pins: Option<Lockfile>,
}

/// What an install did.
#[derive(Debug)]
pub struct Outcome {
    /// The new generation (none when nothing changed).
    pub generation: Option<u64>,
    /// `name version` of every rock newly built or reused.
    pub installed: Vec<String>,
}

impl<'a> Installer<'a> {
    /// Prepares an install into `target`.
    pub fn new(builder: Builder<'a>, plan: Plan, say: &'a dyn Fn(&str)) -> Installer<'a> {
        let base = Profile::empty(&plan.target.lua_version);
        Installer {
            builder,
            plan,
            say,
            manifests: None,
            planned: Vec::new(),
            base,
            others: Vec::new(),
            hooks: Vec::new(),
            pins: None,
        }
    }

    /// The installed rocks of every configured tree but the target.
    fn read_other_trees(&self) -> Vec<ConsultedTree> {
        self.plan
            .rocks_trees
            .iter()
            .filter(|r| **r != self.plan.target.root)
            .map(|r| ConsultedTree::read(r, &self.plan.target.lua_version))
            .collect()
    }

    /// The trees whose rocks satisfy dependencies (LuaRocks' `map_trees`).
    fn consulted_roots(&self, mode: DepsMode) -> Vec<PathBuf> {
        let target = &self.plan.target.root;
        match mode {
            DepsMode::One | DepsMode::None => vec![target.clone()],
            DepsMode::All => {
                let mut all = self.plan.rocks_trees.clone();
                if !all.contains(target) {
                    all.insert(0, target.clone());
                }
                all
            }
            DepsMode::Order => match self.plan.rocks_trees.iter().position(|t| t == target) {
                Some(i) => self.plan.rocks_trees[i..].to_vec(),
                None => Vec::new(),
            },
        }
    }

    fn offers(
        &mut self,
        name: &str,
        constraints: &[crate::rockspec::version::Constraint],
    ) -> Result<Vec<Offer>, ServerError> {
        if self.manifests.is_none() {
            let mut warnings = Vec::new();
            let loaded = servers::load(
                self.builder.fetcher,
                &self.plan.servers,
                &self.plan.target.lua_version,
                &mut warnings,
            );
            for w in warnings {
                (self.say)(&format!("warning: {w}"));
            }
            self.manifests = Some(loaded?);
        }
        Ok(servers::search(
            self.manifests.as_deref().unwrap_or_default(),
            &[],
            name,
            true,
            constraints,
            &self.builder.env.arch,
        ))
    }

    fn provided(&self) -> Vec<(String, String)> {
        self.builder.env.rocks_provided.clone()
    }

    /// Installs the requested rocks (`only_deps`: their dependencies only)
    /// and switches to the new generation.
    pub fn install(
        &mut self,
        requests: &[Request],
        only_deps: bool,
    ) -> Result<Outcome, InstallError> {
        let lock = self.plan.target.lock()?;
        self.plan.target.check_usable()?;
        let _store_lock = self.builder.store.lock(LockMode::Shared)?;
        self.base = self.plan.target.current_profile()?;
        self.others = self.read_other_trees();
        let mut installed = Vec::new();
        for request in requests {
            let (rockspec, input) = self.obtain(request)?;
            if only_deps {
                let rock = format!("{} {}", rockspec.name, rockspec.version);
                let (_, dependencies) = self.dependency_lists(&rockspec, true);
                self.fulfil_list(&rock, &dependencies, self.plan.deps_mode, false)?;
                continue;
            }
            let done = self.install_one(rockspec, input, true)?;
            installed.push(done);
        }
        // Drop other versions of what was installed, unless --keep, or
        // unless another rock needs them (LuaRocks then keeps them and
        // warns, unless --force).
        let mut rocks: Vec<ProfileRock> = self.base.rocks.clone();
        for new in &self.planned {
            let was_explicit = rocks.iter().any(|r| r.name == new.name && r.explicit);
            let kept: Vec<String> = if self.plan.keep || self.plan.force {
                Vec::new()
            } else {
                self.still_needed(&rocks, new)
            };
            // Another version of the new rock stays only with --keep or
            // when another rock needs it.
            rocks.retain(|r| {
                r.name != new.name
                    || (r.version != new.version && (self.plan.keep || kept.contains(&r.version)))
            });
            let mut new = new.clone();
            new.explicit |= was_explicit;
            rocks.push(new);
        }
        rocks.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        let profile = Profile {
            format: 1,
            lua_version: self.plan.target.lua_version.clone(),
            rocks,
        };
        if profile == self.base && self.plan.target.current().is_some() {
            return Ok(Outcome {
                generation: None,
                installed,
            });
        }
        let change = if installed.is_empty() {
            "install dependencies".to_owned()
        } else {
            format!("install {}", installed.join(", "))
        };
        let previous = self.plan.target.current();
        let generation = self.switch_to(&lock, &profile, &change)?;
        if let Err(failure) = self.run_hooks(&profile) {
            let restored = self.undo(&lock, previous, generation)?;
            return Err(InstallError::Hook {
                rock: failure.rock,
                command: failure.command,
                status: failure.status,
                tree: self.plan.target.root.clone(),
                restored,
            });
        }
        Ok(Outcome {
            generation: Some(generation),
            installed,
        })
    }

    /// Runs the `post_install` hooks of the rocks the new generation
    /// holds, with LuaRocks' variables: the build variables, and `PREFIX`,
    /// `LUADIR`, `LIBDIR`, `CONFDIR`, `BINDIR`, `DOCDIR` of the rock's
    /// directory in the tree. The hook runs in the working directory, as
    /// LuaRocks runs it; its output is the user's to see.
    fn run_hooks(&self, profile: &Profile) -> Result<(), HookFailure> {
        for hook in &self.hooks {
            let kept = profile
                .rocks
                .iter()
                .any(|r| r.name == hook.name && r.version == hook.version);
            if !kept {
                continue;
            }
            let prefix = self
                .plan
                .target
                .rocks_dir()
                .join(&hook.name)
                .join(&hook.version);
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
            (self.say)(&command);
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
                rock: format!("{} {}", hook.name, hook.version),
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
    fn undo(
        &self,
        lock: &crate::tree::TreeLock,
        previous: Option<u64>,
        failed: u64,
    ) -> Result<u64, InstallError> {
        let restored = match previous {
            Some(p) => {
                self.plan.target.switch(lock, p)?;
                p
            }
            None => self.switch_to(lock, &self.base, "undo a failed post_install hook")?,
        };
        self.plan.target.delete_generations(lock, &[failed])?;
        Ok(restored)
    }

    /// Builds the profile item, records the generation, switches, and
    /// registers the tree as a GC root.
    fn switch_to(
        &self,
        lock: &crate::tree::TreeLock,
        profile: &Profile,
        change: &str,
    ) -> Result<u64, InstallError> {
        let lua = self
            .builder
            .env
            .lua
            .interpreter
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("lua{}", self.plan.target.lua_version));
        let mut wrapper_trees = self.consulted_roots(self.plan.deps_mode);
        if wrapper_trees.is_empty() {
            wrapper_trees.push(self.plan.target.root.clone());
        }
        let item = profile::build(
            self.builder.store,
            &self.plan.target,
            profile,
            &WrapperContext {
                lua: &lua,
                trees: wrapper_trees,
            },
        )?;
        self.builder.store.register_tree(&self.plan.target.root)?;
        self.builder.store.failpoint("before-switch");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(self.plan.target.commit(lock, &item.path, change, now)?)
    }

    /// The rockspec of a request and how to build it.
    fn obtain(&mut self, request: &Request) -> Result<(Rockspec, Source), InstallError> {
        let url = match request {
            Request::File(f) => f.clone(),
            Request::Local { rockspec, dir } => {
                let file = rockspec
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let bytes = std::fs::read(rockspec).map_err(|source| BuildError::Io {
                    path: rockspec.clone(),
                    source,
                })?;
                let source = Source::Local {
                    file,
                    bytes,
                    hash: crate::build::source::tree_hash(dir)?,
                    dir: dir.clone(),
                };
                let spec = source.rockspec(&self.builder)?;
                return Ok((spec, source));
            }
            Request::Name(name, version) | Request::Source(name, version) => {
                let want = if matches!(request, Request::Source(..)) {
                    Want::Source
                } else {
                    Want::Any
                };
                let constraints = version_constraints(version.as_deref())?;
                if let Some((_, v)) = self.provided().into_iter().find(|(p, _)| p == name) {
                    return Err(ServerError::Provided {
                        name: name.clone(),
                        version: v,
                    }
                    .into());
                }
                let offers = self.offers(name, &constraints)?;
                let offer =
                    servers::best(&offers, &self.builder.env.arch, want).ok_or_else(|| {
                        ServerError::NoMatch {
                            query: match version {
                                Some(v) => format!("{name} {v}"),
                                None => name.clone(),
                            },
                            lua_version: self.plan.target.lua_version.clone(),
                        }
                    })?;
                offer.url()
            }
        };
        let origin = Origin::of_url(&url, matches!(request, Request::File(_)));
        self.obtain_url(&url, origin)
    }

    fn obtain_url(&self, url: &str, origin: Origin) -> Result<(Rockspec, Source), InstallError> {
        let file = url.rsplit('/').next().unwrap_or(url).to_owned();
        let bytes = self
            .builder
            .fetcher
            .fetch(url, Freshness::Immutable)
            .map_err(BuildError::from)?;
        let source = if file.ends_with(".rockspec") {
            Source::Rockspec {
                file,
                bytes,
                origin,
            }
        } else if file.ends_with(".src.rock") {
            Source::SrcRock { file, bytes }
        } else {
            Source::BinaryRock { file, bytes }
        };
        let rockspec = source.rockspec(&self.builder)?;
        Ok((rockspec, source))
    }

    /// Resolves dependencies (installing missing ones), then builds the rock
    /// and adds it to the plan. Returns `name version`.
    fn install_one(
        &mut self,
        rockspec: Rockspec,
        source: Source,
        explicit: bool,
    ) -> Result<String, InstallError> {
        let rock = format!("{} {}", rockspec.name, rockspec.version);
        if !self
            .builder
            .env
            .platforms
            .supports(&rockspec.supported_platforms)
        {
            return Err(InstallError::Platform {
                rock,
                platforms: rockspec.supported_platforms.clone(),
            });
        }
        if rockspec.post_install.is_some() && !self.plan.hooks_enabled {
            return Err(InstallError::HooksBlocked { rock });
        }
        if !matches!(source, Source::BinaryRock { .. }) {
            self.builder.check_external_dependencies(&rockspec)?;
        }
        let (build_dependencies, dependencies) = self.dependency_lists(&rockspec, explicit);
        // Build dependencies always resolve with `all` (reference §4.3).
        if self.plan.deps_mode != DepsMode::None {
            self.fulfil_list(&rock, &build_dependencies, DepsMode::All, true)?;
        }
        let (dependency_items, external_items) =
            self.fulfil_list(&rock, &dependencies, self.plan.deps_mode, false)?;
        let already = self
            .base
            .rocks
            .iter()
            .chain(&self.planned)
            .find(|r| r.name == rockspec.name && r.version == rockspec.version.to_string())
            .cloned();
        if let (Some(existing), false) = (&already, self.plan.force) {
            (self.say)(&format!(
                "{rock} is already installed in {}",
                self.plan.target.root.display()
            ));
            if explicit && !existing.explicit {
                let mut marked = existing.clone();
                marked.explicit = true;
                self.planned.retain(|r| r.name != marked.name);
                self.planned.push(marked);
            }
            return Ok(rock);
        }
        if let Some(command) = &rockspec.post_install {
            self.hooks.push(PostInstall {
                name: rockspec.name.clone(),
                version: rockspec.version.to_string(),
                command: command.clone(),
            });
        }
        let built = source.build(&self.builder, dependency_items)?;
        (self.say)(&if built.reused {
            format!(
                "{rock}: already built, reusing {}",
                built.item.name.as_str()
            )
        } else {
            format!("{rock}: built {}", built.item.name.as_str())
        });
        self.planned.retain(|r| {
            !(r.name == rockspec.name
                && (!self.plan.keep || r.version == rockspec.version.to_string()))
        });
        self.planned.push(ProfileRock {
            name: rockspec.name.clone(),
            version: rockspec.version.to_string(),
            item: built.item.name.as_str().to_owned(),
            explicit,
            dependencies: rockspec
                .dependencies
                .iter()
                .map(ToString::to_string)
                .collect(),
            external_items,
            wrap_bin_scripts: self
                .plan
                .wrap_bin_scripts
                .or(rockspec.wrap_bin_scripts)
                .unwrap_or(true),
        });
        Ok(rock)
    }

    /// The other installed versions of `new`'s rock that a rock of the
    /// tree still needs (its dependency is met by them, not by `new`), with
    /// LuaRocks' warning for each.
    fn still_needed(&self, rocks: &[ProfileRock], new: &ProfileRock) -> Vec<String> {
        let new_version = crate::rockspec::Version::parse(&new.version);
        let mut kept = Vec::new();
        for old in rocks
            .iter()
            .filter(|r| r.name == new.name && r.version != new.version)
        {
            let old_version = crate::rockspec::Version::parse(&old.version);
            let dependents: Vec<String> = rocks
                .iter()
                .chain(&self.planned)
                .filter(|r| r.name != new.name)
                .filter(|r| {
                    r.dependencies
                        .iter()
                        .filter_map(|d| Dependency::parse(d).ok())
                        .any(|d| {
                            d.name == new.name
                                && crate::rockspec::version::matches_all(
                                    &d.constraints,
                                    &old_version,
                                )
                                && !crate::rockspec::version::matches_all(
                                    &d.constraints,
                                    &new_version,
                                )
                        })
                })
                .map(|r| format!("{} {}", r.name, r.version))
                .collect();
            if !dependents.is_empty() {
                (self.say)(&format!(
                    "Will not remove {} {}.\nRemoving it would break dependencies for: {}\n\nUse --force to force removal (warning: this may break modules).",
                    old.name,
                    old.version,
                    dependents.join(", ")
                ));
                kept.push(old.version.clone());
            }
        }
        kept
    }

    /// LuaRocks' `fulfill_dependencies`: each dependency in order is
    /// provided, installed in a consulted tree, or installed now (a pinned
    /// rock at its pinned version). Returns the items used (for the recipe
    /// key) and those from other trees.
    #[allow(clippy::type_complexity)]
    fn fulfil_list(
        &mut self,
        rock: &str,
        dependencies: &[Dependency],
        mode: DepsMode,
        build: bool,
    ) -> Result<(Vec<String>, BTreeMap<String, String>), InstallError> {
        let dependencies: Vec<Dependency> = dependencies
            .iter()
            .map(|dep| self.pinned(dep, build))
            .collect();
        let mut items = Vec::new();
        let mut external = BTreeMap::new();
        if mode == DepsMode::None {
            return Ok((items, external));
        }
        let rock = rock.to_owned();
        let provided = self.provided();
        for dep in &dependencies {
            if provided
                .iter()
                .any(|(name, version)| *name == dep.name && dep.matches(&Version::parse(version)))
            {
                continue;
            }
            if let Some((item, from_target)) = self.installed_match(dep, mode) {
                if let Some(item) = item {
                    if !from_target {
                        external.insert(dep.name.clone(), item.clone());
                    }
                    items.push(item);
                }
                continue;
            }
            let offers = self.offers(&dep.name, &dep.constraints)?;
            let offer =
                servers::best(&offers, &self.builder.env.arch, Want::Any).ok_or_else(|| {
                    InstallError::Unsatisfied {
                        rock: rock.clone(),
                        dependency: dep.to_string(),
                        source: ServerError::NoMatch {
                            query: dep.to_string(),
                            lua_version: self.plan.target.lua_version.clone(),
                        },
                    }
                })?;
            (self.say)(&format!(
                "{rock} depends on {dep}: installing {}",
                offer.url()
            ));
            let (spec, source) = self.obtain_url(&offer.url(), Origin::Server(offer.url()))?;
            self.install_one(spec, source, false)?;
            match self.installed_match(dep, mode) {
                Some((Some(item), _)) => items.push(item),
                Some((None, _)) => {}
                None => {
                    return Err(BuildError::Rockspec(format!(
                        "Repository inconsistency detected: {dep} is still missing after installing it (is the target tree among the trees deps mode consults?)"
                    ))
                    .into())
                }
            }
        }
        Ok((items, external))
    }

    /// The build and runtime dependencies to fulfil: a requested rock's
    /// are the lock file's pins when there is one (LuaRocks replaces the
    /// rockspec's list with them), else the rockspec's.
    fn dependency_lists(
        &self,
        rockspec: &Rockspec,
        requested: bool,
    ) -> (Vec<Dependency>, Vec<Dependency>) {
        match (&self.pins, requested) {
            (Some(pins), true) => {
                (self.say)(&format!(
                    "Using dependencies pinned in lockfile: {}",
                    pins.path.display()
                ));
                (pins.build_dependencies.clone(), pins.dependencies.clone())
            }
            _ => (
                rockspec.build_dependencies.clone(),
                rockspec.dependencies.clone(),
            ),
        }
    }

    /// `dep`, or the pinned version of its rock when the lock file pins
    /// it ("Forcing … to pinned version", as LuaRocks says).
    fn pinned(&self, dep: &Dependency, build: bool) -> Dependency {
        let Some(pin) = self.pins.as_ref().and_then(|p| p.pin(&dep.name, build)) else {
            return dep.clone();
        };
        if pin.to_string() != dep.to_string() {
            if let Some(pinned) = pin.constraints.first() {
                (self.say)(&format!(
                    "Forcing {} to pinned version {}",
                    dep.name, pinned.version
                ));
            }
        }
        pin.clone()
    }

    /// The highest version matching `dep` among the consulted trees: its
    /// item (when known) and whether it is in the target tree.
    fn installed_match(&self, dep: &Dependency, mode: DepsMode) -> Option<(Option<String>, bool)> {
        let consulted = self.consulted_roots(mode);
        let mut best: Option<(Version, Option<String>, bool)> = None;
        let mut consider = |version: &str, item: Option<String>, target: bool| {
            let v = Version::parse(version);
            if dep.matches(&v)
                && best
                    .as_ref()
                    .is_none_or(|(b, _, _)| b.sort_order(&v).is_lt())
            {
                best = Some((v, item, target));
            }
        };
        if consulted.contains(&self.plan.target.root) {
            // The plan replaces what the target held.
            for r in &self.planned {
                if r.name == dep.name {
                    consider(&r.version, Some(r.item.clone()), true);
                }
            }
            for r in &self.base.rocks {
                let replaced = self.planned.iter().any(|p| p.name == r.name) && !self.plan.keep;
                if r.name == dep.name && !replaced {
                    consider(&r.version, Some(r.item.clone()), true);
                }
            }
        }
        for other in self.others.iter().filter(|o| consulted.contains(&o.root)) {
            for (name, version, item) in &other.rocks {
                if *name == dep.name {
                    consider(version, item.clone(), false);
                }
            }
        }
        best.map(|(_, item, target)| (item, target))
    }

    /// Removes `name` (all versions, or `version`) from the tree.
    pub fn remove(&mut self, name: &str, version: Option<&str>) -> Result<u64, InstallError> {
        let lock = self.plan.target.lock()?;
        let _store_lock = self.builder.store.lock(LockMode::Shared)?;
        let base = self.plan.target.current_profile()?;
        let doomed: Vec<&ProfileRock> = base
            .rocks
            .iter()
            .filter(|r| r.name == name && version.is_none_or(|v| r.version == v))
            .collect();
        if doomed.is_empty() {
            return Err(InstallError::NotInstalled {
                rock: match version {
                    Some(v) => format!("{name} {v}"),
                    None => name.to_owned(),
                },
                tree: self.plan.target.root.clone(),
            });
        }
        let rocks: Vec<ProfileRock> = base
            .rocks
            .iter()
            .filter(|r| !doomed.contains(r))
            .cloned()
            .collect();
        if !self.plan.force {
            let mut dependents = Vec::new();
            for r in &rocks {
                for dep in r
                    .dependencies
                    .iter()
                    .filter_map(|d| Dependency::parse(d).ok())
                {
                    if dep.name != name {
                        continue;
                    }
                    let still = rocks
                        .iter()
                        .any(|o| o.name == dep.name && dep.matches(&Version::parse(&o.version)));
                    if !still && !r.external_items.contains_key(&dep.name) {
                        dependents.push(format!("{} {}", r.name, r.version));
                    }
                }
            }
            if !dependents.is_empty() {
                return Err(InstallError::Dependents {
                    rock: doomed
                        .iter()
                        .map(|r| format!("{} {}", r.name, r.version))
                        .collect::<Vec<_>>()
                        .join(", "),
                    dependents,
                });
            }
        }
        let change = format!(
            "remove {}",
            doomed
                .iter()
                .map(|r| format!("{} {}", r.name, r.version))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let profile = Profile {
            format: 1,
            lua_version: self.plan.target.lua_version.clone(),
            rocks,
        };
        self.switch_to(&lock, &profile, &change)
    }

    /// Finds rocks of the target tree whose dependency was satisfied by
    /// another tree that no longer provides it; with `fix`, links the item
    /// that was used (GC kept it) into the target tree in a new generation.
    pub fn doctor(&mut self, fix: bool) -> Result<Vec<Finding>, InstallError> {
        let lock = self.plan.target.lock()?;
        let _store_lock = self.builder.store.lock(LockMode::Shared)?;
        let base = self.plan.target.current_profile()?;
        let others = self.read_other_trees();
        let mut findings = Vec::new();
        for rock in &base.rocks {
            for (dep_name, item) in &rock.external_items {
                let constraint = rock
                    .dependencies
                    .iter()
                    .filter_map(|d| Dependency::parse(d).ok())
                    .find(|d| d.name == *dep_name);
                let still_there = others.iter().any(|t| {
                    t.rocks.iter().any(|(name, version, _)| {
                        name == dep_name
                            && constraint
                                .as_ref()
                                .is_none_or(|c| c.matches(&Version::parse(version)))
                    })
                });
                let in_own_tree = base.rocks.iter().any(|r| r.name == *dep_name);
                if !still_there && !in_own_tree {
                    let kept = crate::store::item_name::ItemName::parse(item)
                        .ok()
                        .and_then(|n| self.builder.store.get(&n).ok().flatten());
                    findings.push(Finding {
                        rock: format!("{} {}", rock.name, rock.version),
                        dependency: dep_name.clone(),
                        item: item.clone(),
                        kept: kept.is_some(),
                    });
                }
            }
        }
        if fix && findings.iter().any(|f| f.kept) {
            let mut rocks = base.rocks.clone();
            for f in findings.iter().filter(|f| f.kept) {
                let Ok(name) = crate::store::item_name::ItemName::parse(&f.item) else {
                    continue;
                };
                let Some(item) = self.builder.store.get(&name)? else {
                    continue;
                };
                let spec_path = item.path.join(format!(
                    "{}-{}.rockspec",
                    item.record.name, item.record.version
                ));
                let dependencies = std::fs::read(&spec_path)
                    .ok()
                    .and_then(|bytes| {
                        crate::rockspec::Rockspec::from_bytes(
                            &spec_path.display().to_string(),
                            None,
                            &bytes,
                            &crate::rockspec::LoadOptions {
                                platforms: self.builder.env.platforms.clone(),
                            },
                        )
                        .ok()
                    })
                    .map(|r| r.dependencies.iter().map(ToString::to_string).collect())
                    .unwrap_or_default();
                if !rocks.iter().any(|r| r.item == f.item) {
                    rocks.push(ProfileRock {
                        name: item.record.name.clone(),
                        version: item.record.version.clone(),
                        item: f.item.clone(),
                        explicit: false,
                        dependencies,
                        external_items: BTreeMap::new(),
                        wrap_bin_scripts: true,
                    });
                }
                for r in &mut rocks {
                    if r.external_items.get(&f.dependency) == Some(&f.item) {
                        r.external_items.remove(&f.dependency);
                    }
                }
            }
            rocks.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
            let profile = Profile {
                format: 1,
                lua_version: self.plan.target.lua_version.clone(),
                rocks,
            };
            let change = format!(
                "doctor --fix: link {}",
                findings
                    .iter()
                    .filter(|f| f.kept)
                    .map(|f| f.dependency.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.switch_to(&lock, &profile, &change)?;
        }
        Ok(findings)
    }

    /// Removes every rock (a new, empty generation).
    pub fn purge(&mut self) -> Result<u64, InstallError> {
        let lock = self.plan.target.lock()?;
        let _store_lock = self.builder.store.lock(LockMode::Shared)?;
        let profile = Profile::empty(&self.plan.target.lua_version);
        self.switch_to(&lock, &profile, "purge")
    }

    /// `purge --old-versions`: keeps the newest version of each rock and
    /// removes the others, except those another rock still needs (unless
    /// `force`), as LuaRocks. `None` when there was nothing to remove.
    pub fn purge_old_versions(&mut self) -> Result<Option<u64>, InstallError> {
        let lock = self.plan.target.lock()?;
        let _store_lock = self.builder.store.lock(LockMode::Shared)?;
        self.base = self.plan.target.current_profile()?;
        let rocks = self.base.rocks.clone();
        let mut kept: Vec<ProfileRock> = Vec::new();
        let names: std::collections::BTreeSet<&str> =
            rocks.iter().map(|r| r.name.as_str()).collect();
        for name in names {
            let Some(newest) = rocks.iter().filter(|r| r.name == name).max_by(|a, b| {
                crate::rockspec::Version::parse(&a.version)
                    .sort_order(&crate::rockspec::Version::parse(&b.version))
            }) else {
                continue;
            };
            // Asked once per rock, so each warning is said once.
            let needed = if self.plan.force {
                Vec::new()
            } else {
                self.still_needed(&rocks, newest)
            };
            kept.extend(
                rocks
                    .iter()
                    .filter(|r| {
                        r.name == name
                            && (r.version == newest.version || needed.contains(&r.version))
                    })
                    .cloned(),
            );
        }
        if kept.len() == rocks.len() {
            return Ok(None);
        }
        kept.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        let profile = Profile {
            format: 1,
            lua_version: self.plan.target.lua_version.clone(),
            rocks: kept,
        };
        self.switch_to(&lock, &profile, "purge old versions")
            .map(Some)
    }
}

/// A dependency that another tree provided and no longer does.
#[derive(Debug, Clone)]
pub struct Finding {
    /// `name version` of the rock that needs it.
    pub rock: String,
    /// The dependency's name.
    pub dependency: String,
    /// The item that was used.
    pub item: String,
    /// Whether the store still has that item (GC kept it).
    pub kept: bool,
}

/// A version argument as constraints: a bare version means `==`.
pub fn version_constraints(
    version: Option<&str>,
) -> Result<Vec<crate::rockspec::version::Constraint>, InstallError> {
    let Some(v) = version else {
        return Ok(Vec::new());
    };
    let text = if v
        .trim_start()
        .starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        format!("== {v}")
    } else {
        v.to_owned()
    };
    crate::rockspec::version::parse_constraints(&text)
        .map_err(|e| BuildError::Rockspec(format!("bad version `{v}`: {e}")).into())
}

/// A fetched rock file or rockspec.
pub enum Source {
    /// A rockspec to build.
    Rockspec {
        /// File name.
        file: String,
        /// Bytes.
        bytes: Vec<u8>,
        /// Where it came from.
        origin: Origin,
    },
    /// A `.src.rock` to build.
    SrcRock {
        /// File name.
        file: String,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// A binary or `.all.rock` to admit.
    BinaryRock {
        /// File name.
        file: String,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// A rockspec with a working directory as its sources.
    Local {
        /// File name.
        file: String,
        /// Bytes.
        bytes: Vec<u8>,
        /// The sources.
        dir: PathBuf,
        /// Their content hash.
        hash: String,
    },
}

impl Source {
    fn rockspec(&self, builder: &Builder<'_>) -> Result<Rockspec, BuildError> {
        match self {
            Source::Rockspec { file, bytes, .. } | Source::Local { file, bytes, .. } => builder
                .load(&RockspecInput {
                    display: file.clone(),
                    file_name: Some(file.clone()),
                    bytes: bytes.clone(),
                    sources: Sources::Fetch,
                    dependency_items: Vec::new(),
                    origin: Origin::User,
                }),
            Source::SrcRock { file, bytes } | Source::BinaryRock { file, bytes } => {
                builder.rockspec_in_rock(file, bytes)
            }
        }
    }

    fn build(
        &self,
        builder: &Builder<'_>,
        dependency_items: Vec<String>,
    ) -> Result<Built, BuildError> {
        match self {
            Source::Rockspec {
                file,
                bytes,
                origin,
            } => builder.build(&RockspecInput {
                display: file.clone(),
                file_name: Some(file.clone()),
                bytes: bytes.clone(),
                sources: Sources::Fetch,
                dependency_items,
                origin: origin.clone(),
            }),
            Source::SrcRock { file, bytes } => {
                builder.build_src_rock_with(file, bytes, dependency_items)
            }
            Source::BinaryRock { file, bytes } => builder.install_binary_rock(file, bytes),
            Source::Local {
                file,
                bytes,
                dir,
                hash,
            } => builder.build(&RockspecInput {
                display: dir.join(file).display().to_string(),
                file_name: Some(file.clone()),
                bytes: bytes.clone(),
                sources: Sources::Local {
                    dir,
                    hash: hash.clone(),
                },
                dependency_items,
                origin: Origin::User,
            }),
        }
    }
}
