//! Resolution: LuaRocks' `deps.fulfill_dependencies` (provided first, then
//! the highest installed match in the trees the deps mode consults, then
//! the best offer of the servers; depth-first, in the rockspec's order)
//! turned into an [`InstallPlan`] without building anything. Rockspecs and
//! rock files are fetched (they say what a rock needs); sources are not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::consulted::{consulted_roots, ConsultedTree};
use super::plan::{Action, By, InstallPlan, PostInstall, Satisfied, Step};
use super::{DepsMode, InstallError, Request, Settings};
use crate::build::Source;
use crate::build::{BuildError, Builder, Origin};
use crate::fetch::Freshness;
use crate::lockfile::Lockfile;
use crate::reporter::{Event, Reporter};
use crate::rock_id::RockId;
use crate::rockspec::{Dependency, Rockspec, Version};
use crate::servers::{self, Offer, ServerError, ServerManifest, Want};
use crate::tree::Profile;

/// Rockspec downloads at once while resolving.
const PREFETCH_CONNECTIONS: usize = 8;

/// One resolution.
pub(crate) struct Resolver<'r, 'a> {
    pub builder: &'r Builder<'a>,
    pub settings: &'r Settings,
    pub reporter: &'r dyn Reporter,
    pub pins: Option<&'r Lockfile>,
    /// Versions the solver chose: every dependency on these rocks (and a
    /// request by name) takes exactly this version.
    pub forced: BTreeMap<String, Version>,
    /// The target tree's current rocks.
    pub base: &'r Profile,
    /// Other trees' installed rocks, read once each.
    pub others: &'r [ConsultedTree],
    manifests: Option<Vec<ServerManifest>>,
    /// The manifests of each namespace asked for (`<server>/manifests/<ns>`).
    namespaced: BTreeMap<String, Vec<ServerManifest>>,
    /// The namespace each chosen rock came from.
    namespaces: BTreeMap<RockId, String>,
    /// Rockspecs and rock files fetched ahead, by URL.
    prefetched: BTreeMap<String, Vec<u8>>,
    steps: Vec<Step>,
    hooks: Vec<PostInstall>,
    notes: Vec<String>,
}

/// Where a dependency's match was found.
enum Found {
    /// A step of the plan (its index).
    Step(usize),
    /// An installed rock: its tree, version and item.
    Installed(PathBuf, String, Option<String>),
}

