//! Tree commands: `install`, `remove`, `purge`, `list`, `show`, `which`,
//! `path`, the generation commands and `gc`.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::build::variables::Variables;
use rockstore::build::Builder;
use rockstore::install::{Installer, Request, Settings};

use super::progress::{Level, Watcher};
use rockstore::tree::Tree;
use serde::Serialize;

use super::build_cmd::split_args;
use super::context::Context;
use super::report::ExitStatus;

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

/// The flags `install` and `build` share.
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

/// How an install runs: planned only, or with how many builds at once.
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

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The rock to remove.
    pub name: String,
    /// Only this version (default: every version).
    pub version: Option<String>,
    /// Remove even if other rocks in the tree depend on it.
    #[arg(long)]
    pub force: bool,
    /// As --force (LuaRocks then skips reporting what breaks; rockstore
    /// reports it all the same).
    #[arg(long)]
    pub force_fast: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only rocks whose name contains this.
    pub filter: Option<String>,
    /// Only this version.
    pub version: Option<String>,
    /// List only rocks for which there is a higher version available in the
    /// rocks server.
    #[arg(long, conflicts_with = "json")]
    pub outdated: bool,
    /// Tab-separated: name, version, status, rocks directory.
    #[arg(long)]
    pub porcelain: bool,
    /// JSON: every rock with its item and whether it was asked for.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The installed rock.
    pub name: String,
    /// Its version (default: the newest installed).
    pub version: Option<String>,
    #[command(flatten)]
    pub only: ShowOnly,
    /// Produce machine-friendly output.
    #[arg(long)]
    pub porcelain: bool,
}

/// `show`'s flags: each prints one piece of information, as LuaRocks'.
#[derive(Debug, Args, Default)]
#[group(multiple = false)]
pub struct ShowOnly {
    /// Show home page of project.
    #[arg(long)]
    pub home: bool,
    /// Show all modules provided by the package as used by require().
    #[arg(long)]
    pub modules: bool,
    /// Show packages the package depends on.
    #[arg(long)]
    pub deps: bool,
    /// Show build-only dependencies for the package.
    #[arg(long)]
    pub build_deps: bool,
    /// Show dependencies for testing the package.
    #[arg(long)]
    pub test_deps: bool,
    /// Show the full path of the rockspec file.
    #[arg(long)]
    pub rockspec: bool,
    /// Show the package version.
    #[arg(long)]
    pub mversion: bool,
    /// Show local tree where rock is installed.
    #[arg(long)]
    pub rock_tree: bool,
    /// Show rock namespace.
    #[arg(long)]
    pub rock_namespace: bool,
    /// Show data directory of the installed rock.
    #[arg(long)]
    pub rock_dir: bool,
    /// Show rock license.
    #[arg(long)]
    pub rock_license: bool,
    /// Show URL for project's issue tracker.
    #[arg(long)]
    pub issues: bool,
    /// List the labels of the rock.
    #[arg(long)]
    pub labels: bool,
}

#[derive(Debug, Args)]
pub struct WhichArgs {
    /// A module name (`a.b`).
    pub module: String,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    /// Print only the Lua path (not as a shell command).
    #[arg(long)]
    pub lr_path: bool,
    /// Print only the Lua cpath.
    #[arg(long)]
    pub lr_cpath: bool,
    /// Print only the bin path.
    #[arg(long)]
    pub lr_bin: bool,
    /// Do not export PATH.
    #[arg(long)]
    pub no_bin: bool,
    /// Append the paths to the existing ones (default: put them first).
    #[arg(long)]
    pub append: bool,
    /// Accepted for LuaRocks' compatibility (PATH is exported by default).
    #[arg(long, hide = true)]
    pub bin: bool,
    /// With --lr-path or --lr-cpath, also the interpreter's own paths
    /// (with LUA_PATH/LUA_CPATH applied), and with --lr-bin also PATH: the
    /// lists the shell lines set (LuaRocks 3.13).
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct GenerationsArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// The generation number.
    pub number: u64,
}

#[derive(Debug, Args)]
pub struct DeleteGenerationsArgs {
    /// Generation numbers to delete.
    pub numbers: Vec<u64>,
    /// Delete generations older than this many days.
    #[arg(long, value_name = "DAYS", conflicts_with = "numbers")]
    pub older_than: Option<u64>,
    /// Keep only the newest K generations (and the current one).
    #[arg(long, value_name = "K", conflicts_with_all = ["numbers", "older_than"])]
    pub keep: Option<usize>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Link each kept item into this tree, in a new generation.
    #[arg(long)]
    pub fix: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only say what would be freed.
    #[arg(long)]
    pub dry_run: bool,
}

/// Whether a line of an install's commentary is a warning (stderr, as
/// LuaRocks' `util.warning`); everything else is status (stdout, as
/// LuaRocks' `util.printout`).
fn is_warning(text: &str) -> bool {
    text.starts_with("warning")
        || text.starts_with("Warning: ")
        || text.starts_with("Will not remove")
}

pub(super) fn say(text: &str) {
    if is_warning(text) {
        errln!("{text}");
    } else {
        outln!("{text}");
    }
}

/// `say` under `-q`: warnings only.
fn say_warnings(text: &str) {
    if is_warning(text) {
        errln!("{text}");
    }
}

