//! Backtracking, for when LuaRocks' greedy choice fails: one version of
//! every rock such that each constraint of the request, of the rocks the
//! tree keeps, and of every chosen rock holds. PubGrub (the `pubgrub`
//! crate) searches; this module tells it what exists (the VM's rocks,
//! what the consulted trees hold, what the servers offer) and what each
//! version needs (read from the tree's profile, or from the rockspec).
//!
//! Preferences follow LuaRocks: an installed matching version first, then
//! the servers' newest. A failure is a derivation PubGrub writes out
//! ("Because btx 2.0-1 depends on btz >= 2 and …").

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;

use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics,
    PubGrubError, Reporter, VersionSet,
};

use crate::build::Builder;
use crate::fetch::Freshness;
use crate::rockspec::{Dependency, Version};
use crate::servers::{self, ServerManifest, Want};

/// A package of the problem.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pkg {
    /// What the user asked for.
    Request,
    /// The rocks a tree keeps (the ones asked for earlier, at their
    /// installed versions).
    Kept(PathBuf),
    /// A rock.
    Rock(String),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Request => f.write_str("the request"),
            Pkg::Kept(tree) => write!(f, "what {} keeps installed", tree.display()),
            Pkg::Rock(name) => f.write_str(name),
        }
    }
}

/// A version, ordered as LuaRocks orders them; `Virtual` is the one
/// version of the request and of a tree's kept rocks.
#[derive(Debug, Clone)]
pub enum Ver {
    /// Of a pseudo-package.
    Virtual,
    /// Of a rock.
    Rock(Version),
}

impl PartialEq for Ver {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ver {}

impl PartialOrd for Ver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ver {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Ver::Virtual, Ver::Virtual) => Ordering::Equal,
            (Ver::Virtual, Ver::Rock(_)) => Ordering::Less,
            (Ver::Rock(_), Ver::Virtual) => Ordering::Greater,
            (Ver::Rock(a), Ver::Rock(b)) => a.sort_order(b),
        }
    }
}

impl fmt::Display for Ver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ver::Virtual => Ok(()),
            Ver::Rock(v) => write!(f, "{v}"),
        }
    }
}

/// A set of versions over a finite universe (the versions that exist are
/// known), shown as the constraint it came from when it came from one.
#[derive(Debug, Clone)]
pub struct Set {
    versions: BTreeSet<Ver>,
    /// True: every version but `versions`.
    complement: bool,
    label: Option<String>,
}

impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        self.versions == other.versions && self.complement == other.complement
    }
}

impl Eq for Set {}

impl Set {
    fn of(versions: BTreeSet<Ver>, label: Option<String>) -> Set {
        Set {
            versions,
            complement: false,
            label,
        }
    }
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(label) = &self.label {
            return f.write_str(label);
        }
        let list = self
            .versions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        match (self.complement, list.as_slice()) {
            (true, []) => f.write_str("*"),
            (false, []) => f.write_str("(no version)"),
            (false, [one]) => f.write_str(one),
            (false, many) => write!(f, "{}", many.join(" or ")),
            (true, many) => write!(f, "other than {}", many.join(", ")),
        }
    }
}

impl VersionSet for Set {
    type V = Ver;

    fn empty() -> Self {
        Set::of(BTreeSet::new(), None)
    }

    fn singleton(v: Ver) -> Self {
        Set::of(BTreeSet::from([v]), None)
    }

    fn complement(&self) -> Self {
        Set {
            versions: self.versions.clone(),
            complement: !self.complement,
            label: None,
        }
    }

    fn intersection(&self, other: &Self) -> Self {
        let (versions, complement) = match (self.complement, other.complement) {
            (false, false) => (
                self.versions
                    .intersection(&other.versions)
                    .cloned()
                    .collect(),
                false,
            ),
            (false, true) => (
                self.versions.difference(&other.versions).cloned().collect(),
                false,
            ),
            (true, false) => (
                other.versions.difference(&self.versions).cloned().collect(),
                false,
            ),
            (true, true) => (
                self.versions.union(&other.versions).cloned().collect(),
                true,
            ),
        };
        Set {
            versions,
            complement,
            label: None,
        }
    }

    fn contains(&self, v: &Ver) -> bool {
        self.versions.contains(v) != self.complement
    }
}

