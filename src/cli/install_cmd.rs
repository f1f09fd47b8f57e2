//! `install` and `make`: a rock (or the working directory's rockspec)
//! and its dependencies into a tree, as a new generation.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::install::{Installer, Request};

use super::progress::{Level, Watcher};
use rockstore::tree::Tree;

use super::context::Context;
use super::flags::split_args;
use super::report::ExitStatus;
use super::tree_cmd::{installer_for, undo_hint};

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// A rock name (then an optional version), or a .rockspec, .src.rock or
    /// .rock file or URL; then any `VAR=VALUE` build variables.
    #[arg(required = true, value_name = "ROCK [VERSION] [VAR=VALUE]...")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub flags: InstallFlags,
    /// Write a `luarocks.lock` into the rock's directory naming the version
    /// of each dependency found (recursively), as `luarocks install --pin`;
    /// any `luarocks.lock` in the rock's sources is ignored.
    #[arg(long)]
    pub pin: bool,
}

// (Not a doc comment: clap would take it for the subcommand's about text
// once the subcommand's arguments are built deferred; see cli::Command.)
// The flags `install` and `build` share.
#[derive(Debug, Args, Clone, Default)]
pub struct InstallFlags {
    /// The rocks server namespace to look the rock up in (as `NS/ROCK`):
    /// each server's `manifests/NS/`.
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Keep other versions of the rock installed (default: replace them, as LuaRocks).
    #[arg(long)]
    pub keep: bool,
    /// Reinstall even if this version is already installed.
    #[arg(long)]
    pub force: bool,
    /// Like --force, but other versions are removed without reporting the
    /// rocks that needed them.
    #[arg(long)]
    pub force_fast: bool,
    /// Install only the rock's dependencies.
    #[arg(long, visible_alias = "deps-only")]
    pub only_deps: bool,
    #[command(flatten)]
    pub run: RunFlags,
}

// (Not a doc comment: clap would take it for the subcommand's about text
// once the subcommand's arguments are built deferred; see cli::Command.)
// How an install runs: planned only, or with how many builds at once.
#[derive(Debug, Args, Clone, Default)]
pub struct RunFlags {
    /// Print the plan (every rock, its version and source, build or reuse,
    /// and what satisfies each dependency) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: the plan as JSON on stdout.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// Builds run at once (default: the number of cores).
    #[arg(short = 'j', long = "jobs", visible_alias = "max-jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Say only warnings, errors and the result (wins over --verbose).
    #[arg(short, long)]
    pub quiet: bool,
    /// Plain lines even on a terminal (no bars).
    #[arg(long)]
    pub no_progress: bool,
    /// Install the rock (not its dependencies) without its documentation
    /// (its `doc/` and `docs/`), as LuaRocks.
    #[arg(long)]
    pub no_doc: bool,
    /// Accepted for LuaRocks' compatibility: a generation always carries
    /// its tree manifest (it is what `luarocks list` reads).
    #[arg(long)]
    pub no_manifest: bool,
    /// Check the gpg signature (`FILE.asc`, beside it on the server or on
    /// disk) of every rock and rockspec fetched, the dependencies' too,
    /// as LuaRocks: a missing or bad one stops the install. The signers'
    /// keys must be in your gpg keyring.
    #[arg(long)]
    pub verify: bool,
    /// If the rock can't be found, check the servers and report whether it
    /// is available for another Lua version.
    #[arg(long)]
    pub check_lua_versions: bool,
    /// Override the rockspecs' `source.branch`: fetch another branch of an
    /// SCM source (for `dev`/`scm` rocks), as LuaRocks.
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
}

#[derive(Debug, Args)]
pub struct MakeArgs {
    /// The rockspec (default: the one *.rockspec in the current directory),
    /// then any `VAR=VALUE` build variables.
    #[arg(value_name = "[ROCKSPEC] [VAR=VALUE]...")]
    pub args: Vec<String>,
    /// Keep other versions of the rock installed.
    #[arg(long)]
    pub keep: bool,
    /// Accepted for LuaRocks' compatibility: `make` always reinstalls.
    #[arg(long)]
    pub force: bool,
    /// Accepted for LuaRocks' compatibility, as --force.
    #[arg(long)]
    pub force_fast: bool,
    /// Install only the rockspec's dependencies.
    #[arg(long, visible_alias = "deps-only")]
    pub only_deps: bool,
    /// Only build the rock into the store and print its item's path; do not
    /// install it into a tree.
    #[arg(long, conflicts_with = "pack_binary_rock")]
    pub no_install: bool,
    /// Do not install the rock: build it from this directory and write a
    /// binary rock into it, as LuaRocks.
    #[arg(long)]
    pub pack_binary_rock: bool,
    /// With --pack-binary-rock: also sign the rock with gpg
    /// (`<rock>.asc`, `gpg --armor --detach-sign`), as LuaRocks.
    #[arg(long)]
    pub sign: bool,
    /// Write the exact versions of every dependency used into
    /// `./luarocks.lock` (which later `make`s then install), as LuaRocks.
    #[arg(long)]
    pub pin: bool,
    /// With --pin (implied): also record each dependency's item by content
    /// hash in `luarocks.lock` (`rockstore_items`, which LuaRocks ignores);
    /// a later `make` beside the lock takes exactly those builds from the
    /// store or any substituter's blob, signed or not.
    #[arg(long)]
    pub pin_items: bool,
    #[command(flatten)]
    pub run: RunFlags,
}