impl<'r, 'a> Resolver<'r, 'a> {
    pub fn new(
        builder: &'r Builder<'a>,
        settings: &'r Settings,
        reporter: &'r dyn Reporter,
        base: &'r Profile,
        others: &'r [ConsultedTree],
    ) -> Self {
        Resolver {
            builder,
            settings,
            reporter,
            pins: None,
            forced: BTreeMap::new(),
            base,
            others,
            manifests: None,
            namespaced: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            prefetched: BTreeMap::new(),
            steps: Vec::new(),
            hooks: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Whether the store still has `item` (whole: its stamps match, or
    /// its bytes do). A rock whose item is gone or damaged is not
    /// installed.
    fn item_present(&self, item: &str) -> bool {
        crate::store::item_name::ItemName::parse(item)
            .ok()
            .and_then(|n| self.builder.store.get_intact(&n).ok().flatten())
            .is_some()
    }

    fn note(&mut self, text: String) {
        self.reporter.report(Event::Status(&text));
        self.notes.push(text);
    }

    /// Resolves the requests (`only_deps`: their dependencies only).
    pub fn resolve(
        &mut self,
        requests: &[Request],
        only_deps: bool,
    ) -> Result<InstallPlan, InstallError> {
        let mut requested = Vec::new();
        let mut only_deps_of_requested = Vec::new();
        for request in requests {
            let (rockspec, input) = self.obtain(request)?;
            let rock = rockspec.id();
            if only_deps {
                let (_, dependencies) = self.dependency_lists(&rockspec, true);
                only_deps_of_requested.extend(self.fulfil_list(
                    &rock,
                    &dependencies,
                    self.settings.deps_mode,
                    false,
                )?);
                continue;
            }
            self.plan_one(rockspec, input, true)?;
            requested.push(rock);
        }
        Ok(InstallPlan {
            tree: self.settings.target.root.clone(),
            deps_mode: self.settings.deps_mode,
            requested,
            steps: std::mem::take(&mut self.steps),
            notes: std::mem::take(&mut self.notes),
            hooks: std::mem::take(&mut self.hooks),
            only_deps_of_requested,
        })
    }

    /// The servers' manifests (loaded once).
    pub fn manifests(&mut self) -> Result<&[ServerManifest], InstallError> {
        self.offers("", &[])?;
        Ok(self.manifests.as_deref().unwrap_or_default())
    }

    /// The offers of `namespace` (LuaRocks: each server's
    /// `manifests/<namespace>/`), or of the servers themselves.
    fn offers_in(
        &mut self,
        namespace: Option<&str>,
        name: &str,
        constraints: &[crate::rockspec::version::Constraint],
    ) -> Result<Vec<Offer>, ServerError> {
        let Some(ns) = namespace else {
            return self.offers(name, constraints);
        };
        if !self.namespaced.contains_key(ns) {
            let servers = servers::in_namespace(&self.settings.servers, ns);
            let mut warnings = Vec::new();
            let loaded = servers::load(
                self.builder.fetcher,
                &servers,
                &self.settings.target.lua_version,
                &mut warnings,
            );
            for w in warnings {
                if !self.builder.fetcher.warning(&w) {
                    self.reporter.report(Event::Warning(&w));
                }
            }
            self.namespaced.insert(ns.to_owned(), loaded?);
        }
        servers::search(
            self.namespaced
                .get(ns)
                .map(Vec::as_slice)
                .unwrap_or_default(),
            &[],
            name,
            true,
            constraints,
            &self.builder.env.arch,
        )
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
                &self.settings.servers,
                &self.settings.target.lua_version,
                &mut warnings,
            );
            for w in warnings {
                if !self.builder.fetcher.warning(&w) {
                    self.reporter.report(Event::Warning(&w));
                }
            }
            self.manifests = Some(loaded?);
        }
        servers::search(
            self.manifests.as_deref().unwrap_or_default(),
            &[],
            name,
            true,
            constraints,
            &self.builder.env.arch,
        )
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
                let limit = crate::lua::Limits::SMALL_FILE.source_bytes;
                let bytes =
                    crate::lua::read_source(rockspec, limit).map_err(|source| BuildError::Io {
                        path: rockspec.clone(),
                        source,
                    })?;
                let source = Source::Local {
                    file,
                    bytes,
                    hash: crate::build::source::tree_hash(dir)?,
                    dir: dir.clone(),
                };
                let spec = source.rockspec(self.builder)?;
                return Ok((spec, source));
            }
            Request::Name(full, version) | Request::Source(full, version) => {
                // `user/rock`: the rock `rock` of namespace `user`.
                let (namespace, name) = match full.split_once('/') {
                    Some((ns, n)) if !ns.is_empty() && !n.is_empty() && !n.contains('/') => {
                        (Some(ns.to_lowercase()), n.to_lowercase())
                    }
                    _ => (None, full.clone()),
                };
                let name = &name;
                let want = if matches!(request, Request::Source(..)) {
                    Want::Source
                } else {
                    Want::Any
                };
                let constraints = match self.forced.get(name) {
                    Some(v) => super::version_constraints(Some(&v.to_string()))?,
                    None => super::version_constraints(version.as_deref())?,
                };
                if let Some((_, v)) = self
                    .builder
                    .env
                    .rocks_provided
                    .iter()
                    .find(|(p, _)| p == name)
                {
                    return Err(ServerError::Provided {
                        name: name.clone(),
                        version: v.clone(),
                    }
                    .into());
                }
                let offers = self.offers_in(namespace.as_deref(), name, &constraints)?;
                let Some(offer) = servers::best(&offers, &self.builder.env.arch, want) else {
                    return Err(servers::no_match(
                        self.builder.fetcher,
                        &self.settings.servers,
                        name,
                        version.as_deref(),
                        &constraints,
                        &self.builder.env.arch,
                        &self.settings.target.lua_version,
                        self.settings.check_lua_versions,
                        self.reporter,
                    )
                    .into());
                };
                if let Some(ns) = namespace {
                    self.namespaces
                        .insert(RockId::new(&offer.name, &offer.version), ns);
                }
                offer.url()
            }
        };
        let origin = Origin::of_url(&url, matches!(request, Request::File(_)));
        self.obtain_url(&url, origin)
    }

    fn obtain_url(
        &mut self,
        url: &str,
        origin: Origin,
    ) -> Result<(Rockspec, Source), InstallError> {
        let file = url.rsplit('/').next().unwrap_or(url).to_owned();
        let bytes = match self.prefetched.remove(url) {
            Some(bytes) => bytes,
            None => self
                .builder
                .fetcher
                .fetch(url, Freshness::Immutable)
                .map_err(BuildError::from)?,
        };
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
        let rockspec = source.rockspec(self.builder)?;
        Ok((rockspec, source))
    }

    /// Resolves a rock's dependencies (planning missing ones), then plans
    /// the rock itself.
    fn plan_one(
        &mut self,
        rockspec: Rockspec,
        source: Source,
        explicit: bool,
    ) -> Result<(), InstallError> {
        let rock = rockspec.id();
        let version = rockspec.version.to_string();
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
        if rockspec.post_install.is_some() && !self.settings.hooks_enabled {
            return Err(InstallError::HooksBlocked { rock });
        }
        if !matches!(source, Source::BinaryRock { .. }) {
            self.builder.check_external_dependencies(&rockspec)?;
        }
        let (build_dependencies, dependencies) = self.dependency_lists(&rockspec, explicit);
        let mut satisfied = Vec::new();
        // Build dependencies always resolve with `all` (reference §4.3).
        if self.settings.deps_mode != DepsMode::None {
            satisfied.extend(self.fulfil_list(&rock, &build_dependencies, DepsMode::All, true)?);
        }
        satisfied.extend(self.fulfil_list(&rock, &dependencies, self.settings.deps_mode, false)?);
        let force = self.settings.force;
        let installed = self
            .base
            .rocks
            .iter()
            .find(|r| r.id() == rock)
            // A rock whose item is gone (verify --repair removed it) is
            // built again, never "already installed".
            .filter(|r| self.item_present(&r.item))
            .map(|r| (r.item.clone(), r.explicit));
        let planned = self
            .steps
            .iter()
            .position(|s| s.in_profile && s.name == rockspec.name && s.version == version);
        if !force && (installed.is_some() || planned.is_some()) {
            self.note(format!(
                "{rock} is already installed in {}",
                self.settings.target.root.display()
            ));
            match (planned, installed) {
                (Some(i), _) => self.steps[i].explicit |= explicit,
                (None, Some((item, was_explicit))) if explicit && !was_explicit => {
                    for s in self.steps.iter_mut().filter(|s| s.name == rockspec.name) {
                        s.in_profile = false;
                    }
                    self.steps.push(Step {
                        name: rockspec.name.clone(),
                        version: version.clone(),
                        source: self.settings.target.root.display().to_string(),
                        namespace: self.namespaces.get(&rock).cloned(),
                        explicit: true,
                        action: Action::Installed(item),
                        dependencies: satisfied,
                        in_profile: true,
                        rockspec_dependencies: dependency_strings(&rockspec),
                        wrap_bin_scripts: self.wrap_bin_scripts(&rockspec),
                        build_from: None,
                    });
                }
                _ => {}
            }
            return Ok(());
        }
        if let Some(command) = &rockspec.post_install {
            self.hooks.push(PostInstall {
                rock: rock.clone(),
                command: command.clone(),
            });
        }
        let keep = self.settings.keep;
        for s in self
            .steps
            .iter_mut()
            .filter(|s| s.name == rockspec.name && (!keep || s.version == version))
        {
            s.in_profile = false;
        }
        let source_name = match &source {
            Source::Rockspec {
                origin: Origin::Server(url),
                ..
            } => url.clone(),
            Source::Local { dir, .. } => dir.display().to_string(),
            other => other.file().to_owned(),
        };
        let namespace = self.namespaces.get(&rock).cloned();
        self.steps.push(Step {
            name: rockspec.name.clone(),
            version,
            source: source_name,
            namespace,
            explicit,
            action: Action::Build,
            dependencies: satisfied,
            in_profile: true,
            rockspec_dependencies: dependency_strings(&rockspec),
            wrap_bin_scripts: self.wrap_bin_scripts(&rockspec),
            build_from: Some(source),
        });
        Ok(())
    }

    fn wrap_bin_scripts(&self, rockspec: &Rockspec) -> bool {
        self.settings
            .wrap_bin_scripts
            .or(rockspec.wrap_bin_scripts)
            .unwrap_or(true)
    }

    /// LuaRocks' `fulfill_dependencies`: each dependency in order is
    /// provided, installed in a consulted tree, or planned now (a pinned
    /// rock at its pinned version).
    fn fulfil_list(
        &mut self,
        rock: &RockId,
        dependencies: &[Dependency],
        mode: DepsMode,
        build: bool,
    ) -> Result<Vec<Satisfied>, InstallError> {
        let dependencies: Vec<Dependency> = dependencies
            .iter()
            .map(|dep| self.pinned(dep, build))
            .collect();
        let mut satisfied = Vec::new();
        if mode == DepsMode::None {
            return Ok(satisfied);
        }
        self.prefetch(&dependencies, mode)?;
        for dep in &dependencies {
            let provided = self
                .builder
                .env
                .rocks_provided
                .iter()
                .find(|(name, version)| *name == dep.name && dep.matches(&Version::parse(version)));
            if let Some((_, version)) = provided {
                satisfied.push(Satisfied {
                    dependency: dep.to_string(),
                    build,
                    by: By::Provided {
                        version: version.clone(),
                    },
                });
                continue;
            }
            if let Some(found) = self.installed_match(dep, mode) {
                satisfied.push(self.satisfied(dep, build, found));
                continue;
            }
            let offers = self.offers_in(dep.namespace.as_deref(), &dep.name, &dep.constraints)?;
            let offer =
                servers::best(&offers, &self.builder.env.arch, Want::Any).ok_or_else(|| {
                    InstallError::Unsatisfied {
                        rock: rock.clone(),
                        dependency: dep.to_string(),
                        source: Box::new(ServerError::NoMatch {
                            query: dep.to_string(),
                            lua_version: self.settings.target.lua_version.clone(),
                            also: String::new(),
                        }),
                    }
                })?;
            self.note(format!(
                "{rock} depends on {dep}: installing {}",
                offer.url()
            ));
            if let Some(ns) = &dep.namespace {
                self.namespaces
                    .insert(RockId::new(&offer.name, &offer.version), ns.clone());
            }
            let (spec, source) = self.obtain_url(&offer.url(), Origin::Server(offer.url()))?;
            self.plan_one(spec, source, false)?;
            match self.installed_match(dep, mode) {
                Some(found) => satisfied.push(self.satisfied(dep, build, found)),
                None => {
                    return Err(BuildError::Rockspec(format!(
                        "Repository inconsistency detected: {dep} is still missing after installing it (is the target tree among the trees deps mode consults?)"
                    ))
                    .into())
                }
            }
        }
        Ok(satisfied)
    }

    /// Fetches, all at once, the rockspecs the loop over `dependencies`
    /// is about to need one by one: those of the best offers for the
    /// dependencies nothing satisfies yet. A failure here is left for the
    /// loop to meet (and report) in LuaRocks' order.
    fn prefetch(
        &mut self,
        dependencies: &[Dependency],
        mode: DepsMode,
    ) -> Result<(), InstallError> {
        let mut urls = Vec::new();
        for dep in dependencies {
            let provided = self
                .builder
                .env
                .rocks_provided
                .iter()
                .any(|(name, version)| *name == dep.name && dep.matches(&Version::parse(version)));
            if provided || self.installed_match(dep, mode).is_some() {
                continue;
            }
            let offers = self.offers(&dep.name, &dep.constraints)?;
            if let Some(offer) = servers::best(&offers, &self.builder.env.arch, Want::Any) {
                let url = offer.url();
                if !self.prefetched.contains_key(&url) && !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
        if urls.len() < 2 {
            return Ok(());
        }
        let fetcher = self.builder.fetcher;
        let fetched: Vec<(String, Vec<u8>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = urls
                .chunks(urls.len().div_ceil(PREFETCH_CONNECTIONS))
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .filter_map(|url| {
                                let bytes = fetcher.fetch(url, Freshness::Immutable).ok()?;
                                Some((url.clone(), bytes))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        self.prefetched.extend(fetched);
        Ok(())
    }

    fn satisfied(&self, dep: &Dependency, build: bool, found: Found) -> Satisfied {
        let by = match found {
            Found::Step(step) => By::Step {
                step,
                version: self.steps[step].version.clone(),
            },
            Found::Installed(tree, version, item) => By::Tree {
                tree,
                version,
                item,
            },
        };
        Satisfied {
            dependency: dep.to_string(),
            build,
            by,
        }
    }

    /// The build and runtime dependencies to fulfil: a requested rock's
    /// are the lock file's pins when there is one (LuaRocks replaces the
    /// rockspec's list with them), else the rockspec's.
    fn dependency_lists(
        &mut self,
        rockspec: &Rockspec,
        requested: bool,
    ) -> (Vec<Dependency>, Vec<Dependency>) {
        match (self.pins, requested) {
            (Some(pins), true) => {
                self.note(format!(
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
    fn pinned(&mut self, dep: &Dependency, build: bool) -> Dependency {
        if let Some(version) = self.forced.get(&dep.name) {
            if let Ok(forced) = Dependency::parse(&format!("{} == {version}", dep.name)) {
                return forced;
            }
        }
        let Some(pin) = self.pins.and_then(|p| p.pin(&dep.name, build)) else {
            return dep.clone();
        };
        if pin.to_string() != dep.to_string() {
            if let Some(pinned) = pin.constraints.first() {
                self.note(format!(
                    "Forcing {} to pinned version {}",
                    dep.name, pinned.version
                ));
            }
        }
        pin.clone()
    }

    /// The highest version matching `dep` among the consulted trees, with
    /// this plan's steps standing for what they will put in the target.
    fn installed_match(&self, dep: &Dependency, mode: DepsMode) -> Option<Found> {
        let consulted = consulted_roots(self.settings, mode);
        let target = &self.settings.target.root;
        let mut best: Option<(Version, Found)> = None;
        let mut consider = |version: &str, found: Found| {
            let v = Version::parse(version);
            if dep.matches(&v) && best.as_ref().is_none_or(|(b, _)| b.sort_order(&v).is_lt()) {
                best = Some((v, found));
            }
        };
        if consulted.contains(target) {
            // The plan replaces what the target held.
            for (i, s) in self.steps.iter().enumerate() {
                if s.in_profile && s.name == dep.name {
                    consider(&s.version, Found::Step(i));
                }
            }
            for r in &self.base.rocks {
                let replaced = self.steps.iter().any(|s| s.in_profile && s.name == r.name)
                    && !self.settings.keep;
                if r.name == dep.name && !replaced && self.item_present(&r.item) {
                    consider(
                        &r.version,
                        Found::Installed(target.clone(), r.version.clone(), Some(r.item.clone())),
                    );
                }
            }
        }
        for other in self.others.iter().filter(|o| consulted.contains(&o.root)) {
            for (name, version, item) in &other.rocks {
                if *name == dep.name {
                    consider(
                        version,
                        Found::Installed(other.root.clone(), version.clone(), item.clone()),
                    );
                }
            }
        }
        best.map(|(_, found)| found)
    }
}

fn dependency_strings(rockspec: &Rockspec) -> Vec<String> {
    rockspec
        .dependencies
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The items of a step's runtime dependencies, in order (its recipe
/// uses them), given the items steps produced; `None` when a step's item
/// is not known.
pub(crate) fn dependency_items(step: &Step, items: &[Option<String>]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for dep in step.dependencies.iter().filter(|d| !d.build) {
        match &dep.by {
            By::Provided { .. } => {}
            By::Tree { item, .. } => out.extend(item.clone()),
            By::Step { step, .. } => out.push(items.get(*step)?.clone()?),
        }
    }
    Some(out)
}

/// The items other trees provide to a step (the profile references them,
/// so GC keeps them while the rock is here).
pub(crate) fn external_items(step: &Step, target: &Path) -> BTreeMap<String, String> {
    step.dependencies
        .iter()
        .filter(|d| !d.build)
        .filter_map(|d| match &d.by {
            By::Tree {
                tree,
                item: Some(item),
                ..
            } if tree != target => Some((dependency_name(&d.dependency), item.clone())),
            _ => None,
        })
        .collect()
}

fn dependency_name(dependency: &str) -> String {
    dependency
        .split_whitespace()
        .next()
        .unwrap_or(dependency)
        .to_owned()
}