/// `say` while stdout carries data (`--dry-run --json`): all on stderr.
fn say_aside(text: &str) {
    errln!("{text}");
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
fn run_install(
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
            installer.say = &say_aside;
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
        installer.say = &say_warnings;
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
fn report_install(cx: &Context, tree: &Tree, outcome: &rockstore::install::Outcome) {
    for added in &outcome.added {
        let license = added
            .license
            .as_ref()
            .map(|l| format!(" (license: {l})"))
            .unwrap_or_default();
        outln!(
            "{} {} is now installed in {}{license}",
            added.name,
            added.version,
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
            super::build_cmd::sign(&out, &env)?;
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

pub(super) fn installer_for<'a>(
    cx: &Context,
    backend: &'a dyn rockstore::backend::StoreBackend,
    substituters: Option<&'a rockstore::cache::substitute::Substituters>,
    fetcher: &'a rockstore::fetch::Fetcher,
    env: &'a rockstore::build::BuildEnv,
    keep: bool,
    force: bool,
) -> anyhow::Result<Installer<'a>> {
    let (target, rocks_trees) = cx.target()?;
    Ok(Installer::new(
        Builder {
            store: backend.store(),
            fetcher,
            env,
            watch: None,
            isolation: None,
            substituters,
        },
        backend,
        Settings {
            servers: cx.servers(),
            target,
            rocks_trees,
            deps_mode: cx.deps_mode()?,
            keep,
            force,
            hooks_enabled: cx.config.hooks_enabled.unwrap_or(true),
            wrap_bin_scripts: cx.config.wrap_bin_scripts,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            no_doc: false,
            check_lua_versions: false,
            pin: false,
            pin_items: false,
            adopt: rockstore::adopt::first_touch::Policy::of(
                cx.tree_flags.no_adopt,
                cx.config.adopt.as_deref(),
            ),
        },
        &say,
    ))
}

/// `rockstore remove`.
pub fn remove(args: RemoveArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    // The tree's store binding is checked before a store is opened
    // (and made): another store named for this tree is refused first.
    cx.target()?;
    let store = cx.store()?;
    let fetcher = cx.fetcher();
    let env = cx.build_env(Variables::new());
    let force = args.force || args.force_fast;
    let mut installer = installer_for(cx, &*store, None, &fetcher, &env, false, force)?;
    let (n, may_break) = installer.remove(&args.name.to_lowercase(), args.version.as_deref())?;
    if !may_break.is_empty() {
        errln!("The following packages may be broken by this forced removal:");
        for rock in &may_break {
            errln!("{rock}");
        }
        errln!("");
    }
    outln!("Removal successful.");
    // Beside LuaRocks' words on stdout, ours on stderr.
    errln!("{}", undo_hint(cx, &installer.settings.target, n));
    Ok(ExitStatus::Success)
}

/// A path as a shell word: quoted when it holds anything a shell reads.
fn shell_word(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@,=%".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The command line that runs `rest` on `tree`, naming the store when the
/// command was given one (`--store`), so that it acts on this tree and this
/// store wherever it is run from.
pub(super) fn command_on(cx: &Context, tree: &Tree, rest: &str) -> String {
    let mut line = "rockstore".to_owned();
    if let Some(store) = &cx.store_flag {
        line.push_str(&format!(" --store {}", shell_word(store)));
    }
    line.push_str(&format!(" --tree {} {rest}", shell_word(&tree.root)));
    line
}

/// What undoes generation `n` of `tree`: rolling back to the one before,
/// or, for its first generation (rollback has nothing to go back to),
/// purging the rocks it holds.
fn undo_hint(cx: &Context, tree: &Tree, n: u64) -> String {
    if n > 1 {
        format!(
            "(generation {n} of {}; `{}` undoes it)",
            tree.root.display(),
            command_on(cx, tree, "rollback")
        )
    } else {
        format!(
            "(generation 1 of {}, its first, which rollback cannot undo; `{}` does)",
            tree.root.display(),
            command_on(
                cx,
                tree,
                &format!("--lua-version {} purge", tree.lua_version)
            )
        )
    }
}

/// `rockstore purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Keep the highest-numbered version of each rock and remove the other
    /// ones; versions other rocks still need stay, unless --force.
    #[arg(long)]
    pub old_versions: bool,
    /// With --old-versions: remove them even when other rocks need them.
    #[arg(long)]
    pub force: bool,
    /// As --force.
    #[arg(long)]
    pub force_fast: bool,
}

pub fn purge(args: PurgeArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    // As LuaRocks: purging the default tree by accident is too costly.
    if cx.tree_flags.tree.is_none() {
        bail!("The --tree argument is mandatory (rockstore purge --tree TREE)");
    }
    let (tree, _) = cx.target()?;
    if !tree.root.is_dir() {
        bail!("Directory not found: {}", tree.root.display());
    }
    // The tree's store binding is checked before a store is opened
    // (and made): another store named for this tree is refused first.
    cx.target()?;
    let store = cx.store()?;
    let fetcher = cx.fetcher();
    let env = cx.build_env(Variables::new());
    if args.old_versions {
        let force = args.force || args.force_fast;
        let mut installer = installer_for(cx, &*store, None, &fetcher, &env, false, force)?;
        match installer.purge_old_versions()? {
            Some(n) => {
                outln!("Removed old versions.");
                errln!("{}", undo_hint(cx, &tree, n));
            }
            None => outln!("No old versions to remove in {}", tree.root.display()),
        }
        return Ok(ExitStatus::Success);
    }
    let mut installer = installer_for(cx, &*store, None, &fetcher, &env, false, true)?;
    let n = installer.purge()?;
    errln!("{}", undo_hint(cx, &tree, n));
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
struct ListedRock {
    name: String,
    version: String,
    /// The store item (none for a rock of a plain LuaRocks tree).
    item: Option<String>,
    explicit: bool,
    tree: String,
    #[serde(skip)]
    rocks_dir: String,
}

/// `rockstore list`.
pub fn list(args: ListArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    // As LuaRocks: every configured tree, or only the one chosen (--tree,
    // --local, local_by_default).
    let super::context::ChosenTarget {
        tree: target,
        trees,
        chosen,
    } = cx.chosen_target()?;
    let trees: Vec<Tree> = if chosen {
        vec![target.clone()]
    } else {
        trees
            .iter()
            .map(|root| Tree::new(root, &target.lua_version))
            .collect::<Result<_, _>>()?
    };
    let mut listed: Vec<ListedRock> = Vec::new();
    for tree in &trees {
        // A switch a kill stopped is finished when the lock is free, so
        // `luarocks list` agrees with this listing afterwards.
        tree.finish_interrupted_switch();
        if tree.is_profile() {
            let changes = tree.luarocks_changes();
            if !changes.is_empty() {
                errln!(
                    "warning: LuaRocks changed {} after rockstore last did: {}; run `rockstore adopt {}` to take the changes in",
                    tree.root.display(),
                    changes.describe(),
                    tree.root.display()
                );
            }
        }
        // One broken tree of rocks_trees costs a warning, never the listing.
        let rocks = match installed_rocks(tree) {
            Ok(rocks) => rocks,
            Err(e) if !chosen => {
                errln!("warning: skipping the tree {}: {e:#}", tree.root.display());
                continue;
            }
            Err(e) => return Err(e),
        };
        for r in rocks {
            let wanted = args.filter.as_deref().is_none_or(|f| r.name.contains(f))
                && args
                    .version
                    .as_deref()
                    .is_none_or(|v| r.version == v || r.version.starts_with(&format!("{v}-")));
            if wanted {
                listed.push(r);
            }
        }
    }
    listed.sort_by(|a, b| {
        a.name.cmp(&b.name).then_with(|| {
            rockstore::rockspec::Version::parse(&b.version)
                .sort_order(&rockstore::rockspec::Version::parse(&a.version))
        })
    });
    if args.outdated {
        return list_outdated(&listed, args.porcelain, cx);
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(ExitStatus::Success);
    }
    if args.porcelain {
        for r in &listed {
            outln!("{}\t{}\tinstalled\t{}", r.name, r.version, r.rocks_dir);
        }
        return Ok(ExitStatus::Success);
    }
    let mut title = format!("Rocks installed for Lua {}", target.lua_version);
    if chosen {
        title.push_str(&format!(" in {}", target.root.display()));
    }
    outln!("\n{title}\n{}\n", "-".repeat(title.len()));
    let mut last: Option<&str> = None;
    for r in &listed {
        if last != Some(&r.name) {
            if last.is_some() {
                outln!();
            }
            outln!("{}", r.name);
            last = Some(&r.name);
        }
        outln!("   {} (installed) - {}", r.version, r.rocks_dir);
    }
    if last.is_some() {
        outln!();
    }
    Ok(ExitStatus::Success)
}

/// `list --outdated`, as LuaRocks: each installed rock (its newest
/// installed version) whose newest version on the servers is higher.
fn list_outdated(
    listed: &[ListedRock],
    porcelain: bool,
    cx: &Context,
) -> anyhow::Result<ExitStatus> {
    use rockstore::rockspec::Version;
    if !porcelain {
        outln!();
        outln!("Outdated rocks:");
        outln!("---------------");
        outln!();
    }
    // `listed` is sorted by name, then newest version first.
    let mut latest: Vec<&ListedRock> = Vec::new();
    for r in listed {
        if latest.last().is_none_or(|l| l.name != r.name) {
            latest.push(r);
        }
    }
    let session = super::build_cmd::Session::new(cx);
    for installed in latest {
        let offers = match session.offers(&installed.name, None, true) {
            Ok(offers) => offers,
            Err(e) => {
                errln!("warning: {e:#}");
                continue;
            }
        };
        let Some(best) = offers
            .iter()
            .find(|o| o.server != rockstore::servers::PROVIDED)
        else {
            continue;
        };
        let newer = Version::parse(&best.version)
            .sort_order(&Version::parse(&installed.version))
            .is_gt();
        if !newer {
            continue;
        }
        if porcelain {
            outln!(
                "{}\t{}\t{}\t{}",
                installed.name,
                installed.version,
                best.version,
                best.server
            );
        } else {
            outln!("{}", installed.name);
            outln!(
                "   {} < {} at {}",
                installed.version,
                best.version,
                best.server
            );
            outln!();
        }
    }
    Ok(ExitStatus::Success)
}

/// The rocks a tree holds: its current generation's for a profile tree;
/// for a plain LuaRocks tree, what its own manifest lists.
fn installed_rocks(tree: &Tree) -> anyhow::Result<Vec<ListedRock>> {
    let rocks_dir = tree.rocks_dir();
    let shown = rocks_dir.display().to_string();
    if tree.current().is_some() {
        let profile = tree.current_profile()?;
        return Ok(profile
            .rocks
            .iter()
            .map(|r| ListedRock {
                name: r.name.clone(),
                version: r.version.clone(),
                item: Some(r.item.clone()),
                explicit: r.explicit,
                tree: tree.root.display().to_string(),
                rocks_dir: shown.clone(),
            })
            .collect());
    }
    let manifest = rocks_dir.join("manifest");
    let limit = rockstore::lua::Limits::MANIFEST.source_bytes;
    let bytes = match rockstore::lua::read_source(&manifest, limit) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {}", manifest.display())))
        }
    };
    let read = rockstore::manifest::repository::RepositoryManifest::from_lua(
        &manifest.display().to_string(),
        &bytes,
    )?;
    Ok(read
        .repository
        .iter()
        .flat_map(|(name, versions)| {
            versions.keys().map(|version| ListedRock {
                name: name.clone(),
                version: version.clone(),
                item: None,
                explicit: true,
                tree: tree.root.display().to_string(),
                rocks_dir: shown.clone(),
            })
        })
        .collect())
}

/// `rockstore show`.
/// The rock `name` (at `version`, else the newest) installed in the
/// target tree: the tree, the rock, its directory and its rockspec.
fn installed_rock(
    cx: &Context,
    name: &str,
    version: Option<&str>,
) -> anyhow::Result<(Tree, ProfileRockView, rockstore::rockspec::Rockspec)> {
    let (tree, _) = cx.target()?;
    let profile = tree.current_profile()?;
    let rock = profile
        .rocks
        .iter()
        .filter(|r| r.name == name)
        .filter(|r| {
            version.is_none_or(|v| {
                rockstore::rockspec::Version::parse(&r.version)
                    .sort_order(&rockstore::rockspec::Version::parse(v))
                    == std::cmp::Ordering::Equal
                    || r.version.starts_with(&format!("{v}-"))
            })
        })
        .max_by(|a, b| {
            rockstore::rockspec::Version::parse(&a.version)
                .sort_order(&rockstore::rockspec::Version::parse(&b.version))
        })
        .with_context(|| {
            format!(
                "cannot find package {}: it is not installed in {}",
                name,
                tree.root.display()
            )
        })?;
    let dir = tree.rocks_dir().join(&rock.name).join(&rock.version);
    let spec_file = dir.join(format!("{}-{}.rockspec", rock.name, rock.version));
    let spec = rockstore::rockspec::Rockspec::from_file(
        &spec_file,
        &rockstore::rockspec::LoadOptions {
            platforms: rockstore::rockspec::Platforms::host(),
        },
    )?;
    let view = ProfileRockView {
        rock: rock.clone(),
        dir,
    };
    Ok((tree, view, spec))
}

/// An installed rock and its directory in the tree.
struct ProfileRockView {
    rock: rockstore::tree::ProfileRock,
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DocArgs {
    /// The installed rock.
    pub name: String,
    /// Its version (default: the newest installed).
    pub version: Option<String>,
    /// Open the project's home page (its rockspec's `description.homepage`).
    #[arg(long)]
    pub home: bool,
    /// List the documentation files only.
    #[arg(long)]
    pub list: bool,
    /// Machine-friendly output: one full path per line.
    #[arg(long)]
    pub porcelain: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project's name (default: the current directory's name).
    pub name: Option<String>,
    /// The project's version (default: dev).
    pub version: Option<String>,
    /// Write `./lua` and `.luarocks/config-5.x.lua` anew.
    #[arg(long)]
    pub reset: bool,
    /// For the rockspec template, as `write_rockspec` takes them.
    #[command(flatten)]
    pub template: super::build_cmd::TemplateFlags,
}

/// `rockstore init`: makes the current directory a LuaRocks project, as
/// `luarocks init`: a rockspec template (unless there is one),
/// `.gitignore` entries, `.luarocks/config-5.x.lua` naming this Lua,
/// `.luarocks/default-lua-version.lua`, `lua_modules/`, and the wrappers
/// `./lua` (Lua with the project's modules on its paths) and `./luarocks`
/// (rockstore on the project's tree).
pub fn init(args: InitArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let cwd = std::env::current_dir().context("current directory")?;
    let me = std::env::current_exe().context("this program's path")?;
    rockstore::project_init::init(
        &rockstore::project_init::InitRequest {
            dir: &cwd,
            name: args.name,
            version: args.version,
            reset: args.reset,
            template: args.template.into_request(),
            lua: &cx.lua,
            program: &me,
            store: cx.store_flag.as_deref(),
        },
        &|line| outln!("{line}"),
        &|line| errln!("{line}"),
    )?;
    Ok(ExitStatus::Success)
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The project's rockspec (default: the one *.rockspec in the current
    /// directory), then the arguments for the test suite (after `--`).
    #[arg(
        value_name = "[ROCKSPEC] [ARGS]...",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
    /// Only install the test dependencies; do not run the tests.
    #[arg(long)]
    pub prepare: bool,
    /// The test suite's type (`busted`, `command`) when the rockspec does
    /// not say and it cannot be detected.
    #[arg(long, value_name = "TYPE")]
    pub test_type: Option<String>,
}

/// `rockstore test`: the project's test suite, as `luarocks test`: its
/// `test_dependencies` installed into the tree, then the rockspec's
/// `test` table run (`command`: `test.command` or `lua test.script`;
/// `busted`: the tree's `busted`) with `test.flags` and the arguments
/// given, the trees' modules on the Lua paths.
pub fn test(args: TestArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let cwd = std::env::current_dir().context("current directory")?;
    let mut rest = args.args.clone();
    let rockspec_path = match rest.first() {
        Some(first) if first.ends_with(".rockspec") => PathBuf::from(rest.remove(0)),
        _ => {
            let found: Vec<PathBuf> = std::fs::read_dir(&cwd)?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "rockspec"))
                .collect();
            match found.as_slice() {
                [one] => one.clone(),
                [] => bail!(
                    "Please specify a rockspec (no .rockspec in {})",
                    cwd.display()
                ),
                _ => bail!(
                    "several .rockspec files in {}: name the one to test",
                    cwd.display()
                ),
            }
        }
    };
    if rest.first().is_some_and(|a| a == "--") {
        rest.remove(0);
    }
    let spec = rockstore::rockspec::Rockspec::from_file(
        &rockspec_path,
        &rockstore::rockspec::LoadOptions {
            platforms: rockstore::rockspec::Platforms::host(),
        },
    )?;
    let suite = rockstore::test_suite::suite(&spec, args.test_type.as_deref(), &cwd)?;
    // The test dependencies (and busted), into the tree, as LuaRocks does.
    let wanted: Vec<Request> = suite
        .needs
        .iter()
        .map(|(name, version)| Request::Name(name.clone(), version.clone()))
        .collect();
    let (tree, _) = cx.target()?;
    if !wanted.is_empty() {
        // The tree's store binding is checked before a store is opened
        // (and made): another store named for this tree is refused first.
        cx.target()?;
        let store = cx.store()?;
        let fetcher = cx.fetcher();
        let env = cx.build_env(Variables::new());
        let mut installer = installer_for(cx, &*store, None, &fetcher, &env, false, false)?;
        installer.settings.deps_mode = rockstore::install::DepsMode::All;
        let outcome = installer.install(&wanted, false)?;
        report_install(cx, &tree, &outcome);
    }
    if args.prepare {
        return Ok(ExitStatus::Success);
    }
    let lua = cx
        .lua
        .interpreter
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("lua{}", tree.lua_version)));
    let status = rockstore::test_suite::command(&suite, &rest, &cwd, &tree, &lua)?
        .status()
        .context("cannot start the test suite")?;
    if !status.success() {
        bail!("tests failed with non-zero exit code");
    }
    Ok(ExitStatus::Success)
}

