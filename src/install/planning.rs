//! Choosing what an install does, before anything is built: LuaRocks'
//! greedy resolution over the target tree and the trees the deps mode
//! consults; when it leaves a rock with two versions or a dependency
//! unmet, the PubGrub solver's choice (said why) or the derivation of
//! why there is none; and the plan checked against the store that
//! `--dry-run` shows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::consulted::{self, ConsultedTree};
use super::resolve::{self, Resolver};
use super::{compose, solve, version_constraints, DepsMode, InstallError, Installer, Request};
use super::{Action, InstallPlan};
use crate::build::BuildError;
use crate::reporter::{Event, Held};
use crate::rockspec::{Dependency, Version};
use crate::tree::Profile;

impl<'a> Installer<'a> {
    /// The installed rocks of every configured tree but the target.
    /// The other trees of `rocks_trees`. One whose rocks cannot be read
    /// is an error when `needed` counts it (the deps mode consults it, or
    /// `doctor` asks what it still provides); otherwise it costs one
    /// warning and is taken as empty, so a broken tree never stops
    /// commands about the others.
    pub(super) fn read_other_trees(
        &self,
        needed: &[PathBuf],
    ) -> Result<Vec<ConsultedTree>, InstallError> {
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
                    self.reporter.report(Event::Warning(&format!(
                        "cannot read the rocks installed in {}: {}",
                        e.path.display(),
                        e.reason
                    )));
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
    pub(super) fn resolve(
        &self,
        base: &Profile,
        requests: &[Request],
        only_deps: bool,
    ) -> Result<InstallPlan, InstallError> {
        let consulted = consulted::consulted_roots(&self.settings, self.settings.deps_mode);
        let others = self.read_other_trees(&consulted)?;
        let consulted_others: Vec<&ConsultedTree> = others
            .iter()
            .filter(|o| consulted.contains(&o.root))
            .collect();
        // The greedy pass says nothing until it is known to stand.
        let held = Held::default();
        let mut greedy = Resolver::new(&self.builder, &self.settings, &held, base, &others);
        greedy.pins = self.pins.as_ref();
        let plan = greedy.resolve(requests, only_deps);
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
            held.replay(self.reporter);
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
            solve::SolveError::Index(e) => InstallError::Server(e),
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
            self.status(line);
        }
        let provided = &self.builder.env.rocks_provided;
        let mut solved = Resolver::new(&self.builder, &self.settings, self.reporter, base, &others);
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
    pub(super) fn splits(
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
    pub(super) fn problem_request(
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
            deps.push(Dependency::exactly(&step.rock()));
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
    pub(super) fn problem<'p>(
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
            .map(|r| Dependency::exactly(&r.id()))
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

    /// The tree's rocks a plan starts from: the current generation's, or,
    /// when the tree would be adopted first, what adopting it would make
    /// (saying so); refused as [`Tree::check_usable`] under the explicit
    /// policy.
    pub(super) fn planned_base(&self) -> Result<Profile, InstallError> {
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
                    self.notice(&warning);
                }
                self.status(&touch.line(&target.root, true));
                Ok(profile)
            }
        }
    }
}
