//! `install` and `remove` on a tree: LuaRocks' dependency resolution under
//! a deps mode over `rocks_trees`, as a plan that is then executed, then
//! one new generation switched atomically.
//!
//! - [`resolve`]: the resolver (greedy, as LuaRocks), giving an
//!   [`InstallPlan`] without building anything.
//! - [`plan`]: the plan's steps and what satisfies each dependency.
//! - [`execute`]: runs a plan's builds, in parallel where they are
//!   independent.
//! - [`source`]: a rock without its docs (`--no-doc`).
//! - [`solve`]: PubGrub, asked when the greedy plan leaves a rock with two
//!   versions or a dependency unmet.
//! - `compose`: the new generation's rocks from the tree's and the plan's,
//!   and the test of a greedy plan.
//!
//! While an install runs it holds the shared store lock from its first
//! build to its switch (the backend's hold: on a daemon store, a
//! connection the daemon keeps), so a GC (which takes the exclusive lock) can never sweep
//! an item the install admitted but has not yet linked.

mod compose;
pub mod doctor;
pub mod execute;
pub mod plan;
mod plan_cache;
pub mod resolve;
pub mod solve;
pub mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::backend::{ProfileRequest, StoreBackend};
pub use crate::build::Source;
use crate::build::{BuildError, Builder, Built};
use crate::lockfile::Lockfile;
use crate::rockspec::{Dependency, Version};
use crate::servers::ServerError;
use crate::store::{GenerationRoot, StoreError};
use crate::tree::profile::{ProfileError, WrapperContext};
use crate::tree::{Profile, ProfileRock, Tree, TreeError};
pub use execute::Progress;
pub use plan::{Action, By, InstallPlan, Satisfied, Step};
pub use plan_cache::PlanRecord;
pub use resolve::ConsultedTree;
use resolve::Resolver;

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

    /// The mode's name as LuaRocks writes it.
    pub fn name(self) -> &'static str {
        match self {
            DepsMode::One => "one",
            DepsMode::All => "all",
            DepsMode::Order => "order",
            DepsMode::None => "none",
        }
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
    /// Another tree the command needs to know about cannot be read.
    #[error(transparent)]
    OtherTree(resolve::UnreadableTree),
    /// Adopting the tree first failed (nothing changed).
    #[error(transparent)]
    Adopt(#[from] crate::adopt::AdoptError),
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
    /// No version of each rock meets every constraint (found before
    /// anything was built).
    #[error("No choice of one version per rock meets every constraint, so nothing was built or changed.\n{}\n{derivation}\nAsk for other versions (rockstore install ROCK VERSION), or use --keep to install the conflicting versions side by side as LuaRocks does.", splits.join("\n"))]
    Conflict {
        /// What the greedy choice left inconsistent.
        splits: Vec<String>,
        /// Why no other choice works.
        derivation: String,
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

impl crate::hint::Hint for InstallError {
    fn hints(&self) -> Vec<String> {
        match self {
            InstallError::Build(e) => e.hints(),
            InstallError::Adopt(e) => e.hints(),
            InstallError::Profile(e) => e.hints(),
            InstallError::Store(e) => e.hints(),
            _ => Vec::new(),
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
pub struct Settings {
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
    /// Builds run at once (`-j`).
    pub jobs: usize,
    /// `--no-doc`: the rocks asked for are installed without `doc/` and
    /// `docs/` (an item of their own; dependencies keep their docs).
    pub no_doc: bool,
    /// `--check-lua-versions`: a rock asked for that no manifest of this
    /// Lua offers is looked for in the other Lua versions' manifests.
    pub check_lua_versions: bool,
    /// `--pin`: the rocks asked for get a `luarocks.lock` in their rock
    /// directory naming the version of every dependency used.
    pub pin: bool,
    /// With `pin`, the lock also names each dependency's item by content
    /// hash (`rockstore_items`, which LuaRocks ignores), so a later `make`
    /// beside it takes exactly those builds from any substituter.
    pub pin_items: bool,
    /// Whether what LuaRocks installed or changed in the tree is adopted
    /// first, in the same command (`crate::adopt::first_touch`).
    pub adopt: crate::adopt::first_touch::Policy,
}

/// A hook that failed: the rock, the command as run, and how it ended.
struct HookFailure {
    rock: String,
    command: String,
    status: String,
}

/// One install or removal run.
pub struct Installer<'a> {
    /// Reads the store, loads rockspecs and computes what a build would
    /// reuse.
    pub builder: Builder<'a>,
    /// Writes the store: builds, profiles, roots.
    pub backend: &'a dyn StoreBackend,
    /// What it works on, and how.
    pub settings: Settings,
    /// Messages for the user (stderr).
    pub say: &'a (dyn Fn(&str) + Sync),
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
    /// Every rock the new generation added (dependencies first), with its
    /// rockspec's license: what LuaRocks announces as "now installed".
    pub added: Vec<Added>,
    /// What each dependency of the plan was satisfied with, as `--pin`
    /// writes it into `luarocks.lock`: `dependencies` / `build_dependencies`
    /// → name → version (the first one met, as LuaRocks' deplocks).
    pub pins: BTreeMap<String, BTreeMap<String, String>>,
    /// The plan document of this install (when it asked substituters), to
    /// push once its builds are pushed.
    pub plan: Option<PlanRecord>,
}

/// A rock an install added to the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `description.license` of its rockspec.
    pub license: Option<String>,
}

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

/// `luarocks.lock`'s text for `pins`, as LuaRocks' `deplocks.write_file`
/// writes it (`persist.save_as_module`).
pub fn lock_text(pins: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    use crate::lua::{Table, Value};
    let mut table = Table::new();
    for (key, deps) in pins {
        let mut t = Table::new();
        for (name, version) in deps {
            t.insert(name, Value::String(version.clone()));
        }
        table.insert(key, Value::Table(t));
    }
    crate::manifest::persist::save_as_module(&table)
}

/// The `--pin` table of a plan.
fn pins_of(plan: &InstallPlan) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut pins: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let requested = plan.only_deps_of_requested.iter();
    for dep in requested.chain(plan.steps.iter().flat_map(|s| s.dependencies.iter())) {
        {
            let key = if dep.build {
                "build_dependencies"
            } else {
                "dependencies"
            };
            let Ok(parsed) = crate::rockspec::Dependency::parse(&dep.dependency) else {
                continue;
            };
            let version = match &dep.by {
                By::Provided { version } | By::Tree { version, .. } | By::Step { version, .. } => {
                    version.clone()
                }
            };
            pins.entry(key.to_owned())
                .or_default()
                .entry(parsed.name)
                .or_insert(version);
        }
    }
    pins
}

/// Progress as plain lines through the installer's `say`.
struct SayProgress<'s>(&'s (dyn Fn(&str) + Sync));

impl Progress for SayProgress<'_> {
    fn finished(&self, _: usize, step: &Step, built: &Built) {
        (self.0)(&finished_line(step, built));
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
    /// Prepares an install into `target`.
    pub fn new(
        builder: Builder<'a>,
        backend: &'a dyn StoreBackend,
        settings: Settings,
        say: &'a (dyn Fn(&str) + Sync),
    ) -> Installer<'a> {
        Installer {
            builder,
            backend,
            settings,
            say,
            pins: None,
        }
    }

    /// The installed rocks of every configured tree but the target.
    /// The other trees of `rocks_trees`. One whose rocks cannot be read
    /// is an error when `needed` counts it (the deps mode consults it, or
    /// `doctor` asks what it still provides); otherwise it costs one
    /// warning and is taken as empty, so a broken tree never stops
    /// commands about the others.
    fn read_other_trees(&self, needed: &[PathBuf]) -> Result<Vec<ConsultedTree>, InstallError> {
        let mut trees = Vec::new();
        for root in self
            .settings
            .rocks_trees
            .iter()
            .filter(|r| **r != self.settings.target.root)
        {
            match ConsultedTree::read(root, &self.settings.target.lua_version) {
                Ok(tree) => trees.push(tree),
                Err(e) if needed.contains(root) && !e.files_gone => {
                    return Err(InstallError::OtherTree(e))
                }
                Err(e) => {
                    // Not consulted: the one line, without the advice the
                    // error gives.
                    (self.say)(&format!(
                        "Warning: cannot read the rocks installed in {}: {}",
                        e.path.display(),
                        e.reason
                    ));
                    trees.push(ConsultedTree {
                        root: root.clone(),
                        rocks: Vec::new(),
                    });
                }
            }
        }
        Ok(trees)
    }

    /// LuaRocks' greedy resolution; when it leaves a rock it touches
    /// with two versions or a dependency unmet, the solver's choice
    /// instead (explained), or the derivation of why there is none.
    fn resolve(
        &self,
        base: &Profile,
        requests: &[Request],
        only_deps: bool,
    ) -> Result<InstallPlan, InstallError> {
        let consulted = resolve::consulted_roots(&self.settings, self.settings.deps_mode);
        let others = self.read_other_trees(&consulted)?;
        let consulted_others: Vec<&ConsultedTree> = others
            .iter()
            .filter(|o| consulted.contains(&o.root))
            .collect();
        // The greedy pass says nothing until it is known to stand.
        let heard = std::sync::Mutex::new(Vec::new());
        let hold = |text: &str| {
            if let Ok(mut heard) = heard.lock() {
                heard.push(text.to_owned());
            }
        };
        let mut greedy = Resolver::new(&self.builder, &self.settings, &hold, base, &others);
        greedy.pins = self.pins.as_ref();
        let plan = greedy.resolve(requests, only_deps);
        let said = std::mem::take(&mut *heard.lock().unwrap_or_else(|e| e.into_inner()));
        // --keep and --force ask for LuaRocks' behaviour (several versions
        // side by side, or dependents broken knowingly); a lock file's
        // pins are authoritative.
        let solver_applies = self.pins.is_none()
            && !only_deps
            && !self.settings.keep
            && !self.settings.force
            && self.settings.deps_mode != DepsMode::None;
        let splits = match &plan {
            Ok(plan) if solver_applies => self.splits(plan, base, &consulted_others),
            _ => Vec::new(),
        };
        if splits.is_empty() {
            for line in &said {
                (self.say)(line);
            }
            return plan;
        }
        let plan = plan?;
        let problem_request = self.problem_request(&plan, requests)?;
        let manifests = greedy.manifests()?;
        let problem = self.problem(base, &consulted_others, manifests, problem_request);
        let described: Vec<String> = splits.iter().map(compose::Split::describe).collect();
        let solution = solve::solve(&problem).map_err(|e| match e {
            solve::SolveError::NoSolution(derivation) => InstallError::Conflict {
                splits: described.clone(),
                derivation,
            },
            // Not a conflict: a rockspec the search needed could not be
            // read, so whether another choice exists is unknown.
            solve::SolveError::Rockspec(why) => InstallError::Build(BuildError::Rockspec(format!(
                "{}; looking for other versions to resolve that failed ({why}), so nothing was built or changed",
                described.join("; ")
            ))),
        })?;
        let mut chosen = Vec::new();
        for step in plan.steps.iter().filter(|s| s.in_profile) {
            if let Some(v) = solution.get(&step.name) {
                if v.to_string() != step.version {
                    chosen.push(format!(
                        "Chose {} {v} instead of {}: {}",
                        step.name,
                        step.version,
                        described.join("; ")
                    ));
                }
            }
        }
        for line in &chosen {
            (self.say)(line);
        }
        let provided = &self.builder.env.rocks_provided;
        let mut solved = Resolver::new(&self.builder, &self.settings, self.say, base, &others);
        solved.forced = solution
            .into_iter()
            .filter(|(name, _)| !provided.iter().any(|(p, _)| p == name))
            .collect();
        let mut plan = solved.resolve(requests, only_deps)?;
        let left = self.splits(&plan, base, &consulted_others);
        if !left.is_empty() {
            return Err(InstallError::Conflict {
                splits: left.iter().map(compose::Split::describe).collect(),
                derivation: "the solver's choice did not hold when planned".to_owned(),
            });
        }
        chosen.append(&mut plan.notes);
        plan.notes = chosen;
        Ok(plan)
    }

    /// What `plan` would leave inconsistent in the new generation.
    fn splits(
        &self,
        plan: &InstallPlan,
        base: &Profile,
        others: &[&ConsultedTree],
    ) -> Vec<compose::Split> {
        let planned = compose::planned_rocks(plan, None, &self.settings.target.root);
        let (rocks, _) = compose::compose(&base.rocks, &planned, false, self.settings.force);
        compose::splits(plan, &rocks, &self.builder.env.rocks_provided, others)
    }

    /// The request as the solver sees it: each rock asked for by name with
    /// its constraint; one named by file at its version, with the
    /// dependencies its rockspec (in hand) gives.
    #[allow(clippy::type_complexity)]
    fn problem_request(
        &self,
        plan: &InstallPlan,
        requests: &[Request],
    ) -> Result<(Vec<Dependency>, Vec<(String, solve::Candidate)>), InstallError> {
        let mut deps = Vec::new();
        let mut in_hand = Vec::new();
        for request in requests {
            match request {
                Request::Name(name, version) | Request::Source(name, version) => {
                    deps.push(Dependency {
                        name: name.clone(),
                        namespace: None,
                        constraints: version_constraints(version.as_deref())?,
                    });
                }
                Request::File(_) | Request::Local { .. } => {}
            }
        }
        for step in plan.steps.iter().filter(|s| s.explicit && s.in_profile) {
            let named = requests.iter().any(|r| match r {
                Request::Name(n, _) | Request::Source(n, _) => *n == step.name,
                _ => false,
            });
            let Some(source) = step.build_from.as_ref().filter(|_| !named) else {
                continue;
            };
            let rockspec = source.rockspec(&self.builder)?;
            let mut needs = rockspec.build_dependencies.clone();
            needs.extend(rockspec.dependencies.iter().cloned());
            deps.extend(Dependency::parse(&format!("{} == {}", step.name, step.version)).ok());
            in_hand.push((
                step.name.clone(),
                solve::Candidate {
                    version: rockspec.version.clone(),
                    installed: false,
                    dependencies: Some(needs),
                },
            ));
        }
        Ok((deps, in_hand))
    }

    /// The solver's problem: the request; the rocks the target tree keeps
    /// (those asked for before, at their versions); what the VM provides,
    /// what the consulted trees hold, and what is in hand.
    fn problem<'p>(
        &'p self,
        base: &Profile,
        others: &[&ConsultedTree],
        manifests: &'p [crate::servers::ServerManifest],
        (request, in_hand): (Vec<Dependency>, Vec<(String, solve::Candidate)>),
    ) -> solve::Problem<'p> {
        let asked: Vec<&str> = request.iter().map(|d| d.name.as_str()).collect();
        let kept: Vec<Dependency> = base
            .rocks
            .iter()
            .filter(|r| r.explicit && !asked.contains(&r.name.as_str()))
            .filter_map(|r| Dependency::parse(&format!("{} == {}", r.name, r.version)).ok())
            .collect();
        let mut known: BTreeMap<String, (Vec<solve::Candidate>, bool)> = BTreeMap::new();
        for r in &base.rocks {
            known
                .entry(r.name.clone())
                .or_default()
                .0
                .push(solve::Candidate {
                    version: Version::parse(&r.version),
                    installed: true,
                    dependencies: Some(
                        r.dependencies
                            .iter()
                            .filter_map(|d| Dependency::parse(d).ok())
                            .collect(),
                    ),
                });
        }
        for tree in others {
            for (name, version, _) in &tree.rocks {
                known
                    .entry(name.clone())
                    .or_default()
                    .0
                    .push(solve::Candidate {
                        version: Version::parse(version),
                        installed: true,
                        dependencies: Some(Vec::new()),
                    });
            }
        }
        for (name, version) in &self.builder.env.rocks_provided {
            known.insert(
                name.clone(),
                (
                    vec![solve::Candidate {
                        version: Version::parse(version),
                        installed: true,
                        dependencies: Some(Vec::new()),
                    }],
                    true,
                ),
            );
        }
        for (name, candidate) in in_hand {
            known.insert(name, (vec![candidate], true));
        }
        solve::Problem {
            builder: &self.builder,
            manifests,
            request,
            kept: vec![(self.settings.target.root.clone(), kept)],
            known,
        }
    }

    /// The plan an install of `requests` would run, checked against the
    /// store (a step whose realisation exists is a reuse); nothing is
    /// fetched but rockspecs and rock files, and nothing is built.
    pub fn plan(
        &mut self,
        requests: &[Request],
        only_deps: bool,
    ) -> Result<InstallPlan, InstallError> {
        let base = self.planned_base()?;
        let mut plan = self.resolve(&base, requests, only_deps)?;
        let mut items: Vec<Option<String>> = Vec::with_capacity(plan.steps.len());
        for step in &mut plan.steps {
            let (item, action) = match (&step.action, &step.build_from) {
                (Action::Installed(item) | Action::Pinned(item), _) => (Some(item.clone()), None),
                (Action::Build, Some(source)) => match resolve::dependency_items(step, &items) {
                    Some(deps) => match source.planned(&self.builder, deps)? {
                        crate::build::Planned::Reuse(i) => {
                            let name = i.name.as_str().to_owned();
                            (Some(name.clone()), Some(Action::Reuse(name)))
                        }
                        crate::build::Planned::Substitute {
                            from,
                            item,
                            blob_size,
                        } => (
                            Some(item.clone()),
                            Some(Action::Substitute {
                                from,
                                item,
                                size: blob_size,
                            }),
                        ),
                        crate::build::Planned::Build(_) => (None, None),
                    },
                    None => (None, None),
                },
                _ => (None, None),
            };
            if let Some(action) = action {
                step.action = action;
            }
            items.push(item);
        }
        Ok(plan)
    }

    /// The dependencies whose item the project's `luarocks.lock` names by
    /// content hash (`rockstore_items`): taken from the store, or else
    /// from any substituter's blob of that hash, signed or not (the hash
    /// is the proof), with no realisation asked for. A pinned item found
    /// nowhere is built, after a warning. The rocks asked for are always
    /// built: `make` builds the working directory, whatever a lock says.
    fn use_pinned_items(&self, plan: &mut InstallPlan) -> Result<(), InstallError> {
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
                .and_then(|s| s.archive_by_hash(&hash));
            let Some((url, archive)) = found else {
                (self.say)(&format!(
                    "warning: {} {}: its pinned item {} is in no substituter; building it",
                    step.name,
                    step.version,
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
            let item =
                self.backend
                    .add_archive(&mut archive.as_slice(), archive.len() as u64, &spec)?;
            if item.name != name {
                (self.say)(&format!(
                    "warning: {} {}: {url} gave {} for the pinned item {}; building it",
                    step.name,
                    step.version,
                    item.name.as_str(),
                    name.as_str()
                ));
                continue;
            }
            (self.say)(&format!(
                "{} {}: pinned item {} from {url}",
                step.name,
                step.version,
                name.as_str()
            ));
            step.action = Action::Pinned(name.as_str().to_owned());
        }
        Ok(())
    }

    /// `pins_of` and, for `--pin`, each dependency's item by content hash
    /// (`rockstore_items`, which LuaRocks ignores).
    fn pins_of_run(
        &self,
        plan: &InstallPlan,
        items: &[String],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, InstallError> {
        let mut pins = pins_of(plan);
        if !(self.settings.pin && self.settings.pin_items) {
            return Ok(pins);
        }
        let mut hashes = BTreeMap::new();
        for (step, item) in plan.steps.iter().zip(items) {
            if step.explicit {
                continue;
            }
            let Ok(name) = crate::store::item_name::ItemName::parse(item) else {
                continue;
            };
            if let Some(found) = self.builder.store.get(&name)? {
                hashes.insert(step.name.clone(), found.record.hash.to_string());
            }
        }
        if !hashes.is_empty() {
            pins.insert(crate::lockfile::ITEMS_KEY.to_owned(), hashes);
        }
        Ok(pins)
    }

    /// Asks the substituters for every step's realisation before anything
    /// is built, all the steps of a level at once: a step's recipe key is
    /// known once its dependencies' items are (installed, realised here, or
    /// substituted), so the round trips grow with the plan's depth, not
    /// with its number of rocks. The builds then find the answers at once.
    fn prefetch_substitutes(&self, plan: &InstallPlan) -> Result<(), InstallError> {
        let Some(substituters) = self.builder.substituters else {
            return Ok(());
        };
        let fetch_blobs = |hits: &[crate::cache::substitute::Hit]| {
            if self.backend.substitutes_here() && !hits.is_empty() {
                let started = std::time::Instant::now();
                let (count, bytes) = substituters.prefetch_blobs(hits);
                (self.say)(&format!(
                    "downloaded {count} build(s) ({} KiB) from the substituters in {:.1} ms",
                    bytes.div_ceil(1024),
                    started.elapsed().as_secs_f64() * 1e3
                ));
            }
        };
        // A plan document: the whole closure in one request.
        if let Some(hits) = plan_cache::hits_from_document(self, plan, substituters)? {
            (self.say)(&format!(
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
                        None => level.push((i, key, rock)),
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

    /// Installs the requested rocks (`only_deps`: their dependencies only)
    /// and switches to the new generation.
    pub fn install(
        &mut self,
        requests: &[Request],
        only_deps: bool,
    ) -> Result<Outcome, InstallError> {
        self.install_watched(requests, only_deps, &SayProgress(self.say))
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

    fn install_locked(
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
                if plan
                    .requested
                    .contains(&format!("{} {}", rock.name, rock.version))
                {
                    rock.lock = Some(lock.clone());
                }
            }
        }
        for warning in warnings {
            (self.say)(&warning);
        }
        let profile = Profile {
            format: 1,
            lua_version: self.settings.target.lua_version.clone(),
            rocks,
            others: base.others.clone(),
        };
        let announce = |step: &plan::Step, item: &String| Added {
            name: step.name.clone(),
            version: step.version.clone(),
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
                let same = |r: &&ProfileRock| r.name == step.name && r.version == step.version;
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
            format!("install {}", installed.join(", "))
        };
        let previous = self.settings.target.current();
        let generation = self.switch_to(lock, &profile, &change)?;
        if let Err(failure) = self.run_hooks(&plan, &profile) {
            let restored = self.undo(lock, &base, previous, generation)?;
            return Err(InstallError::Hook {
                rock: failure.rock,
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

    /// Runs the `post_install` hooks of the rocks the new generation
    /// holds, with LuaRocks' variables: the build variables, and `PREFIX`,
    /// `LUADIR`, `LIBDIR`, `CONFDIR`, `BINDIR`, `DOCDIR` of the rock's
    /// directory in the tree. The hook runs in the working directory, as
    /// LuaRocks runs it; its output is the user's to see.
    fn run_hooks(&self, plan: &InstallPlan, profile: &Profile) -> Result<(), HookFailure> {
        for hook in &plan.hooks {
            let kept = profile
                .rocks
                .iter()
                .any(|r| r.name == hook.name && r.version == hook.version);
            if !kept {
                continue;
            }
            let prefix = self
                .settings
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

    /// Takes the tree lock to change the tree. What LuaRocks installed or
    /// changed there is adopted first, under that lock, unless the policy
    /// asks for the explicit step (then the tree refuses, as
    /// [`Tree::lock_for_change`]). A failed adoption leaves the tree as it
    /// was, and no `.rockstore/` it did not have.
    fn lock_for_change(&self) -> Result<crate::tree::TreeLock, InstallError> {
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
                    (self.say)(&warning);
                }
                (self.say)(&touch.line(&target.root, false));
                Ok(lock)
            }
            Err(e) => {
                target.unlock_unused(lock);
                Err(e.into())
            }
        }
    }

    /// The tree's rocks a plan starts from: the current generation's, or,
    /// when the tree would be adopted first, what adopting it would make
    /// (saying so); refused as [`Tree::check_usable`] under the explicit
    /// policy.
    fn planned_base(&self) -> Result<Profile, InstallError> {
        use crate::adopt::first_touch::{self, Policy};
        let target = &self.settings.target;
        if self.settings.adopt == Policy::Explicit {
            target.check_usable()?;
            return Ok(target.current_profile()?);
        }
        match first_touch::planned(target)? {
            None => Ok(target.current_profile()?),
            Some((touch, profile)) => {
                for warning in touch.warnings() {
                    (self.say)(&warning);
                }
                (self.say)(&touch.line(&target.root, true));
                Ok(profile)
            }
        }
    }

    /// The interpreter and the trees the `bin/` wrappers of a new
    /// generation name.
    fn wrapper_parts(&self) -> (String, Vec<PathBuf>) {
        let lua = self
            .builder
            .env
            .lua
            .interpreter
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("lua{}", self.settings.target.lua_version));
        let mut wrapper_trees = resolve::consulted_roots(&self.settings, self.settings.deps_mode);
        if wrapper_trees.is_empty() {
            wrapper_trees.push(self.settings.target.root.clone());
        }
        (lua, wrapper_trees)
    }

    /// Builds the profile item, records the generation, switches, and
    /// registers the tree as a GC root.
    fn switch_to(
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

    /// Removes `name` (all versions, or `version`) from the tree: the new
    /// generation, and (with `force`) the rocks that needed it, which
    /// LuaRocks lists as "may be broken".
    pub fn remove(
        &mut self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(u64, Vec<String>), InstallError> {
        let lock = self.lock_for_change()?;
        let _store_lock = self.backend.hold()?;
        let base = self.settings.target.current_profile()?;
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
                tree: self.settings.target.root.clone(),
            });
        }
        let rocks: Vec<ProfileRock> = base
            .rocks
            .iter()
            .filter(|r| !doomed.contains(r))
            .cloned()
            .collect();
        // LuaRocks' words, as scripts read them.
        (self.say)("Checking stability of dependencies in the absence of");
        (self.say)(&format!(
            "{name} {}...",
            doomed
                .iter()
                .map(|r| r.version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        (self.say)("");
        let mut dependents = Vec::new();
        {
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
            if !dependents.is_empty() && !self.settings.force {
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
        for r in &doomed {
            (self.say)(&format!("Removing {} {}...", r.name, r.version));
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
            lua_version: self.settings.target.lua_version.clone(),
            rocks,
            others: base.others.clone(),
        };
        let generation = self.switch_to(&lock, &profile, &change)?;
        Ok((generation, dependents))
    }

    /// Finds rocks of the target tree whose dependency was satisfied by
    /// another tree that no longer provides it; with `fix`, links the item
    /// that was used (GC kept it) into the target tree in a new generation.
    pub fn doctor(&mut self, fix: bool) -> Result<Vec<Finding>, InstallError> {
        let lock = self.lock_for_change()?;
        let _store_lock = self.backend.hold()?;
        let base = self.settings.target.current_profile()?;
        // Other trees matter only to rocks that relied on one: a tree that
        // cannot be read then stops the check (a warning otherwise).
        let relied = base.rocks.iter().any(|r| !r.external_items.is_empty());
        let needed: &[PathBuf] = if relied {
            &self.settings.rocks_trees
        } else {
            &[]
        };
        let others = self.read_other_trees(needed)?;
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
                        namespace: None,
                        lock: None,
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
                lua_version: self.settings.target.lua_version.clone(),
                rocks,
                others: base.others.clone(),
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
        let lock = self.lock_for_change()?;
        let _store_lock = self.backend.hold()?;
        // The tree's other Lua versions keep their rocks, as LuaRocks'
        // purge empties one version's rocks directory.
        let current = self.settings.target.current_profile()?;
        // LuaRocks' words: by name, each name's versions oldest first.
        let mut gone: Vec<&ProfileRock> = current.rocks.iter().collect();
        gone.sort_by(|a, b| {
            a.name.cmp(&b.name).then_with(|| {
                crate::rockspec::Version::parse(&a.version)
                    .sort_order(&crate::rockspec::Version::parse(&b.version))
            })
        });
        for r in gone {
            (self.say)(&format!("Removing {} {}...", r.name, r.version));
        }
        let profile = Profile {
            others: current.others,
            ..Profile::empty(&self.settings.target.lua_version)
        };
        self.switch_to(&lock, &profile, "purge")
    }

    /// `purge --old-versions`: keeps the newest version of each rock and
    /// removes the others, except those another rock still needs (unless
    /// `force`), as LuaRocks. `None` when there was nothing to remove.
    pub fn purge_old_versions(&mut self) -> Result<Option<u64>, InstallError> {
        let lock = self.lock_for_change()?;
        let _store_lock = self.backend.hold()?;
        let rocks = self.settings.target.current_profile()?.rocks;
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
            let needed: Vec<String> = if self.settings.force {
                Vec::new()
            } else {
                compose::still_needed(&rocks, &[], newest)
                    .into_iter()
                    .map(|(version, dependents)| {
                        (self.say)(&compose::kept_warning(&newest.name, &version, &dependents));
                        version
                    })
                    .collect()
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
            lua_version: self.settings.target.lua_version.clone(),
            rocks: kept,
            others: self.settings.target.current_profile()?.others,
        };
        self.switch_to(&lock, &profile, "purge old versions")
            .map(Some)
    }
}

/// Seconds since the epoch, for a generation's record.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