/// `rockstore doc`: the installed rock's documentation, as `luarocks doc`:
/// its `doc/` (or `docs/`) files listed, then the index, readme or manual
/// opened with `xdg-open`, or printed when that cannot open it.
pub fn doc(args: DocArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let Ok((_, installed, spec)) = installed_rock(cx, &args.name, args.version.as_deref()) else {
        // As LuaRocks: the servers' rockspec may still name a home page.
        let rock = match &args.version {
            Some(v) => format!("{} {v}", args.name),
            None => args.name.clone(),
        };
        outln!("{rock} is not installed. Looking for it in the rocks servers...");
        let home = super::build_cmd::homepage_on_servers(cx, &args.name, args.version.as_deref())?;
        let Some(home) = home else {
            bail!("No 'homepage' field in rockspec for {rock}");
        };
        outln!("Opening {home} ...");
        let _ = std::process::Command::new("xdg-open")
            .arg(&home)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        return Ok(ExitStatus::Success);
    };
    let (name, version) = (&installed.rock.name, &installed.rock.version);
    let homepage = spec.description.homepage.clone();
    let open = |target: &str| {
        std::process::Command::new("xdg-open")
            .arg(target)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if args.home {
        let Some(home) = homepage else {
            bail!("No 'homepage' field in rockspec for {name} {version}");
        };
        outln!("Opening {home} ...");
        open(&home);
        return Ok(ExitStatus::Success);
    }
    let Some(docdir) = ["doc", "docs"]
        .iter()
        .map(|d| installed.dir.join(d))
        .find(|d| d.is_dir())
    else {
        if let (Some(home), false) = (&homepage, args.list) {
            outln!("Local documentation directory not found -- opening {home} ...");
            open(home);
            return Ok(ExitStatus::Success);
        }
        bail!("Documentation directory not found for {name} {version}");
    };
    let mut files = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(docdir.join(&rel))?.flatten() {
            let rel = rel.join(entry.file_name());
            if entry.path().is_dir() {
                stack.push(rel.clone());
            }
            files.push(rel.display().to_string());
        }
    }
    files.sort();
    let shown = docdir.display().to_string();
    if !files.is_empty() {
        if args.porcelain {
            for f in &files {
                outln!("{shown}/{f}");
            }
        } else {
            let title = format!("Documentation files for {name} {version}");
            outln!();
            outln!("{title}");
            outln!("{}", "-".repeat(title.len()));
            outln!();
            outln!("{shown}/");
            for f in &files {
                outln!("\t{f}");
            }
        }
    }
    if args.list {
        return Ok(ExitStatus::Success);
    }
    // LuaRocks' heuristics: index, readme, manual; html, md, txt, textile,
    // then any extension; the shortest name that matches.
    for extension in [".htm", ".md", ".txt", ".textile", ""] {
        for base in ["index", "readme", "manual"] {
            let wanted = format!("{base}{extension}");
            let found = files
                .iter()
                .filter(|f| f.to_lowercase().contains(&wanted))
                .min_by_key(|f| f.len());
            if let Some(found) = found {
                let path = docdir.join(found);
                outln!();
                outln!("Opening {} ...", path.display());
                outln!();
                let html = found.ends_with(".html") || found.ends_with(".htm");
                if !open(&path.display().to_string()) && !html {
                    outln!("{}", std::fs::read_to_string(&path).unwrap_or_default());
                }
                return Ok(ExitStatus::Success);
            }
        }
    }
    Ok(ExitStatus::Success)
}

