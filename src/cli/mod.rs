//! Command-line surface: the clap definitions and dispatch. Each command's
//! help text is the doc comment on its arguments; the work is one library
//! call per command.

#[macro_use]
pub mod output;
mod admin_cmd;
mod adopt_cmd;
mod build_cmd;
pub(crate) mod cache_cmd;
mod config_cmd;
mod context;
mod doctor_cmd;
mod flags;
mod generation_cmd;
mod install_cmd;
mod pack_cmd;
mod progress;
mod query_cmd;
pub mod report;
mod rockspec_cmd;
mod search_cmd;
mod show_page;
mod store_cmd;
mod store_gone;
mod tree_cmd;
mod upload_cmd;
mod verify_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use rockstore::env_vars::EnvVars;

use report::ExitStatus;

// The command line is defined once and derived twice: `Cli` parses, its
// subcommands deferred (each one's arguments built only when it runs, or
// for its help, instead of ~40 argument sets on every start); `EagerCli`
// builds everything up front, as `completion` needs to write the same
// scripts (clap appends a deferred subcommand's own arguments after the
// global ones it has already propagated, which reorders completions).
macro_rules! cli_struct {
    ($(#[$meta:meta])* $vis:vis struct $name:ident, $command:ident) => {
        $(#[$meta])*
        /// rockstore: LuaRocks-compatible rocks on an immutable, content-addressed store.
        ///
        /// Every built rock lives once in the store, named by the blake3 hash of its
        /// contents; rocks trees become symlink profiles over it.
        #[derive(Debug, Parser)]
        #[command(name = "rockstore", version)]
        $vis struct $name {
            /// The store root [default: $ROCKSTORE_STORE, else `rockstore_store` in
            /// LuaRocks' config, else $XDG_DATA_HOME/rockstore, else
            /// ~/.local/share/rockstore]. May stand before or after the command.
            #[arg(
                long,
                global = true,
                help_heading = "Global options",
                value_name = "DIR"
            )]
            pub store: Option<PathBuf>,

            /// Also print each command a build runs (compiler lines), as LuaRocks'
            /// `--verbose`. May stand before or after the command.
            #[arg(short, long, global = true, help_heading = "Global options")]
            pub verbose: bool,

            #[command(flatten)]
            server_flags: flags::ServerFlags,

            #[command(flatten)]
            tree_flags: context::TreeFlags,

            #[command(flatten)]
            cache_flags: cache_cmd::CacheFlags,

            /// None: the help, then the configuration in use (as `luarocks` alone).
            #[command(subcommand)]
            command: Option<$command>,
        }
    };
}

macro_rules! commands {
    ($($body:tt)*) => {
        #[derive(Debug, Subcommand)]
        #[command(defer = true)]
        enum Command {
            $($body)*
        }

        #[derive(Debug, Subcommand)]
        #[allow(dead_code)] // only its clap definition is used
        enum EagerCommand {
            $($body)*
        }
    };
}

cli_struct!(pub struct Cli, Command);
cli_struct!(
    #[allow(dead_code)] // only its clap definition is used
    struct EagerCli,
    EagerCommand
);