/// A version that exists, where, and (when known without fetching) what
/// it needs.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The version.
    pub version: Version,
    /// Installed in a consulted tree (preferred, as LuaRocks prefers).
    pub installed: bool,
    /// Its dependencies, when known (installed rocks, the rockspec in
    /// hand); `None`: read its rockspec from the servers.
    pub dependencies: Option<Vec<Dependency>>,
}

/// What the solver is given.
pub struct Problem<'p> {
    /// Fetches rockspecs.
    pub builder: &'p Builder<'p>,
    /// The servers' manifests.
    pub manifests: &'p [ServerManifest],
    /// The request's own dependencies (each requested rock, with its
    /// constraint).
    pub request: Vec<Dependency>,
    /// Each tree's kept rocks, as `name == version` dependencies.
    pub kept: Vec<(PathBuf, Vec<Dependency>)>,
    /// Versions besides the servers': provided, installed, or in hand.
    /// A name listed with `only` has no other versions.
    pub known: BTreeMap<String, (Vec<Candidate>, bool)>,
}

/// Why solving failed.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// No solution: the derivation.
    #[error("{0}")]
    NoSolution(String),
    /// A rockspec could not be read.
    #[error("while looking for a solution: {0}")]
    Rockspec(String),
    /// A server's manifest index failed its checks while being read.
    #[error(transparent)]
    Index(#[from] servers::ServerError),
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.version)
    }
}

struct Provider<'p> {
    problem: &'p Problem<'p>,
    candidates: RefCell<HashMap<String, Vec<Candidate>>>,
    /// The first damaged manifest index met: PubGrub's `prioritize` has no
    /// error path, so the search's error waits here and [`solve`] returns
    /// it whatever PubGrub concluded without those offers.
    damaged: RefCell<Option<servers::ServerError>>,
}

/// Why a rockspec could not be read, for PubGrub's error type.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReadError(String);

