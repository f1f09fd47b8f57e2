//! `rockstore doctor [--fix]`: every link and item of the tree's current
//! generation (install::doctor), then the dependencies other trees
//! provide. `--fix` re-links what the tree lost, and rebuilds what the
//! store lost (or a store that is gone) into a new generation.

use rockstore::build::variables::Variables;
use rockstore::install::doctor::{self, LinkProblem};
use rockstore::install::Request;
use rockstore::tree::{binding, Tree};

use super::context::Context;
use super::report::ExitStatus;
use super::tree_cmd::{installer_for, DoctorArgs};

/// The store root the tree's generation lives in, when it is there.
fn store_root(cx: &Context, tree: &Tree) -> Option<std::path::PathBuf> {
    let root = match binding::read(&tree.root) {
        Some(b) => b.store,
        None => cx.open_store().ok()?.root().to_path_buf(),
    };
    root.join("store").is_dir().then_some(root)
}

pub fn doctor(args: DoctorArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let problems = doctor::check(&tree, store_root(cx, &tree).as_deref());
    for p in &problems {
        outln!("{}", p.describe(&tree.root));
    }
    if !problems.is_empty() {
        if !args.fix {
            errln!(
                "run `rockstore --tree {} doctor --fix` to mend it",
                tree.root.display()
            );
            return Ok(ExitStatus::Failure);
        }
        mend(cx, &tree, &problems)?;
        let left = doctor::check(&tree, store_root(cx, &tree).as_deref());
        for p in &left {
            outln!("still: {}", p.describe(&tree.root));
        }
        if !left.is_empty() {
            return Ok(ExitStatus::Failure);
        }
    }
    dependencies(args, cx)
}

/// Re-links the current generation when only links are missing; else
/// reinstalls the tree's rocks (the ones asked for, at their versions),
/// which builds every rock whose item is gone, into a new generation.
fn mend(cx: &Context, tree: &Tree, problems: &[LinkProblem]) -> anyhow::Result<()> {
    if problems.iter().all(LinkProblem::relinkable) {
        let lock = tree.lock_for_change()?;
        if let Some(n) = tree.current() {
            tree.switch(&lock, n)?;
            errln!("{}: re-linked generation {n}", tree.root.display());
        }
        return Ok(());
    }
    // A store that is gone is made again here, and only here.
    cx.may_recreate_store.set(true);
    let profile = tree.current_profile()?;
    let requests: Vec<Request> = profile
        .rocks
        .iter()
        .filter(|r| r.explicit)
        .map(|r| Request::Name(r.name.clone(), Some(r.version.clone())))
        .collect();
    let store = cx.store()?;
    let substituters = cx.substituters()?;
    let fetcher = cx.fetcher();
    let env = cx.build_env(Variables::new());
    let mut installer = installer_for(
        cx,
        &*store,
        substituters.as_ref(),
        &fetcher,
        &env,
        false,
        false,
    )?;
    let outcome = installer.install(&requests, false)?;
    match outcome.generation {
        Some(n) => errln!(
            "{}: rebuilt what was missing into generation {n}",
            tree.root.display()
        ),
        None => errln!("{}: nothing could be rebuilt", tree.root.display()),
    }
    Ok(())
}

/// Rocks whose dependency another tree provided and no longer does.
fn dependencies(args: DoctorArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let store = cx.store()?;
    let fetcher = cx.fetcher();
    let env = cx.build_env(Variables::new());
    let mut installer = installer_for(cx, &*store, None, &fetcher, &env, false, false)?;
    let root = installer.settings.target.root.clone();
    let findings = installer.doctor(args.fix)?;
    if findings.is_empty() {
        errln!(
            "{}: every link is in place and every dependency is satisfied",
            root.display()
        );
        return Ok(ExitStatus::Success);
    }
    for f in &findings {
        outln!(
            "{}: {} needs {}, which another tree provided (item {}) and no longer does; {}",
            root.display(),
            f.rock,
            f.dependency,
            f.item,
            match (f.kept, args.fix) {
                (true, true) => "linked it into this tree",
                (true, false) =>
                    "the store kept the item: `rockstore doctor --fix` links it into this tree",
                (false, _) => "the item is gone too: reinstall the rock",
            }
        );
    }
    let unfixed = findings.iter().any(|f| !f.kept || !args.fix);
    Ok(if unfixed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
