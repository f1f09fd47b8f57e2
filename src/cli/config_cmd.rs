//! `config`: LuaRocks' configuration as the files, the environment and
//! the flags make it; one key, or the whole table; writing a key.

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::build::variables::Variables;

use super::context::Context;
use super::report::ExitStatus;

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
pub(super) fn config_deprecated(
    args: &ConfigArgs,
    cx: &Context,
) -> anyhow::Result<Option<ExitStatus>> {
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
pub(super) fn config_write(
    args: &ConfigArgs,
    key: &str,
    cx: &Context,
) -> anyhow::Result<ExitStatus> {
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

pub(super) fn is_writable(path: &std::path::Path) -> bool {
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
pub(super) fn config_table(cx: &Context) -> anyhow::Result<rockstore::lua::Table> {
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
            cfg: &cx.config.table,
            lua_version: v,
            interpreter: cx.lua.interpreter.as_deref(),
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
            servers: &cx.server_entries(),
            project: cx
                .project
                .as_ref()
                .map(|p| (p.dir.as_path(), p.tree.as_path())),
        },
    ))
}
