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

/// rockstore: LuaRocks-compatible rocks on an immutable, content-addressed store.
///
/// Every built rock lives once in the store, named by the blake3 hash of its
/// contents; rocks trees become symlink profiles over it.
#[derive(Debug, Parser)]
#[command(name = "rockstore", version)]
pub struct Cli {
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
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
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

/// `rockstore completion`.
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
    clap_complete::generate(shell, &mut Cli::command(), "rockstore", &mut script);
    outln!("{}", String::from_utf8_lossy(&script).trim_end());
    Ok(ExitStatus::Success)
}
