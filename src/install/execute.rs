//! Execution of an [`InstallPlan`]: every step whose dependencies are done
//! builds (or is reused) on one of `jobs` workers, so independent rocks
//! fetch and compile at once; each admitted item is in the store as soon
//! as its build ends. The first failure stops new work; builds already
//! running finish (their items stay in the store, unreferenced, for GC);
//! the tree is not touched here at all, so it stays on its generation.

use std::sync::{Condvar, Mutex};

use super::plan::{Action, InstallPlan, Step};
use super::resolve::dependency_items;
use super::InstallError;
use crate::backend::{BuildRequest, StoreBackend};
use crate::build::{BuildError, BuildWatch, Builder, Built};

/// What the executor tells its watcher, as it happens.
pub trait Progress: Sync {
    /// The plan about to run.
    fn planned(&self, _plan: &InstallPlan) {}
    /// A step starts on a worker.
    fn started(&self, _index: usize, _step: &Step) {}
    /// A step's item is ready.
    fn finished(&self, index: usize, step: &Step, built: &Built);
    /// A step failed (the install stops).
    fn failed(&self, _index: usize, _step: &Step, _error: &InstallError) {}
    /// A running step moved on (`compiling lpcode.c`).
    fn doing(&self, _index: usize, _step: &Step, _what: &str) {}
    /// A running step runs a command (`-v` prints it).
    fn command(&self, _index: usize, _step: &Step, _line: &str) {}
}

/// A watcher that also pushes each rock built (not reused or
/// substituted) to a binary cache, as soon as it is built, in the order
/// they finish (a rock after the dependencies it was built with).
pub struct Pushing<'p> {
    /// The watcher everything is forwarded to.
    pub inner: &'p dyn Progress,
    /// The cache's pusher.
    pub pusher: &'p crate::cache::push::Pusher,
}

impl Progress for Pushing<'_> {
    fn planned(&self, plan: &InstallPlan) {
        self.inner.planned(plan);
    }
    fn started(&self, index: usize, step: &Step) {
        self.inner.started(index, step);
    }
    fn finished(&self, index: usize, step: &Step, built: &Built) {
        if !built.reused {
            self.pusher.push(&built.item.name);
        }
        self.inner.finished(index, step, built);
    }
    fn failed(&self, index: usize, step: &Step, error: &InstallError) {
        self.inner.failed(index, step, error);
    }
    fn doing(&self, index: usize, step: &Step, what: &str) {
        self.inner.doing(index, step, what);
    }
    fn command(&self, index: usize, step: &Step, line: &str) {
        self.inner.command(index, step, line);
    }
}

/// Forwards one step's build news to the plan's watcher.
struct StepWatch<'w> {
    index: usize,
    step: &'w Step,
    progress: &'w dyn Progress,
}

impl BuildWatch for StepWatch<'_> {
    fn doing(&self, what: &str) {
        self.progress.doing(self.index, self.step, what);
    }

    fn command(&self, line: &str) {
        self.progress.command(self.index, self.step, line);
    }
}

enum State {
    Waiting,
    Running,
    Done(String),
    Failed,
}

struct Board {
    states: Vec<State>,
    error: Option<InstallError>,
    running: usize,
}

impl Board {
    fn items(&self) -> Vec<Option<String>> {
        self.states
            .iter()
            .map(|s| match s {
                State::Done(item) => Some(item.clone()),
                _ => None,
            })
            .collect()
    }

    /// The first waiting step whose dependencies are all done.
    fn next_ready(&self, plan: &InstallPlan) -> Option<usize> {
        plan.steps.iter().enumerate().find_map(|(i, step)| {
            let ready = matches!(self.states[i], State::Waiting)
                && step
                    .waits_for()
                    .all(|d| matches!(self.states.get(d), Some(State::Done(_))));
            ready.then_some(i)
        })
    }

    fn finished(&self) -> bool {
        self.states
            .iter()
            .all(|s| matches!(s, State::Done(_) | State::Failed))
    }
}

/// Runs the plan with up to `jobs` builds at once. Returns each step's item.
pub fn run(
    builder: &Builder<'_>,
    backend: &dyn StoreBackend,
    plan: &InstallPlan,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<Vec<String>, InstallError> {
    progress.planned(plan);
    let states = plan
        .steps
        .iter()
        .map(|s| match &s.action {
            Action::Installed(item) | Action::Pinned(item) => State::Done(item.clone()),
            _ => State::Waiting,
        })
        .collect();
    let board = Mutex::new(Board {
        states,
        error: None,
        running: 0,
    });
    let wake = Condvar::new();
    let buildable = plan
        .steps
        .iter()
        .filter(|s| !matches!(s.action, Action::Installed(_) | Action::Pinned(_)))
        .count();
    let workers = jobs.max(1).min(buildable);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| work(builder, backend, plan, &board, &wake, progress));
        }
    });
    let board = board.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(error) = board.error {
        return Err(error);
    }
    board
        .states
        .into_iter()
        .zip(&plan.steps)
        .map(|(state, step)| match state {
            State::Done(item) => Ok(item),
            _ => Err(BuildError::Rockspec(format!(
                "{} was never built: its dependencies did not finish",
                step.rock()
            ))
            .into()),
        })
        .collect()
}

/// One worker: takes ready steps until none is left or a step failed.
fn work(
    builder: &Builder<'_>,
    backend: &dyn StoreBackend,
    plan: &InstallPlan,
    board: &Mutex<Board>,
    wake: &Condvar,
    progress: &dyn Progress,
) {
    let lock = || board.lock().unwrap_or_else(|e| e.into_inner());
    let mut guard = lock();
    loop {
        if guard.error.is_some() || guard.finished() {
            break;
        }
        let Some(index) = guard.next_ready(plan) else {
            if guard.running == 0 {
                // Nothing runs and nothing is ready: the rest can never
                // start (cannot happen for a plan in install order).
                break;
            }
            guard = wake.wait(guard).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        guard.states[index] = State::Running;
        guard.running += 1;
        let items = guard.items();
        drop(guard);

        let step = &plan.steps[index];
        progress.started(index, step);
        let watch = StepWatch {
            index,
            step,
            progress,
        };
        let result = build_step(builder, backend, &watch, step, &items);
        builder.store.failpoint("executor-step-done");

        guard = lock();
        guard.running -= 1;
        match result {
            Ok(built) => {
                progress.finished(index, step, &built);
                guard.states[index] = State::Done(built.item.name.as_str().to_owned());
            }
            Err(error) => {
                progress.failed(index, step, &error);
                guard.states[index] = State::Failed;
                if guard.error.is_none() {
                    guard.error = Some(error);
                }
            }
        }
        wake.notify_all();
    }
    wake.notify_all();
}

fn build_step(
    builder: &Builder<'_>,
    backend: &dyn StoreBackend,
    watch: &dyn BuildWatch,
    step: &Step,
    items: &[Option<String>],
) -> Result<Built, InstallError> {
    let dependency_items = dependency_items(step, items).ok_or_else(|| {
        BuildError::Rockspec(format!(
            "{}: a dependency's item is missing from the plan",
            step.rock()
        ))
    })?;
    let source = step.build_from.as_ref().ok_or_else(|| {
        BuildError::Rockspec(format!("{}: the plan holds no source for it", step.rock()))
    })?;
    let request = BuildRequest {
        source,
        env: builder.env,
        dependency_items,
        substituters: builder.substituters,
    };
    Ok(backend.build(&request, builder.fetcher, Some(watch))?)
}