commands! {
    /// Low-level store operations (like `nix-store`): init (also shared), add,
    /// ls, info, path, why.
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
    /// Serve the store to its other users (Nix's multi-user model): run as
    /// the store's owner on a store made by `store init --daemon`; every
    /// other user's writes (builds, profiles, tree registrations) go
    /// through it. Builds run as the members of --build-users-group, with
    /// a clean environment. Logs to stderr; runs until killed.
    Daemon(store_cmd::DaemonArgs),
    /// Copy items to a binary cache (blobs, item documents and signed
    /// realisations: `--to URL [ITEM… | --tree T | --all]`), or from one
    /// into the store (`--from URL ITEM…`).
    Copy(cache_cmd::CopyArgs),
    /// Binary cache keys: `cache keygen NAME --out FILE`.
    #[command(subcommand)]
    Cache(cache_cmd::CacheCommand),
    /// Check the store: records against directories, and with --contents every
    /// file against its hash. Exits non-zero and names each problem.
    Verify(verify_cmd::VerifyArgs),
    /// Check a rockspec as `luarocks lint` does: it must load (syntax,
    /// schema of its format, dependency strings, file name), its build
    /// fields must be readable, and it must name a license.
    Lint(rockspec_cmd::LintArgs),
    /// Evaluate a rockspec (in the sandbox) and print it; `--json` prints
    /// the platform-merged table with parsed dependencies, for tooling.
    Rockspec(rockspec_cmd::RockspecArgs),
    /// Build a rock from its sources and install it, as `luarocks build`;
    /// with --no-install, only into the store, printing its item's path.
    /// A recipe already built is reused: nothing is fetched or compiled.
    Build(build_cmd::BuildArgs),
    /// Download a rock or rockspec from the rocks servers into the current
    /// directory.
    Download(search_cmd::DownloadArgs),
    /// Write a rockspec for a new version (or revision) of a rock from an
    /// old one, as `luarocks new_version`: URL and tag guessed by
    /// replacing the version, the new source downloaded for its md5.
    #[command(name = "new_version", visible_alias = "new-version")]
    NewVersion(rockspec_cmd::NewVersionArgs),
    /// Write a rockspec template for a project directory or an archive
    /// URL, as `luarocks write_rockspec`: name, version, URL, homepage,
    /// description, license and builtin modules inferred.
    #[command(name = "write_rockspec", visible_alias = "write-rockspec")]
    WriteRockspec(rockspec_cmd::WriteRockspecArgs),
    /// Pack a store item as a binary rock (`.all.rock` or `.<arch>.rock`)
    /// LuaRocks can install, or a rockspec with its sources as `.src.rock`.
    Pack(pack_cmd::PackArgs),
    /// Pack a source rock file (.src.rock extension) and upload it and the
    /// rockspec to the public rocks repository (LuaRocks' upload API).
    Upload(upload_cmd::UploadArgs),
    /// Unpack a rock or rockspec (with its sources) into `<name>-<version>/`.
    Unpack(search_cmd::UnpackArgs),
    /// Search the rocks servers (names matching as substrings; versions
    /// newest first).
    Search(search_cmd::SearchArgs),
    /// Install a rock and its dependencies into a tree, as a new generation.
    Install(install_cmd::InstallArgs),
    /// Build the rockspec in the current directory with that directory as
    /// its sources (as `luarocks make`) and install it; rebuilt only when
    /// the directory changed.
    Make(install_cmd::MakeArgs),
    /// Remove a rock from a tree (refused when other rocks there need it).
    Remove(tree_cmd::RemoveArgs),
    /// Remove every rock from a tree (a new, empty generation).
    Purge(tree_cmd::PurgeArgs),
    /// List the rocks installed in a tree.
    List(query_cmd::ListArgs),
    /// Show an installed rock.
    Show(query_cmd::ShowArgs),
    /// Show an installed rock's documentation: its doc files, then its
    /// index, readme or manual (`--list`, `--porcelain`, `--home`).
    Doc(query_cmd::DocArgs),
    /// What `luarocks-admin` does for a rocks server: make-manifest, add and
    /// remove (a local directory), refresh-cache.
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
    /// Make the current directory a LuaRocks project, as `luarocks init`:
    /// a rockspec template, `.luarocks/`, `lua_modules/`, `./lua` and
    /// `./luarocks` wrappers, `.gitignore` entries.
    Init(tree_cmd::InitArgs),
    /// Run the project's test suite (the rockspec's `test` table), after
    /// installing its test dependencies, as `luarocks test`.
    Test(tree_cmd::TestArgs),
    /// Print a shell completion script (bash, zsh or fish), as `luarocks
    /// completion`: `source <(rockstore completion bash)` in ~/.bashrc.
    Completion(CompletionArgs),
    /// Tell which file a module is loaded from, and which rock provides it.
    Which(query_cmd::WhichArgs),
    /// Print shell commands setting LUA_PATH, LUA_CPATH and PATH for the trees.
    Path(query_cmd::PathArgs),
    /// List a tree's generations.
    Generations(generation_cmd::GenerationsArgs),
    /// Switch a tree back to its previous generation.
    Rollback,
    /// Switch a tree to generation N.
    SwitchGeneration(generation_cmd::SwitchArgs),
    /// Delete generations (never the current one); then `gc` frees their items.
    DeleteGenerations(generation_cmd::DeleteGenerationsArgs),
    /// Take a tree LuaRocks made into the store: each rock becomes an item
    /// (its files md5-checked against its rock_manifest), the tree a
    /// profile whose new generation holds them. Files no rock owns stay.
    /// Again after `luarocks` changed an adopted tree: takes the changes in.
    Adopt(adopt_cmd::AdoptArgs),
    /// Give a tree back to LuaRocks: real files and LuaRocks' manifest in
    /// place of rockstore's links; `.rockstore/` goes.
    Release(adopt_cmd::ReleaseArgs),
    /// Delete every item no kept generation of any registered tree uses.
    Gc(generation_cmd::GcArgs),
    /// Print the effective configuration (LuaRocks' config files, the
    /// environment and the flags), or one key of it.
    Config(config_cmd::ConfigArgs),
    /// Report rocks of a tree whose dependency another tree provided and no
    /// longer does; `--fix` links the item they used into the tree.
    Doctor(tree_cmd::DoctorArgs),
}