pub fn show(args: ShowArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    if let Some(status) = super::store_gone::show_without_store(&args, cx)? {
        return Ok(status);
    }
    let (tree, installed, spec) = installed_rock(cx, &args.name, args.version.as_deref())?;
    let rock = &installed.rock;
    let dir = installed.dir.clone();
    let spec_file = dir.join(format!("{}-{}.rockspec", rock.name, rock.version));
    let profile = tree.current_profile()?;
    let d = &spec.description;
    let only = &args.only;
    let single = |text: Option<&str>| outln!("{}", text.unwrap_or(""));
    let list = |deps: &[rockstore::rockspec::Dependency]| {
        for dep in deps {
            outln!("{dep}");
        }
    };
    if only.rock_tree {
        single(Some(&tree.root.display().to_string()));
    } else if only.rock_namespace {
        // The rock directory's `rock_namespace`, as LuaRocks reads it.
        let namespace = std::fs::read_to_string(dir.join("rock_namespace")).ok();
        single(namespace.as_deref().map(str::trim_end));
    } else if only.rock_dir {
        single(Some(&dir.display().to_string()));
    } else if only.home {
        single(d.homepage.as_deref());
    } else if only.rock_license {
        single(d.license.as_deref());
    } else if only.issues {
        single(d.issues_url.as_deref());
    } else if only.labels {
        single(
            Some(&d.labels.join("\n"))
                .filter(|l| !l.is_empty())
                .map(String::as_str),
        );
    } else if only.modules {
        let item = super::store_gone::item_dir(cx, &tree, &rock.item)?;
        single(Some(&provided_modules(&item)?.join("\n")));
    } else if only.deps {
        list(&spec.dependencies);
    } else if only.build_deps {
        list(&spec.build_dependencies);
    } else if only.test_deps {
        list(&spec.test_dependencies);
    } else if only.rockspec {
        single(Some(&spec_file.display().to_string()));
    } else if only.mversion {
        single(Some(&rock.version));
    } else {
        let item = super::store_gone::item_dir(cx, &tree, &rock.item)?;
        let page = super::show_page::Page::new(
            &tree,
            &profile.rocks,
            rock,
            &spec,
            &item,
            &cx.rocks_provided(),
        )
        .with_context(|| format!("reading the files of {}", item.display()))?;
        outln!(
            "{}",
            if args.porcelain {
                page.porcelain()
            } else {
                page.friendly()
            }
        );
    }
    Ok(ExitStatus::Success)
}

