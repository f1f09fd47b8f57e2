//! `install` and `remove` on a tree: LuaRocks' dependency resolution under
//! a deps mode over `rocks_trees`, as a plan that is then executed, then
//! one new generation switched atomically.
//!
//! - [`resolve`]: the resolver (greedy, as LuaRocks), giving an
//!   [`InstallPlan`] without building anything.
//! - `consulted`: the trees the deps mode consults and their rocks.
//! - [`plan`]: the plan's steps and what satisfies each dependency.
//! - [`execute`]: runs a plan's builds, in parallel where they are
//!   independent.
//! - [`source`]: a rock without its docs (`--no-doc`).
//! - [`solve`]: PubGrub, asked when the greedy plan leaves a rock with two
//!   versions or a dependency unmet.
//! - `compose`: the new generation's rocks from the tree's and the plan's,
//!   and the test of a greedy plan.
//! - `planning`: the installer's choice of a plan: greedy, then the
//!   solver when the greedy plan splits; the store-checked plan of
//!   `--dry-run`.
//! - `prefetch`: pinned items and substitutes found before any build.
//! - `run`: an install from requests to the switched generation.
//! - `hooks`: `post_install` hooks and the switch back when one fails.
//! - `switch`: the tree lock (adopting first) and switching to a new
//!   generation.
//! - `removal`: `remove`, `purge`, `purge --old-versions`.
//! - [`doctor`]: what `doctor` checks and fixes in a tree.
//! - `pins`: `--pin`'s versions and `luarocks.lock`'s text.
//!
//! While an install runs it holds the shared store lock from its first
//! build to its switch (the backend's hold: on a daemon store, a
//! connection the daemon keeps), so a GC (which takes the exclusive lock) can never sweep
//! an item the install admitted but has not yet linked.

mod compose;
mod consulted;
pub mod doctor;
pub mod execute;
mod hooks;
mod pins;
pub mod plan;
mod plan_cache;
mod planning;
mod prefetch;
mod removal;
pub mod resolve;
mod run;
pub mod solve;
pub mod source;
mod switch;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::backend::StoreBackend;
pub use crate::build::Source;
use crate::build::{BuildError, Builder};
use crate::lockfile::Lockfile;
use crate::reporter::Reporter;
use crate::rock_id::RockId;
use crate::servers::ServerError;
use crate::store::StoreError;
use crate::tree::profile::ProfileError;
use crate::tree::{Tree, TreeError};
pub use consulted::ConsultedTree;
pub use doctor::Finding;
pub use execute::Progress;
pub use pins::lock_text;
pub use plan::{Action, By, InstallPlan, Satisfied, Step};
pub use plan_cache::{PlanRecord, RecordedRock};
pub use run::finished_line;

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
    OtherTree(consulted::UnreadableTree),
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
        rock: RockId,
        /// The dependency as written.
        dependency: String,
        /// Why (boxed: the rock and dependency beside it make the variant
        /// the largest of the enum otherwise).
        #[source]
        source: Box<ServerError>,
    },
    /// The rockspec says it does not run here.
    #[error("{rock} does not support this platform (supported_platforms: {})", platforms.join(", "))]
    Platform {
        /// The rock.
        rock: RockId,
        /// What it supports.
        platforms: Vec<String>,
    },
    /// Removing would break dependents.
    #[error("Will not remove {}. Removing it would break dependencies for:\n{}\nUse --force to force removal (warning: this may break modules).", rocks.iter().map(RockId::to_string).collect::<Vec<_>>().join(", "), dependents.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Dependents {
        /// The rocks being removed.
        rocks: Vec<RockId>,
        /// Each rock that needs one of them.
        dependents: Vec<RockId>,
    },
    /// `hooks_enabled = false` and the rock has a hook.
    #[error("{rock}: this rockspec contains hooks, which are blocked by the 'hooks_enabled' setting in your LuaRocks configuration.")]
    HooksBlocked {
        /// The rock.
        rock: RockId,
    },
    /// A `post_install` hook failed; the install was undone.
    #[error("Failed running post_install hook of {rock}: `{command}` {status}. The install was undone: {tree} is back at generation {restored}.", tree = tree.display())]
    Hook {
        /// The rock (boxed: the variant would be the largest of the enum).
        rock: Box<RockId>,
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
/// One install or removal run.
pub struct Installer<'a> {
    /// Reads the store, loads rockspecs and computes what a build would
    /// reuse.
    pub builder: Builder<'a>,
    /// Writes the store: builds, profiles, roots.
    pub backend: &'a dyn StoreBackend,
    /// What it works on, and how.
    pub settings: Settings,
    /// Hears what the run tells the user as it goes: LuaRocks' status
    /// lines, its warnings, rockstore's notices.
    pub reporter: &'a dyn Reporter,
    /// `luarocks.lock` of the sources `make` builds: the requested rock's
    /// dependencies are exactly these, and they win over other rocks'.
    pub pins: Option<Lockfile>,
}

/// What an install did.
#[derive(Debug)]
pub struct Outcome {
    /// The new generation (none when nothing changed).
    pub generation: Option<u64>,
    /// Every rock asked for, newly built or reused.
    pub installed: Vec<RockId>,
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
    /// Which rock.
    pub rock: RockId,
    /// `description.license` of its rockspec.
    pub license: Option<String>,
}

impl<'a> Installer<'a> {
    /// Prepares an install into `target`.
    pub fn new(
        builder: Builder<'a>,
        backend: &'a dyn StoreBackend,
        settings: Settings,
        reporter: &'a dyn Reporter,
    ) -> Installer<'a> {
        Installer {
            builder,
            backend,
            settings,
            reporter,
            pins: None,
        }
    }
}

impl Installer<'_> {
    /// A status line, in LuaRocks' words (`Removing foo 1.0-1...`).
    fn status(&self, line: &str) {
        self.reporter.report(crate::reporter::Event::Status(line));
    }

    /// A notice of rockstore's own (the text without `warning: `).
    fn notice(&self, line: &str) {
        self.reporter.report(crate::reporter::Event::Notice(line));
    }
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