/// `rockstore install`.
pub fn install(args: InstallArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let pin = args.pin;
    install_from(args, cx, false, pin)
}

/// `install`, or with `from_source` `build` (a rock named on the servers
/// is built from its rockspec or `.src.rock`, as `luarocks build`).
pub fn install_from(
    args: InstallArgs,
    cx: &Context,
    from_source: bool,
    pin: bool,
) -> anyhow::Result<ExitStatus> {
    let (positional, overrides) = split_args(args.args)?;
    let namespace = args.flags.namespace.clone();
    let named = |name: &str, version: Option<String>| {
        let name = match &namespace {
            Some(ns) if !name.contains('/') => format!("{ns}/{name}"),
            _ => name.to_owned(),
        }
        .to_lowercase();
        if from_source {
            Request::Source(name, version)
        } else {
            Request::Name(name, version)
        }
    };
    let request = match positional.as_slice() {
        [t] if t.ends_with(".rockspec") || t.ends_with(".rock") => Request::File(t.clone()),
        [t] => named(t, None),
        [t, v] => named(t, Some(v.clone())),
        _ => bail!("expected ROCK [VERSION], got {}", positional.join(" ")),
    };
    if let Request::File(f) = &request {
        rockstore::build::rock_file::check_arch(f, &rockstore::build::BuildEnv::host_arch())?;
    }
    // The tree's store binding is checked before a store is opened
    // (and made): another store named for this tree is refused first.
    cx.target()?;
    let store = cx.store()?;
    let substituters = cx.substituters()?;
    let fetcher = cx.fetcher().verifying(args.flags.run.verify);
    let mut env = cx.build_env(overrides);
    env.branch = args.flags.run.branch.clone();
    let keep = args.flags.keep || cx.config.keep_other_versions;
    let force = args.flags.force || args.flags.force_fast;
    let mut installer = installer_for(
        cx,
        &*store,
        substituters.as_ref(),
        &fetcher,
        &env,
        keep,
        force,
    )?;
    installer.settings.pin = pin;
    // `--pin --only-deps`: no rock directory to put the lock in; LuaRocks
    // leaves it in the current directory.
    let pin_into = if pin && args.flags.only_deps {
        Some(std::env::current_dir().context("current directory")?)
    } else {
        None
    };
    let done = run_install(
        cx,
        &mut installer,
        &[request],
        args.flags.only_deps,
        args.flags.run,
        pin_into.as_deref(),
    );
    if from_source {
        return done.map_err(super::build_cmd::could_not_find);
    }
    done
}

/// Plans (`--dry-run`: prints the plan and stops) or installs.
pub(super) fn run_install(
    cx: &Context,
    installer: &mut Installer<'_>,
    requests: &[Request],
    only_deps: bool,
    run: RunFlags,
    pin_into: Option<&std::path::Path>,
) -> anyhow::Result<ExitStatus> {
    if let Some(jobs) = run.jobs {
        installer.settings.jobs = jobs as usize;
    }
    installer.settings.no_doc = run.no_doc;
    installer.settings.check_lua_versions = run.check_lua_versions;
    if run.dry_run {
        if run.json {
            installer.reporter = &super::output::Aside;
        }
        let plan = installer.plan(requests, only_deps)?;
        if run.json {
            outln!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            outln!("{}", plan.render().trim_end());
        }
        return Ok(ExitStatus::Success);
    }
    let level = if run.quiet {
        Level::Quiet
    } else if super::output::verbose() {
        Level::Verbose
    } else {
        Level::Normal
    };
    if run.quiet {
        installer.reporter = &super::output::Quieted;
    }
    let tree = installer.settings.target.clone();
    let watcher = Watcher::new(level, run.no_progress);
    let pusher = cx.pusher(installer.backend)?;
    let outcome = match &pusher {
        Some(pusher) => {
            let pushing = rockstore::install::execute::Pushing {
                inner: &watcher,
                pusher,
            };
            installer.install_watched(requests, only_deps, &pushing)
        }
        None => installer.install_watched(requests, only_deps, &watcher),
    };
    watcher.finish();
    let pushed = pusher.is_some();
    super::cache_cmd::finish_push(pusher)?;
    let outcome = outcome?;
    if let (true, Some(record)) = (pushed, &outcome.plan) {
        cx.push_plan_document(record)?;
    }
    if let Some(dir) = pin_into {
        let file = dir.join("luarocks.lock");
        std::fs::write(&file, rockstore::install::lock_text(&outcome.pins))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    report_install(cx, &tree, &outcome);
    let placed = tree.placed();
    if placed.copied_instead_of_linked > 0 {
        errln!(
            "{} file(s) were copied instead of hard-linked: this process may write the store's files, so a hard link would let an edit through the tree reach every tree using them",
            placed.copied_instead_of_linked
        );
    }
    Ok(ExitStatus::Success)
}

/// LuaRocks' line for each rock added (or, forced, installed again), on
/// stdout, as scripts read it; the generation it made, ours, on stderr.
pub(super) fn report_install(cx: &Context, tree: &Tree, outcome: &rockstore::install::Outcome) {
    for added in &outcome.added {
        let license = added
            .license
            .as_ref()
            .map(|l| format!(" (license: {l})"))
            .unwrap_or_default();
        outln!(
            "{} is now installed in {}{license}",
            added.rock,
            tree.root.display()
        );
        outln!();
    }
    match outcome.generation {
        Some(n) => errln!("{}", undo_hint(cx, tree, n)),
        None if outcome.added.is_empty() => outln!("nothing changed in {}", tree.root.display()),
        None => errln!(
            "(the same build as before: nothing changed in {})",
            tree.root.display()
        ),
    }
}

/// `rockstore make`: build the rockspec with the current directory as its
/// sources (as `luarocks make`) and install it.
/// The one rockspec in `dir`, as LuaRocks' `get_default_rockspec`
/// finds it for `command`.
pub(super) fn rockspec_here(dir: &std::path::Path, command: &str) -> anyhow::Result<PathBuf> {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rockspec"))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no .rockspec in {}: name one (rockstore {command} foo-1.0-1.rockspec)",
            dir.display()
        ),
        _ => bail!(
            "several .rockspec files in {}: name the one to use",
            dir.display()
        ),
    }
}