/// The module names a rock item provides (`lua/a/b.lua` → `a.b`,
/// `lib/c.so` → `c`), sorted, as LuaRocks' manifest lists them.
fn provided_modules(item: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use rockstore::tree::profile::{files_under, module_name};
    let mut out = Vec::new();
    for sub in ["lua", "lib"] {
        let files = files_under(&item.join(sub))
            .with_context(|| format!("reading the files of {}", item.display()))?;
        out.extend(files.iter().map(|f| module_name(f)));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `rockstore which`.
pub fn which(args: WhichArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let rel = args.module.replace('.', "/");
    for (dir, candidates) in [
        (
            tree.lua_dir(),
            vec![format!("{rel}.lua"), format!("{rel}/init.lua")],
        ),
        (tree.lib_dir(), vec![format!("{rel}.so")]),
    ] {
        for c in candidates {
            let path = dir.join(&c);
            // A link into a store that is gone still names the module.
            if path.exists() || std::fs::symlink_metadata(&path).is_ok() {
                let real = std::fs::canonicalize(&path).unwrap_or(path.clone());
                outln!("{}", path.display());
                let profile = tree.current_profile()?;
                let placed_from = rockstore::tree::link_mode::origin_in_placed(&real);
                let provider = profile
                    .rocks
                    .iter()
                    .find(|r| {
                        placed_from.as_deref() == Some(r.item.as_str())
                            || real.to_string_lossy().contains(&r.item)
                    })
                    .map(|r| (r.name.clone(), r.version.clone()))
                    .or_else(|| super::store_gone::manifest_provider(&tree, &args.module));
                if let Some((name, version)) = provider {
                    outln!("(provided by {name} {version})");
                }
                return Ok(ExitStatus::Success);
            }
        }
    }
    bail!(
        "Module '{}' not found in {}",
        args.module,
        tree.root.display()
    )
}

/// `rockstore path`: LuaRocks 3.8's lines, computed by [`lua_paths`].
pub fn path(args: PathArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    use rockstore::lua_paths::{self, OnlyList, PathInputs, PathRequest};
    // As LuaRocks' `cfg.package_paths(args.tree)`: the tree the flags
    // chose (`--tree`, `--local`, `local_by_default`) first, then every
    // configured tree.
    let super::context::ChosenTarget {
        tree,
        trees,
        chosen,
    } = cx.chosen_target()?;
    let mut roots = Vec::new();
    if chosen {
        roots.push(std::path::absolute(&tree.root).unwrap_or_else(|_| tree.root.clone()));
    }
    roots.extend(trees);
    let v = &tree.lua_version;
    let only = if args.lr_path {
        Some(OnlyList::LuaPath)
    } else if args.lr_cpath {
        Some(OnlyList::LuaCpath)
    } else if args.lr_bin {
        Some(OnlyList::Bin)
    } else {
        None
    };
    let req = PathRequest {
        only,
        append: args.append,
        full: args.full,
        no_bin: args.no_bin,
    };
    let needs_interpreter = only.is_none() || args.full;
    let interpreter = match (&cx.lua.interpreter, needs_interpreter) {
        (Some(lua), true) => lua_paths::interpreter_paths(lua, &cx.env.lua_env),
        _ => None,
    };
    let versioned_vars = cx
        .env
        .lua_path_versioned
        .iter()
        .find(|(version, _, _)| version == v)
        .map_or((false, false), |(_, p, c)| (*p, *c));
    let inputs = PathInputs {
        roots,
        configured: cx
            .rocks_trees()
            .into_iter()
            .map(|t| std::path::absolute(&t.root).unwrap_or(t.root))
            .collect(),
        lua_version: v,
        interpreter,
        env_path: cx
            .env
            .path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        versioned_vars,
    };
    for line in lua_paths::path_lines(&req, &inputs) {
        outln!("{line}");
    }
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
struct GenerationRow {
    number: u64,
    created: Option<u64>,
    change: Option<String>,
    current: bool,
    item: String,
}

/// `rockstore generations`.
pub fn generations(args: GenerationsArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let current = tree.current();
    let rows: Vec<GenerationRow> = tree
        .generations()?
        .into_iter()
        .map(|g| GenerationRow {
            number: g.number,
            created: g.info.as_ref().map(|i| i.created),
            change: g.info.map(|i| i.change),
            current: Some(g.number) == current,
            item: g.item_path.display().to_string(),
        })
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitStatus::Success);
    }
    for r in rows {
        outln!(
            "{:>5}   {}   {}{}",
            r.number,
            r.created.map_or_else(|| "?".to_owned(), format_time),
            r.change.as_deref().unwrap_or("?"),
            if r.current { "   (current)" } else { "" }
        );
    }
    Ok(ExitStatus::Success)
}

/// UTC `YYYY-MM-DD HH:MM:SS`.
fn format_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `rockstore rollback`.
pub fn rollback(cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let lock = tree.lock_for_change()?;
    let current = tree
        .current()
        .with_context(|| format!("{} has no generations", tree.root.display()))?;
    let previous = tree
        .generations()?
        .into_iter()
        .map(|g| g.number)
        .filter(|n| *n < current)
        .max();
    let Some(previous) = previous else {
        return Err(rockstore::tree::TreeError::NothingToRollBack {
            root: tree.root.clone(),
            current,
            undo: command_on(
                cx,
                &tree,
                &format!("--lua-version {} purge", tree.lua_version),
            ),
            list: command_on(cx, &tree, "generations"),
        }
        .into());
    };
    tree.switch(&lock, previous)?;
    errln!(
        "switched {} from generation {current} to {previous}",
        tree.root.display()
    );
    Ok(ExitStatus::Success)
}

/// `rockstore switch-generation`.
pub fn switch_generation(args: SwitchArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let lock = tree.lock_for_change()?;
    let from = tree.current();
    tree.switch(&lock, args.number)?;
    errln!(
        "switched {} from generation {} to {}",
        tree.root.display(),
        from.map_or_else(|| "none".to_owned(), |n| n.to_string()),
        args.number
    );
    Ok(ExitStatus::Success)
}

/// `rockstore delete-generations`.
pub fn delete_generations(args: DeleteGenerationsArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let (tree, _) = cx.target()?;
    let lock = tree.lock()?;
    let current = tree.current();
    let all = tree.generations()?;
    let numbers: Vec<u64> = if let Some(days) = args.older_than {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let cutoff = now.saturating_sub(days * 86_400);
        all.iter()
            .filter(|g| Some(g.number) != current)
            .filter(|g| g.info.as_ref().is_some_and(|i| i.created < cutoff))
            .map(|g| g.number)
            .collect()
    } else if let Some(keep) = args.keep {
        let mut old: Vec<u64> = all.iter().map(|g| g.number).collect();
        old.truncate(old.len().saturating_sub(keep));
        old.into_iter().filter(|n| Some(*n) != current).collect()
    } else {
        if args.numbers.is_empty() {
            bail!("say which generations: numbers, --older-than DAYS or --keep K");
        }
        args.numbers
    };
    tree.delete_generations(&lock, &numbers)?;
    // The store learns the tree's roots now, so a collection may free what
    // only the deleted generations kept.
    rockstore::backend::sync_roots(&*cx.store()?, &tree)?;
    errln!(
        "deleted generations {:?} of {}; `rockstore gc` frees what they used",
        numbers,
        tree.root.display()
    );
    Ok(ExitStatus::Success)
}

/// `rockstore gc`.
pub fn gc(args: GcArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let store = cx.store()?;
    let report = store.gc(args.dry_run)?;
    let verb = if args.dry_run { "would free" } else { "freed" };
    let mut bytes = 0;
    for (name, size) in &report.freed {
        outln!(
            "{}",
            store.store().root().join("store").join(name).display()
        );
        bytes += size;
    }
    for t in &report.dropped_trees {
        errln!(
            "dropped the registration of {} (the tree is gone)",
            t.display()
        );
    }
    if !report.garbage.is_empty() {
        errln!(
            "swept {} leftovers of interrupted admissions, builds or collections",
            report.garbage.len()
        );
    }
    errln!(
        "{verb} {} items ({:.1} MiB); {} items kept",
        report.freed.len(),
        bytes as f64 / (1 << 20) as f64,
        report.kept
    );
    Ok(ExitStatus::Success)
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print only this key (e.g. `rocks_trees`, `deps_mode`, `store`).
    pub key: Option<String>,
    /// Write this value for KEY into a config file (see --scope), as
    /// `luarocks config KEY VALUE`.
    pub value: Option<String>,
    /// The config file to rewrite: system (/etc/luarocks), user
    /// (~/.luarocks) or project [default: user with --local, project in a
    /// project, else as LuaRocks 3.8 decides].
    #[arg(long, value_parser = ["system", "user", "project"])]
    pub scope: Option<String>,
    /// Delete KEY from the config file.
    #[arg(long)]
    pub unset: bool,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// LuaRocks 2's flags, kept by 3.8 (hidden there too): print
    /// `variables.LUA_INCDIR`, `variables.LUA_LIBDIR`, `lua_version`, the
    /// system or user config file (failing when it is missing), or the
    /// trees with their names.
    #[arg(long, hide = true)]
    pub lua_incdir: bool,
    #[arg(long, hide = true)]
    pub lua_libdir: bool,
    #[arg(long, hide = true)]
    pub lua_ver: bool,
    #[arg(long, hide = true)]
    pub system_config: bool,
    #[arg(long, hide = true)]
    pub user_config: bool,
    #[arg(long, hide = true)]
    pub rock_trees: bool,
}

/// `config --lua-incdir` and the other LuaRocks 2 flags, as LuaRocks 3.8
/// answers them; `None` when none was given.
fn config_deprecated(args: &ConfigArgs, cx: &Context) -> anyhow::Result<Option<ExitStatus>> {
    let table = || config_table(cx);
    let variable = |name: &str| -> anyhow::Result<String> {
        Ok(table()?
            .get("variables")
            .and_then(rockstore::lua::Value::as_table)
            .and_then(|v| v.get_string(name))
            .unwrap_or_default())
    };
    let config_file = |file: Option<std::path::PathBuf>| -> anyhow::Result<Option<ExitStatus>> {
        let file = file.unwrap_or_default();
        outln!("{}", file.display());
        if !file.is_file() {
            bail!("file not found");
        }
        Ok(Some(ExitStatus::Success))
    };
    let v = &cx.lua.version;
    if args.lua_incdir {
        outln!("{}", variable("LUA_INCDIR")?);
    } else if args.lua_libdir {
        outln!("{}", variable("LUA_LIBDIR")?);
    } else if args.lua_ver {
        outln!("{v}");
    } else if args.system_config {
        return config_file(Some(cx.sources.sysconfdir.join(format!("config-{v}.lua"))));
    } else if args.user_config {
        return config_file(rockstore::config_edit::file_for(
            &cx.sources,
            rockstore::config_edit::Scope::User,
            v,
        ));
    } else if args.rock_trees {
        for tree in cx.rocks_trees() {
            match &tree.name {
                Some(name) => outln!("{}\t{name}", tree.root.display()),
                None => outln!("{}", tree.root.display()),
            }
        }
    } else {
        return Ok(None);
    }
    Ok(Some(ExitStatus::Success))
}

/// `rockstore config`: the effective configuration, after LuaRocks' config
/// files, the environment and the flags.
/// `config KEY VALUE` / `config KEY --unset`: rewrites one config file
/// as LuaRocks 3.8 does.
fn config_write(args: &ConfigArgs, key: &str, cx: &Context) -> anyhow::Result<ExitStatus> {
    use rockstore::config_edit::{edit, file_for, kind_in, Scope};
    let scope = match args.scope.as_deref() {
        Some("system") => Scope::System,
        Some("user") => Scope::User,
        Some(_) => Scope::Project,
        None if cx.tree_flags.local => Scope::User,
        None if cx.tree_flags.project_tree.is_some() => Scope::Project,
        None if cx.config.local_by_default => Scope::User,
        // LuaRocks 3.8 asks whether a file named `system` in the current
        // directory is writable (`fs.is_writable(file and "system")`), so
        // the system file is its default only there; kept, as scripts see it.
        None if is_writable(std::path::Path::new("system")) => Scope::System,
        None => Scope::User,
    };
    // As LuaRocks 3.8: `config lua_version X` is about Lua X's files.
    let v = match (key, &args.value) {
        ("lua_version", Some(value)) => value,
        _ => &cx.lua.version,
    };
    let file =
        file_for(&cx.sources, scope, v).filter(|_| scope != Scope::Project || cx.project.is_some());
    let Some(file) = file else {
        bail!("Current directory is not part of a project. You may want to run `luarocks init`.");
    };
    if key == "lua_version" {
        if let Some(value) = &args.value {
            let prefix = file
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            std::fs::create_dir_all(&prefix)
                .and_then(|()| {
                    std::fs::write(
                        prefix.join("default-lua-version.lua"),
                        format!("return \"{value}\"\n"),
                    )
                })
                .with_context(|| {
                    format!("could not set default Lua version in {}", prefix.display())
                })?;
            outln!(
                "Lua version will default to {value} in {}",
                prefix.display()
            );
        }
    }
    // Keys whose LuaRocks default is a boolean or a number: their values
    // are converted as `infer_type` converts them.
    // As LuaRocks' `infer_type`: a key whose value in use is a boolean or
    // a number takes `true`/`false` or a number as one.
    let effective = config_table(cx)?;
    let kind = kind_in(&effective, key);
    let value = if args.unset {
        None
    } else {
        args.value.as_deref()
    };
    let home = cx.env.home.as_deref().map(std::path::Path::new);
    let written = edit(&file, home, key, value, kind)?;
    if args.unset {
        outln!("Removed");
        outln!("\t{key}");
        outln!("from");
    } else {
        let shown = match &written {
            Some(rockstore::lua::Value::String(s)) => rockstore::manifest::persist::quoted(s),
            Some(rockstore::lua::Value::Boolean(b)) => b.to_string(),
            // `%q` of a number, as LuaRocks prints it (Lua 5.1 quotes it).
            Some(rockstore::lua::Value::Integer(i)) => format!("\"{i}\""),
            Some(rockstore::lua::Value::Number(n)) => format!("\"{n}\""),
            _ => String::new(),
        };
        outln!("Wrote");
        outln!("\t{key} = {shown}");
        outln!("to");
    }
    outln!("\t{}", file.display());
    Ok(ExitStatus::Success)
}

fn is_writable(path: &std::path::Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

/// `rockstore` alone: the help, then the configuration in use, as
/// `luarocks` prints them.
pub fn summary(cx: &Context) -> anyhow::Result<ExitStatus> {
    use clap::CommandFactory as _;
    let help = super::Cli::command().render_long_help();
    outln!("{help}");
    let state = |p: Option<&std::path::Path>| match p {
        Some(p) if p.exists() => format!("{} (ok)", p.display()),
        Some(p) => format!("{} (not found)", p.display()),
        None => "(not found)".to_owned(),
    };
    outln!("Configuration:");
    outln!("   Lua:");
    outln!("      Version    : {}", cx.lua.version);
    outln!(
        "      Interpreter: {}",
        state(cx.lua.interpreter.as_deref())
    );
    outln!("      LUA_INCDIR : {}", state(cx.lua.incdir.as_deref()));
    outln!();
    outln!("   Configuration files:");
    if cx.config.files.is_empty() {
        outln!("      (none found)");
    }
    for file in &cx.config.files {
        outln!("      {}", file.display());
    }
    outln!();
    outln!("   Rocks trees in use:");
    let (_, trees) = cx.target()?;
    for tree in trees {
        outln!("      {}", tree.display());
    }
    Ok(ExitStatus::Success)
}

/// `rockstore config [KEY [VALUE]]`: shows the table
/// [`rockstore::config_view`] makes, or writes a key.
pub fn config(args: ConfigArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    use rockstore::config_view;
    if let Some(done) = config_deprecated(&args, cx)? {
        return Ok(done);
    }
    if let (Some(key), true) = (&args.key, args.value.is_some() || args.unset) {
        return config_write(&args, key, cx);
    }
    let table = config_table(cx)?;
    let shown = match &args.key {
        Some(key) => Some(config_view::lookup(&table, key)?),
        None => None,
    };
    match (shown, args.json) {
        (Some(value), true) => outln!("{}", serde_json::to_string(&value.to_json())?),
        (None, true) => outln!("{}", serde_json::to_string(&table.to_json())?),
        (Some(value), false) => {
            super::output::data_unterminated(&config_view::render_value(value));
        }
        (None, false) => super::output::data_unterminated(&config_view::render_all(&table)),
    }
    Ok(ExitStatus::Success)
}

/// The configuration in use, as `config` shows it.
fn config_table(cx: &Context) -> anyhow::Result<rockstore::lua::Table> {
    let paths = rockstore::config::Config::resolve_as(
        cx.store_flag.clone(),
        cx.config.store.clone(),
        &cx.env,
        rustix::process::geteuid().is_root(),
    )?;
    let (target, _) = cx.target()?;
    let env = cx.build_env(Variables::new());
    let v = &cx.lua.version;
    let file = format!("config-{v}.lua");
    let home = cx.sources.home.clone();
    let home_tree = cx.home_tree().ok();
    let deps_mode = cx.deps_mode()?;
    Ok(rockstore::config_view::effective(
        &rockstore::config_view::ViewInputs {
            files_table: &cx.config.table,
            lua_version: v,
            interpreter: cx.lua.interpreter.as_deref(),
            home: home.as_deref(),
            sysconfdir: &cx.sources.sysconfdir,
            system_file: cx.sources.sysconfdir.join(&file),
            user_file: cx
                .sources
                .explicit
                .clone()
                .or_else(|| home.as_ref().map(|h| h.join(".luarocks").join(&file))),
            project_file: cx
                .project
                .as_ref()
                .map(|p| p.dir.join(".luarocks").join(&file)),
            target: &target.root,
            home_tree: home_tree.as_deref(),
            deps_mode: deps_mode.name(),
            variables: env
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            external_deps_dirs: env.deps_dirs.clone(),
            cache: paths.cache_dir.as_deref(),
            store: &paths.store_root,
            arch: rockstore::build::BuildEnv::host_arch(),
            servers: &cx.asked.servers,
            only_server: cx.asked.only_server.as_deref(),
            dev: cx.asked.dev,
            is_root: rustix::process::geteuid().is_root(),
            project: cx
                .project
                .as_ref()
                .map(|p| (p.dir.as_path(), p.tree.as_path())),
        },
    ))
}
