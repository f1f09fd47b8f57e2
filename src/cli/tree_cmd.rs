//! Changing a tree besides installing: `remove`, `purge`, `init`, `test`,
//! and what the tree commands share (the installer, hints).

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::build::variables::Variables;
use rockstore::build::Builder;
use rockstore::install::{Installer, Request, Settings};

use rockstore::tree::Tree;

use super::context::Context;
use super::report::ExitStatus;

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
pub struct DoctorArgs {
    /// Link each kept item into this tree, in a new generation.
    #[arg(long)]
    pub fix: bool,
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
            hooks_enabled: cx.config.hooks_enabled,
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
        &super::output::Terminal,
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
pub(super) fn shell_word(path: &std::path::Path) -> String {
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
pub(super) fn undo_hint(cx: &Context, tree: &Tree, n: u64) -> String {
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

// (Not a doc comment: clap would take it for the subcommand's about text
// once the subcommand's arguments are built deferred; see cli::Command.)
// `rockstore purge`.
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
    pub template: super::flags::TemplateFlags,
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
        super::install_cmd::report_install(cx, &tree, &outcome);
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