pub fn make(args: MakeArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let (positional, overrides) = split_args(args.args)?;
    let cwd = std::env::current_dir().context("current directory")?;
    let rockspec = match positional.as_slice() {
        [r] => PathBuf::from(r),
        [] => rockspec_here(&cwd, "make")?,
        _ => bail!(
            "expected at most one rockspec, got {}",
            positional.join(" ")
        ),
    };
    let dir = rockspec
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| cwd.clone(), PathBuf::from);
    // The tree's store binding is checked before a store is opened
    // (and made): another store named for this tree is refused first.
    cx.target()?;
    let store = cx.store()?;
    let substituters = cx.substituters()?;
    let fetcher = cx.fetcher().verifying(args.run.verify);
    let mut env = cx.build_env(overrides);
    env.branch = args.run.branch.clone();
    let keep = args.keep || cx.config.keep_other_versions;
    if args.sign && !args.pack_binary_rock {
        bail!("In the make command, --sign is meant to be used only with --pack-binary-rock");
    }
    if args.pack_binary_rock || args.no_install {
        let file = rockspec
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let source = rockstore::install::Source::Local {
            bytes: rockstore::lua::read_source(
                &rockspec,
                rockstore::lua::Limits::SMALL_FILE.source_bytes,
            )
            .with_context(|| format!("cannot read {}", rockspec.display()))?,
            hash: rockstore::build::source::tree_hash(&dir)?,
            dir: dir.clone(),
            file,
        };
        let request = rockstore::backend::BuildRequest {
            source: &source,
            env: &env,
            dependency_items: Vec::new(),
            substituters: substituters.as_ref(),
        };
        let built = store.build(&request, &fetcher, None)?;
        if !built.reused {
            if let Some(pusher) = cx.pusher(&*store)? {
                pusher.push(&built.item.name);
                super::cache_cmd::finish_push(Some(pusher))?;
            }
        }
        let record = &built.item.record;
        if args.no_install {
            outln!("{} {} built", record.name, record.version);
            outln!("{}", built.item.path.display());
            return Ok(ExitStatus::Success);
        }
        let out = rockstore::build::rock_file::pack(
            &built.item.path,
            &record.name,
            &record.version,
            &rockstore::build::BuildEnv::host_arch(),
            &cwd,
        )
        .with_context(|| format!("cannot write the rock for {}", built.item.name.as_str()))?;
        outln!("Packed: {}", out.display());
        if args.sign {
            super::pack_cmd::sign(&out, &env)?;
        }
        return Ok(ExitStatus::Success);
    }
    let mut installer = installer_for(
        cx,
        &*store,
        substituters.as_ref(),
        &fetcher,
        &env,
        keep,
        true,
    )?;
    let pin = args.pin || args.pin_items;
    // `--pin` writes the lock anew from what it resolves: an existing one
    // is not obeyed (LuaRocks starts a new lock table before it reads any).
    installer.pins = if pin {
        None
    } else {
        rockstore::lockfile::Lockfile::load(&dir)?
    };
    installer.settings.pin = pin;
    installer.settings.pin_items = args.pin_items;
    let pin_into = pin.then(|| dir.clone());
    run_install(
        cx,
        &mut installer,
        &[Request::Local { rockspec, dir }],
        args.only_deps,
        args.run,
        pin_into.as_deref(),
    )
}