impl Provider<'_> {
    /// Every file the servers offer of rock `name`, newest first.
    fn offers(&self, name: &str) -> Vec<servers::Offer> {
        servers::search(
            self.problem.manifests,
            &[],
            name,
            true,
            &[],
            &self.problem.builder.env.arch,
        )
        .unwrap_or_else(|e| {
            self.damaged.borrow_mut().get_or_insert(e);
            Vec::new()
        })
    }

    /// Every version of `name`, most preferred first.
    fn candidates(&self, name: &str) -> Vec<Candidate> {
        if let Some(c) = self.candidates.borrow().get(name) {
            return c.clone();
        }
        let (mut all, only) = self.problem.known.get(name).cloned().unwrap_or_default();
        if !only {
            for offer in self.offers(name) {
                let version = Version::parse(&offer.version);
                if !all.iter().any(|c| c.version.sort_order(&version).is_eq()) {
                    all.push(Candidate {
                        version,
                        installed: false,
                        dependencies: None,
                    });
                }
            }
        }
        all.sort_by(|a, b| {
            b.installed
                .cmp(&a.installed)
                .then_with(|| b.version.sort_order(&a.version))
        });
        self.candidates
            .borrow_mut()
            .insert(name.to_owned(), all.clone());
        all
    }

    fn set_of(&self, dep: &Dependency) -> Set {
        let versions = self
            .candidates(&dep.name)
            .into_iter()
            .filter(|c| dep.matches(&c.version))
            .map(|c| Ver::Rock(c.version))
            .collect();
        let written = dep.to_string();
        let label = written
            .strip_prefix(dep.name.as_str())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .unwrap_or_default();
        Set::of(versions, Some(label))
    }

    fn constraints(&self, deps: &[Dependency]) -> DependencyConstraints<Pkg, Set> {
        let mut out: DependencyConstraints<Pkg, Set> = Default::default();
        for dep in deps {
            let set = self.set_of(dep);
            let pkg = Pkg::Rock(dep.name.clone());
            let merged = match out.get(&pkg) {
                Some(existing) => existing.intersection(&set),
                None => set,
            };
            out.insert(pkg, merged);
        }
        out
    }

    /// A server version's dependencies, from its rockspec (or the one in
    /// its rock file).
    fn server_dependencies(
        &self,
        name: &str,
        version: &Version,
    ) -> Result<Vec<Dependency>, ReadError> {
        let same: Vec<_> = self
            .offers(name)
            .into_iter()
            .filter(|o| Version::parse(&o.version).sort_order(version).is_eq())
            .collect();
        let offer = servers::best(&same, &self.problem.builder.env.arch, Want::Any)
            .ok_or_else(|| ReadError(format!("no file of {name} {version} is usable here")))?;
        let url = offer.url();
        let builder = self.problem.builder;
        let bytes = builder
            .fetcher
            .fetch(&url, Freshness::Immutable)
            .map_err(|e| ReadError(e.to_string()))?;
        let file = url.rsplit('/').next().unwrap_or(&url).to_owned();
        let source = if file.ends_with(".rockspec") {
            super::Source::Rockspec {
                file,
                bytes,
                origin: crate::build::Origin::Server(url.clone()),
            }
        } else if file.ends_with(".src.rock") {
            super::Source::SrcRock { file, bytes }
        } else {
            super::Source::BinaryRock { file, bytes }
        };
        let rockspec = source
            .rockspec(builder)
            .map_err(|e| ReadError(e.to_string()))?;
        let mut deps = rockspec.build_dependencies.clone();
        deps.extend(rockspec.dependencies.iter().cloned());
        Ok(deps)
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Ver;
    type VS = Set;
    type M = String;
    type Priority = (u32, Reverse<usize>);
    type Err = ReadError;

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Set,
        conflicts: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let choices = match package {
            Pkg::Rock(name) => self
                .candidates(name)
                .iter()
                .filter(|c| range.contains(&Ver::Rock(c.version.clone())))
                .count(),
            _ => 0,
        };
        (conflicts.conflict_count(), Reverse(choices))
    }

    fn choose_version(&self, package: &Pkg, range: &Set) -> Result<Option<Ver>, ReadError> {
        Ok(match package {
            Pkg::Request | Pkg::Kept(_) => range.contains(&Ver::Virtual).then_some(Ver::Virtual),
            Pkg::Rock(name) => self
                .candidates(name)
                .into_iter()
                .map(|c| Ver::Rock(c.version))
                .find(|v| range.contains(v)),
        })
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Ver,
    ) -> Result<Dependencies<Pkg, Set, String>, ReadError> {
        let deps = match (package, version) {
            (Pkg::Request, _) => {
                let mut constraints = self.constraints(&self.problem.request);
                for (tree, _) in &self.problem.kept {
                    constraints.insert(Pkg::Kept(tree.clone()), Set::full());
                }
                return Ok(Dependencies::Available(constraints));
            }
            (Pkg::Kept(tree), _) => self
                .problem
                .kept
                .iter()
                .find(|(t, _)| t == tree)
                .map(|(_, d)| d.clone())
                .unwrap_or_default(),
            (Pkg::Rock(name), Ver::Rock(v)) => {
                let known = self
                    .candidates(name)
                    .into_iter()
                    .find(|c| c.version.sort_order(v).is_eq())
                    .and_then(|c| c.dependencies);
                match known {
                    Some(d) => d,
                    None => self.server_dependencies(name, v)?,
                }
            }
            (Pkg::Rock(_), Ver::Virtual) => Vec::new(),
        };
        Ok(Dependencies::Available(self.constraints(&deps)))
    }
}

/// A version for each rock, or why there is none.
pub fn solve(problem: &Problem<'_>) -> Result<BTreeMap<String, Version>, SolveError> {
    let provider = Provider {
        problem,
        candidates: RefCell::new(HashMap::new()),
        damaged: RefCell::new(None),
    };
    let resolved = pubgrub::resolve(&provider, Pkg::Request, Ver::Virtual);
    if let Some(damaged) = provider.damaged.take() {
        return Err(damaged.into());
    }
    match resolved {
        Ok(solution) => Ok(solution
            .into_iter()
            .filter_map(|(pkg, ver)| match (pkg, ver) {
                (Pkg::Rock(name), Ver::Rock(v)) => Some((name, v)),
                _ => None,
            })
            .collect()),
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            let text = pubgrub::DefaultStringReporter::report(&tree);
            Err(SolveError::NoSolution(tidy(&text)))
        }
        Err(PubGrubError::ErrorRetrievingDependencies {
            package,
            version,
            source,
        }) => Err(SolveError::Rockspec(format!(
            "{package} {version}: {source}"
        ))),
        Err(other) => Err(SolveError::Rockspec(other.to_string())),
    }
}

/// PubGrub's sentences with the pseudo-packages' empty versions gone.
fn tidy(text: &str) -> String {
    let mut out = text
        .replace("  ", " ")
        .replace(" ,", ",")
        .replace(" .", ".");
    while out.contains("  ") {
        out = out.replace("  ", " ");
    }
    out
}