/// Parses the words of a command line (the program's name first) as
/// [`Cli`]. When the subcommand being run can be told from the words before
/// it, clap is given a command line holding only that subcommand: building
/// the whole one copies each global argument (~27) into each subcommand
/// (~40), most of a `list`'s start-up. Help or version asked, a word not
/// known, or anything unclear before the subcommand take the whole command
/// line, so every message stays as it was.
pub fn parse(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let full = Cli::command();
    let mut cmd = match running(&full, &args) {
        Some(sub) => only(&full, sub),
        None => full,
    };
    let mut matches = cmd.try_get_matches_from_mut(args)?;
    // As clap's own `try_parse_from` formats such an error.
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut Cli::command()))
}

/// The subcommand `args` run, when the words before it are only global
/// options clap would read the same way, and no help is asked after it.
fn running<'c>(full: &'c clap::Command, args: &[std::ffi::OsString]) -> Option<&'c clap::Command> {
    let asks_help =
        |w: &std::ffi::OsString| matches!(w.to_str(), Some("-h" | "--help" | "-V" | "--version"));
    // Whether the option's value is the next word (never optional).
    let value_follows = |arg: &clap::Arg| {
        if arg.get_num_args().is_some_and(|n| n.min_values() == 0) {
            return None;
        }
        Some(arg.get_action().takes_values())
    };
    let mut words = args.iter().skip(1).enumerate();
    while let Some((_, word)) = words.next() {
        let word = word.to_str()?;
        let follows = if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = long
                .split_once('=')
                .map_or((long, false), |(n, _)| (n, true));
            let arg = full.get_arguments().find(|a| a.get_long() == Some(name))?;
            value_follows(arg)? && !inline
        } else if let Some(short) = word.strip_prefix('-') {
            // One short flag alone (`-v`); clusters and `-` take the long way.
            let mut chars = short.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return None;
            };
            let arg = full.get_arguments().find(|a| a.get_short() == Some(c))?;
            value_follows(arg)?
        } else {
            let sub = full.find_subcommand(word)?;
            let rest = words.map(|(i, _)| &args[i + 1]);
            return (!rest.take_while(|w| *w != "--").any(asks_help)).then_some(sub);
        };
        if follows {
            words.next()?;
        }
    }
    None
}

/// `full` with only `sub` among its subcommands: the same name, version,
/// about, arguments and groups.
fn only(full: &clap::Command, sub: &clap::Command) -> clap::Command {
    let mut root = clap::Command::new("rockstore").version(env!("CARGO_PKG_VERSION"));
    if let Some(about) = full.get_about() {
        root = root.about(about.clone());
    }
    if let Some(about) = full.get_long_about() {
        root = root.long_about(about.clone());
    }
    root.args(full.get_arguments().cloned())
        .groups(full.get_groups().cloned())
        .subcommand(sub.clone())
}

