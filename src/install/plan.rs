//! The install plan: what the resolver decided, before anything is built.
//! Each step is one rock to build, reuse or mark, with the dependencies it
//! waits for; each dependency says what satisfies it (the VM, a tree under
//! the deps mode, or another step). `--dry-run` prints it; the executor
//! runs it; the new generation is made from its steps' items.

use std::path::PathBuf;

use serde::Serialize;

use super::DepsMode;
use crate::build::Source;
use crate::rock_id::RockId;

/// What a resolution decided, in LuaRocks' install order (every step after
/// the steps it needs).
#[derive(Serialize)]
pub struct InstallPlan {
    /// The tree the install changes.
    pub tree: PathBuf,
    /// The deps mode it resolved under.
    #[serde(serialize_with = "deps_mode_name")]
    pub deps_mode: DepsMode,
    /// The rocks asked for, as `name version`.
    pub requested: Vec<RockId>,
    /// The rocks to build, reuse or mark, dependencies first.
    pub steps: Vec<Step>,
    /// Said while resolving (choices, pins), for `--dry-run`'s reader.
    pub notes: Vec<String>,
    #[serde(skip)]
    pub(crate) hooks: Vec<PostInstall>,
    /// `--only-deps`: how the requested rocks' own dependencies were met
    /// (no step carries them), for `--pin`'s lock.
    #[serde(skip)]
    pub(crate) only_deps_of_requested: Vec<Satisfied>,
}

/// One rock of the plan.
#[derive(Serialize)]
pub struct Step {
    /// Its name.
    pub name: String,
    /// Its version (`1.0-1`).
    pub version: String,
    /// Where its rockspec or rock file came from.
    pub source: String,
    /// The rocks server namespace it came from (`user/rock`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Asked for by the user (not only a dependency).
    pub explicit: bool,
    /// What the executor does with it.
    pub action: Action,
    /// Its dependencies and build dependencies, each with what satisfies it.
    pub dependencies: Vec<Satisfied>,
    /// False when a later step replaced it (another version of the same
    /// rock): it is still built, since a step before the replacement used
    /// it, but the new generation does not hold it.
    pub in_profile: bool,
    /// The rockspec's `dependencies` as written, for the profile.
    #[serde(skip)]
    pub(crate) rockspec_dependencies: Vec<String>,
    /// Whether its bin scripts get wrappers.
    #[serde(skip)]
    pub(crate) wrap_bin_scripts: bool,
    #[serde(skip)]
    pub(crate) build_from: Option<Source>,
}

/// What happens to a step's rock.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind", content = "item")]
pub enum Action {
    /// Built from its sources (or admitted, for a binary rock).
    Build,
    /// An existing realisation gives its item: nothing is fetched or built.
    /// Only known when the plan was checked against the store.
    Reuse(String),
    /// Already in the target tree at this version: linked as it is (and
    /// marked as asked for, when it now is).
    Installed(String),
    /// The project's `luarocks.lock` names its item by content hash, and
    /// the store has it (or a substituter's blob of that hash gave it):
    /// nothing is built and no realisation is asked for.
    Pinned(String),
    /// A binary cache has a trusted build of it: downloaded, not built.
    Substitute {
        /// The cache.
        from: String,
        /// The item.
        item: String,
        /// Bytes to download.
        size: u64,
    },
}

/// A dependency and what satisfies it.
#[derive(Serialize, Debug, Clone)]
pub struct Satisfied {
    /// As the rockspec (or lock file) writes it.
    pub dependency: String,
    /// A build dependency (resolved under deps mode `all`).
    pub build: bool,
    /// What satisfies it.
    pub by: By,
}

/// What satisfies a dependency.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum By {
    /// The Lua VM or `rocks_provided`.
    Provided {
        /// The provided version.
        version: String,
    },
    /// A rock already installed in a tree the deps mode consults.
    Tree {
        /// The tree.
        tree: PathBuf,
        /// The installed version.
        version: String,
        /// Its item (none in a plain LuaRocks tree).
        item: Option<String>,
    },
    /// A step of this plan.
    Step {
        /// Its index in `steps`.
        step: usize,
        /// Its version.
        version: String,
    },
}

/// A rock's `hooks.post_install`, run once the generation holding the
/// rock is current (LuaRocks runs it after deploying).
#[derive(Debug, Clone)]
pub(crate) struct PostInstall {
    pub rock: RockId,
    pub command: String,
}

fn deps_mode_name<S: serde::Serializer>(mode: &DepsMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.name())
}

impl Step {
    /// The steps this one waits for: those whose items its recipe uses and
    /// its build dependencies.
    pub fn waits_for(&self) -> impl Iterator<Item = usize> + '_ {
        self.dependencies.iter().filter_map(|d| match d.by {
            By::Step { step, .. } => Some(step),
            _ => None,
        })
    }

    /// Which rock it builds.
    pub fn rock(&self) -> RockId {
        RockId::new(&self.name, &self.version)
    }
}

impl InstallPlan {
    /// The plan as the user reads it: one line per step, then each
    /// dependency and what satisfies it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let tree = self.tree.display();
        let builds = self
            .steps
            .iter()
            .filter(|s| s.action == Action::Build)
            .count();
        let reuses = self
            .steps
            .iter()
            .filter(|s| matches!(s.action, Action::Reuse(_)))
            .count();
        let substitutes = self
            .steps
            .iter()
            .filter(|s| matches!(s.action, Action::Substitute { .. }))
            .count();
        let substituted = if substitutes > 0 {
            format!(", {substitutes} to substitute")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "Plan for {tree} (deps mode {}): {builds} to build, {reuses} to reuse{substituted}\n",
            self.deps_mode.name()
        ));
        if self.steps.is_empty() {
            out.push_str("  nothing to install\n");
        }
        for (i, step) in self.steps.iter().enumerate() {
            let what = match &step.action {
                Action::Build => format!("build      from {}", step.source),
                Action::Reuse(item) => format!("reuse      {item}"),
                Action::Installed(item) => format!("installed  {item}"),
                Action::Pinned(item) => format!("pinned     {item}"),
                Action::Substitute { from, size, .. } => {
                    format!("substitute from {from} ({} KiB)", size.div_ceil(1024))
                }
            };
            let dropped = if step.in_profile {
                ""
            } else {
                " (replaced by a later step)"
            };
            out.push_str(&format!(
                "  {:>2}. {} {what}{dropped}\n",
                i + 1,
                step.rock()
            ));
            for dep in &step.dependencies {
                let kind = if dep.build {
                    "build dependency"
                } else {
                    "needs"
                };
                let by = match &dep.by {
                    By::Provided { version } => format!("provided ({version})"),
                    By::Tree { tree, version, .. } => {
                        format!("{version} installed in {}", tree.display())
                    }
                    By::Step { step, version } => format!("{version} (step {})", step + 1),
                };
                out.push_str(&format!("        {kind} {}: {by}\n", dep.dependency));
            }
        }
        out
    }
}
