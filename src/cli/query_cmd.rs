//! Commands that read a tree: `list`, `show`, `doc`, `which`, `path`.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;

use rockstore::tree::{ProfileRock, Tree};
use serde::Serialize;

use super::context::Context;
use super::report::ExitStatus;

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

// (Not a doc comment: clap would take it for the subcommand's about text
// once the subcommand's arguments are built deferred; see cli::Command.)
// `show`'s flags: each prints one piece of information, as LuaRocks'.
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

#[derive(Serialize)]
pub(super) struct ListedRock {
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
pub(super) fn list_outdated(
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
    let session = cx.session();
    for installed in latest {
        let offers = match session.offers(&installed.name, None, true) {
            Ok(offers) => offers,
            Err(e) => {
                errln!("warning: {:#}", anyhow::Error::from(e));
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
pub(super) fn installed_rocks(tree: &Tree) -> anyhow::Result<Vec<ListedRock>> {
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
pub(super) fn installed_rock(
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
pub(super) struct ProfileRockView {
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
        let home = cx.session().homepage(&args.name, args.version.as_deref())?;
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
pub(super) fn provided_modules(item: &std::path::Path) -> anyhow::Result<Vec<String>> {
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
                    .map(ProfileRock::id)
                    .or_else(|| super::store_gone::manifest_provider(&tree, &args.module));
                if let Some(rock) = provider {
                    outln!("(provided by {rock})");
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