/// Runs one parsed command line.
pub fn run(cli: Cli, env: &EnvVars) -> anyhow::Result<ExitStatus> {
    // Resolved only by commands that use a store: reading a rockspec needs
    // neither a store nor a HOME.
    let cx = || {
        context::Context::new(
            &cli.server_flags,
            &cli.tree_flags,
            &cli.cache_flags,
            cli.store.clone(),
            env,
        )
    };
    let open = |must_exist: bool| -> anyhow::Result<Box<dyn rockstore::backend::StoreBackend>> {
        let cx = context::Context::for_store(
            &cli.server_flags,
            &cli.tree_flags,
            &cli.cache_flags,
            cli.store.clone(),
            env,
        )?;
        if must_exist {
            cx.existing_store()
        } else {
            cx.store()
        }
    };
    output::set_verbose(cli.verbose);
    if let Some(spec) = &env.failpoint {
        // Commands that change a tree without a store (rollback) stop at
        // the tree's failpoints too.
        rockstore::store::failpoint::set_process(
            rockstore::store::failpoint::Failpoints::parse(spec)
                .resume_through(env.failpoint_resume.clone().map(std::path::PathBuf::from)),
        );
    }
    let Some(command) = cli.command else {
        return config_cmd::summary(&cx()?);
    };
    match command {
        Command::Store(store_cmd::StoreCommand::Init(args)) => store_cmd::init(args),
        Command::Store(cmd) => {
            let only_reads = !matches!(
                cmd,
                store_cmd::StoreCommand::Add(_) | store_cmd::StoreCommand::RegisterRealisation(_)
            );
            store_cmd::run(cmd, &*open(only_reads)?)
        }
        Command::Verify(args) => verify_cmd::run(args, open(true)?.store()),
        Command::Daemon(args) => {
            let cx = cx()?;
            store_cmd::daemon(args, &cx, cx.open_store()?, cx.fetcher())
        }
        Command::Copy(args) => cache_cmd::copy(args, &cx()?),
        Command::Cache(command) => cache_cmd::cache(command),
        Command::Lint(args) => rockspec_cmd::lint(args),
        Command::Rockspec(args) => rockspec_cmd::show(args),
        Command::Build(args) => build_cmd::build(args, &cx()?),
        Command::Download(args) => search_cmd::download(args, &cx()?),
        Command::Pack(args) => pack_cmd::pack(args, &cx()?),
        Command::Upload(args) => upload_cmd::upload(args, &cx()?),
        Command::NewVersion(args) => rockspec_cmd::new_version(args, &cx()?),
        Command::WriteRockspec(args) => rockspec_cmd::write_rockspec(args, &cx()?),
        Command::Unpack(args) => search_cmd::unpack(args, &cx()?),
        Command::Search(args) => search_cmd::search(args, &cx()?),
        Command::Install(args) => install_cmd::install(args, &cx()?),
        Command::Make(args) => install_cmd::make(args, &cx()?),
        Command::Remove(args) => tree_cmd::remove(args, &cx()?),
        Command::Purge(args) => tree_cmd::purge(args, &cx()?),
        Command::List(args) => query_cmd::list(args, &cx()?),
        Command::Show(args) => query_cmd::show(args, &cx()?),
        Command::Doc(args) => query_cmd::doc(args, &cx()?),
        Command::Completion(args) => completion(args),
        Command::Test(args) => tree_cmd::test(args, &cx()?),
        Command::Init(args) => tree_cmd::init(args, &cx()?),
        Command::Admin(command) => admin_cmd::run(command, cx),
        Command::Which(args) => query_cmd::which(args, &cx()?),
        Command::Path(args) => query_cmd::path(args, &cx()?),
        Command::Generations(args) => generation_cmd::generations(args, &cx()?),
        Command::Rollback => generation_cmd::rollback(&cx()?),
        Command::SwitchGeneration(args) => generation_cmd::switch_generation(args, &cx()?),
        Command::DeleteGenerations(args) => generation_cmd::delete_generations(args, &cx()?),
        Command::Gc(args) => generation_cmd::gc(args, &cx()?),
        Command::Adopt(args) => adopt_cmd::adopt(args, &cx()?),
        Command::Release(args) => adopt_cmd::release(args, &cx()?),
        Command::Doctor(args) => doctor_cmd::doctor(args, &cx()?),
        Command::Config(args) => config_cmd::config(args, &cx()?),
    }
}

// (Not a doc comment: clap would take it for the subcommand's about text
// once the subcommand's arguments are built deferred; see cli::Command.)
// `rockstore completion`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `luarocks completion` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompletionShell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

fn completion(args: CompletionArgs) -> anyhow::Result<ExitStatus> {
    use clap::CommandFactory;
    let shell = match args.shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut EagerCli::command(), "rockstore", &mut script);
    outln!("{}", String::from_utf8_lossy(&script).trim_end());
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn words(line: &str) -> Vec<std::ffi::OsString> {
        std::iter::once("rockstore")
            .chain(line.split_whitespace())
            .map(Into::into)
            .collect()
    }

    #[test]
    fn the_subcommand_run_is_told_only_when_clear() {
        let full = Cli::command();
        let name = |line: &str| running(&full, &words(line)).map(|c| c.get_name().to_owned());
        assert_eq!(name("list").as_deref(), Some("list"));
        assert_eq!(
            name("--store S -v --tree=T list x").as_deref(),
            Some("list")
        );
        assert_eq!(
            name("--lua-version 5.4 new-version x").as_deref(),
            Some("new_version")
        );
        // The value of --tree, not a subcommand; then nothing.
        assert_eq!(name("--tree list"), None);
        assert_eq!(name("list --help"), None);
        assert_eq!(name("-h list"), None);
        assert_eq!(name("--bogus list"), None);
        assert_eq!(name("lis"), None);
        assert_eq!(name("-vv list"), None);
        assert_eq!(name("install -- --help").as_deref(), Some("install"));
    }

    #[test]
    fn parsing_with_only_the_subcommand_run_reads_the_same() {
        for line in [
            "--store S list --porcelain",
            "--tree T -v show foo 1.0 --home",
            "--only-server http://h --lua-version 5.1 install a b==1 --deps-mode none",
            "path --lr-path --tree T",
            "store ls --store S",
            "list extra --bogus",
            "show",
            "copy --to file:///c --all",
        ] {
            let ours = parse(words(line)).map(|c| format!("{c:?}"));
            let clap = Cli::try_parse_from(words(line)).map(|c| format!("{c:?}"));
            match (ours, clap) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{line}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{line}"),
                (a, b) => panic!("{line}: {a:?} against {b:?}"),
            }
        }
    }
}
