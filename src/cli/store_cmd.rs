//! `rockstore store …`: plumbing over the store, as `nix-store` is over Nix's.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rockstore::backend::StoreBackend;
use rockstore::store::db::ItemKind;
use rockstore::store::{Item, ItemSpec, Store};
use serde::Serialize;

use super::output;
use super::report::ExitStatus;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create a store. With --shared --group G: one store for every user in
    /// group G (setgid and sticky directories, explicit modes whatever the
    /// umask; only the owner or root deletes items).
    Init(InitArgs),
    /// Copy a directory into the store as an item and print the item's path.
    /// Adding the same contents again returns the existing item.
    Add(AddArgs),
    /// List the items in the store.
    Ls(ListArgs),
    /// Show an item's record: hash, name, version, kind, references, size.
    Info(InfoArgs),
    /// Print the path of an item.
    Path(PathArgs),
    /// Print the chain of roots that keeps an item alive (tree and
    /// generation, then the items that reference it), or say that nothing
    /// does and `gc` would free it.
    Why(PathArgs),
    /// Declare ITEM the realisation of recipe KEY, so builds of that
    /// recipe reuse it (a build you made elsewhere). In a daemon store only
    /// trusted users may: everyone else's realisations are the daemon's.
    RegisterRealisation(RegisterRealisationArgs),
}

#[derive(Debug, Args)]
pub struct RegisterRealisationArgs {
    /// The recipe key (`blake3:<hex>` or 64 hex digits).
    pub key: String,
    /// The item (path, name or hash prefix).
    pub item: String,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The directory to add (it is copied; the original is left alone).
    pub dir: PathBuf,
    /// The item's name (letters, digits, `+-._`).
    #[arg(long)]
    pub name: String,
    /// The item's version (letters, digits, `+-._`).
    #[arg(long)]
    pub version: String,
    /// What the item holds: rock, profile, toolchain or data.
    #[arg(long, default_value = "data", value_parser = parse_kind)]
    pub kind: ItemKind,
    /// An item this one needs (repeatable); links may lead into it.
    #[arg(long = "ref", value_name = "ITEM")]
    pub references: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The store root to create.
    pub dir: PathBuf,
    /// Make it a store shared by the members of --group.
    #[arg(long, requires = "group")]
    pub shared: bool,
    /// The group whose members share the store.
    #[arg(long, requires = "shared")]
    pub group: Option<String>,
    /// Make (or convert an existing store, shared or not, into) a daemon
    /// store: everything owned by you, the daemon's user, nothing group- or
    /// world-writable, every item re-hashed; other users then ask
    /// `rockstore daemon` for every write.
    #[arg(long, conflicts_with_all = ["shared", "group"])]
    pub daemon: bool,
}

// (Not a doc comment: clap would take it for the subcommand's about text
// once the subcommand's arguments are built deferred; see cli::Command.)
// `rockstore daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Users allowed to connect (a name or `@group`; repeatable) [default:
    /// config's `rockstore_allowed_users`, else everyone]. Build users are
    /// never served.
    #[arg(long = "allowed-user", value_name = "USER")]
    pub allowed_users: Vec<String>,
    /// Users trusted as admins: they may collect garbage and register
    /// realisations, and have no quota (root always is; repeatable; adds to
    /// config's `rockstore_trusted_users`).
    #[arg(long = "trusted-user", value_name = "USER")]
    pub trusted_users: Vec<String>,
    /// The group whose members builds run as [default: config's
    /// `rockstore_build_users_group`, else rockstore-build].
    #[arg(long, value_name = "GROUP")]
    pub build_users_group: Option<String>,
    /// `required`: builds run only in bubblewrap (no network, no home, no
    /// sockets), none without it; `relaxed`: without bubblewrap, builds run
    /// as build users only, with the network, and every client is told
    /// [default: config's `rockstore_sandbox`, else required].
    #[arg(long, value_name = "MODE", value_parser = ["required", "relaxed"])]
    pub sandbox: Option<String>,
    /// Seconds a build may take, from its lease of a build user to its
    /// last command [default: config's `rockstore_build_timeout`, else 3600].
    #[arg(long, value_name = "SECS")]
    pub build_timeout: Option<u64>,
    /// Seconds a build may print nothing before it is stopped [default:
    /// config's `rockstore_build_max_silent`, else 600].
    #[arg(long, value_name = "SECS")]
    pub build_max_silent: Option<u64>,
    /// Bytes a build may write: each file, its private /tmp, and its
    /// build directory in all (K/M/G suffixes); past it the build is
    /// stopped [default: config's `rockstore_build_max_disk`, else 4G].
    #[arg(long, value_name = "SIZE")]
    pub build_max_disk: Option<String>,
    /// Bytes of data (heap, private mappings) each process of a build may
    /// have, RLIMIT_DATA [default: config's `rockstore_build_max_memory`,
    /// else 4G].
    #[arg(long, value_name = "SIZE")]
    pub build_max_memory: Option<String>,
    /// Processes a build may have at once, RLIMIT_NPROC [default: config's
    /// `rockstore_build_max_processes`, else 512].
    #[arg(long, value_name = "N")]
    pub build_max_processes: Option<u64>,
    /// Build users one user may hold at once while others wait [default:
    /// config's `rockstore_max_builds_per_user`, else all but one].
    #[arg(long, value_name = "N")]
    pub max_builds_per_user: Option<usize>,
    /// Store space only a member's trees may keep (items her trees alone
    /// use, plus what she built that nothing keeps yet): bytes with K/M/G/T,
    /// a percentage of the store's file system, or `none`; trusted users
    /// have none [default: config's `rockstore_user_quota`, else 25%].
    #[arg(long, value_name = "SIZE")]
    pub user_quota: Option<String>,
    /// Connections one user may have open at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_connections_per_user: usize,
    /// Connections open at once in all.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
    /// Seconds every request has to arrive whole, whatever its size; a
    /// request also has its size at --request-min-rate [default: config's
    /// `rockstore_request_grace`, else 30].
    #[arg(long, value_name = "SECS")]
    pub request_grace: Option<u64>,
    /// Slowest a whole request (header and payload) may arrive, in bytes
    /// a second (K/M/G suffixes): a request of S bytes is cut after
    /// --request-grace + S / this [default: config's
    /// `rockstore_request_min_rate`, else 1M].
    #[arg(long, value_name = "SIZE")]
    pub request_min_rate: Option<String>,
    /// Payload bytes (rock files, rockspecs) held in memory for all
    /// requests at once [default: config's `rockstore_upload_budget`, else
    /// 512M].
    #[arg(long, value_name = "SIZE")]
    pub upload_budget: Option<String>,
    /// Of --upload-budget, what one user's requests may hold at once
    /// [default: config's `rockstore_upload_share`, else a quarter of it].
    #[arg(long, value_name = "SIZE")]
    pub upload_share: Option<String>,
    /// Seconds a member's `hold` (a client's install in flight keeps the
    /// store from being collected) may last before the daemon ends it
    /// [default: config's `rockstore_max_hold`, else the build time limit,
    /// so an honest install that builds is never cut].
    #[arg(long, value_name = "SECS")]
    pub max_hold: Option<u64>,
}

/// `rockstore daemon`: serve the store until killed. Root's config
/// (`rockstore_allowed_users`, `rockstore_trusted_users`,
/// `rockstore_build_users_group`, `rockstore_sandbox`,
/// `rockstore_build_timeout`, `rockstore_build_max_silent`,
/// `rockstore_max_builds_per_user`, `rockstore_user_quota`,
/// `rockstore_request_grace`, `rockstore_request_min_rate`,
/// `rockstore_upload_budget`, `rockstore_upload_share`, `rockstore_max_hold`,
/// `rockstore_build_max_disk`, `rockstore_build_max_memory`,
/// `rockstore_build_max_processes`,
/// `rockstore_substituters`, `rockstore_trusted_public_keys`,
/// `rockstore_push_to`, `rockstore_secret_key_files`) applies; flags add to
/// or replace it.
pub fn daemon(
    args: DaemonArgs,
    cx: &super::context::Context,
    store: Store,
    fetcher: rockstore::fetch::Fetcher,
) -> anyhow::Result<ExitStatus> {
    use rockstore::daemon::{BuildLimits, DaemonConfig, Quota, SandboxMode};
    let files = &cx.config;
    let defaults = DaemonConfig::default();
    let sandbox = match args.sandbox.as_deref().or(files.daemon_sandbox.as_deref()) {
        None | Some("required") => SandboxMode::Required,
        Some("relaxed") => SandboxMode::Relaxed,
        Some(other) => anyhow::bail!(
            "rockstore_sandbox = \"{other}\" is not a sandbox mode (required or relaxed)"
        ),
    };
    let quota_text = args.user_quota.or_else(|| files.daemon_user_quota.clone());
    let user_quota = match quota_text {
        None => defaults.user_quota,
        Some(text) => Quota::parse(&text).ok_or_else(|| {
            anyhow::anyhow!("`{text}` is not a quota (write 10G, 512M, 25% or none)")
        })?,
    };
    let size = |flag: &str, text: &str| match Quota::parse(text) {
        Some(Quota::Bytes(n)) if n > 0 => Ok(n),
        _ => Err(anyhow::anyhow!(
            "--{flag} {text}: not a size (write 512M, 64K, 1G)"
        )),
    };
    // A flag, else root's config, else the default.
    let sized = |flag: &str, given: Option<String>, file: &Option<String>, default: u64| match given
        .or_else(|| file.clone())
    {
        Some(text) => size(flag, &text),
        None => Ok(default),
    };
    let request_defaults = rockstore::daemon::RequestLimits::default();
    let upload_budget = sized(
        "upload-budget",
        args.upload_budget,
        &files.daemon_upload_budget,
        request_defaults.upload_budget,
    )?;
    let requests = rockstore::daemon::RequestLimits {
        grace: std::time::Duration::from_secs(
            args.request_grace
                .or(files.daemon_request_grace)
                .unwrap_or(request_defaults.grace.as_secs())
                .max(1),
        ),
        min_rate: sized(
            "request-min-rate",
            args.request_min_rate,
            &files.daemon_request_min_rate,
            request_defaults.min_rate,
        )?,
        upload_budget,
        upload_share: sized(
            "upload-share",
            args.upload_share,
            &files.daemon_upload_share,
            upload_budget / 4,
        )?
        .min(upload_budget),
    };
    let seconds = |flag: Option<u64>, file: Option<u64>, default: std::time::Duration| {
        flag.or(file)
            .map_or(default, std::time::Duration::from_secs)
            .max(std::time::Duration::from_secs(1))
    };
    let limits = BuildLimits {
        timeout: seconds(
            args.build_timeout,
            files.daemon_build_timeout,
            defaults.limits.timeout,
        ),
        max_silent: seconds(
            args.build_max_silent,
            files.daemon_build_max_silent,
            defaults.limits.max_silent,
        ),
        max_disk: sized(
            "build-max-disk",
            args.build_max_disk,
            &files.daemon_build_max_disk,
            defaults.limits.max_disk,
        )?,
        max_memory: sized(
            "build-max-memory",
            args.build_max_memory,
            &files.daemon_build_max_memory,
            defaults.limits.max_memory,
        )?,
        max_processes: args
            .build_max_processes
            .or(files.daemon_build_max_processes)
            .unwrap_or(defaults.limits.max_processes)
            .max(1),
    };
    let mut config = DaemonConfig {
        allowed_users: files.daemon_allowed_users.clone(),
        build_users_group: args
            .build_users_group
            .or_else(|| files.daemon_build_users_group.clone())
            .unwrap_or_else(|| "rockstore-build".to_owned()),
        sandbox,
        limits,
        max_builds_per_user: args
            .max_builds_per_user
            .or(files.daemon_max_builds_per_user.map(|n| n as usize)),
        user_quota,
        max_connections: args.max_connections.max(1),
        max_connections_per_user: args.max_connections_per_user.max(1),
        substituters: cx
            .cache_flags
            .substituters
            .iter()
            .chain(&files.substituters)
            .cloned()
            .collect(),
        trusted_public_keys: cx
            .cache_flags
            .trusted_public_keys
            .iter()
            .chain(&files.trusted_public_keys)
            .cloned()
            .collect(),
        push_to: cx
            .cache_flags
            .push_to
            .clone()
            .or_else(|| files.push_to.clone()),
        secret_key_files: cx
            .cache_flags
            .secret_key_files
            .iter()
            .chain(&files.secret_key_files)
            .cloned()
            .collect(),
        cache_timeouts: cx.timeouts()?,
        s3: cx.s3(),
        requests,
        max_hold: args
            .max_hold
            .or(files.daemon_max_hold)
            .map_or(limits.timeout, |s| std::time::Duration::from_secs(s.max(1))),
        ..defaults
    };
    if !args.allowed_users.is_empty() {
        config.allowed_users = Some(args.allowed_users);
    }
    config
        .trusted_users
        .extend(files.daemon_trusted_users.iter().cloned());
    config.trusted_users.extend(args.trusted_users);
    rockstore::daemon::server::serve(
        store,
        fetcher,
        config,
        Box::new(|line: &str| errln!("{line}")),
    )?;
    Ok(ExitStatus::Success)
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of one item path per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Item path, item name, `blake3:` hash, name prefix or rock name.
    pub item: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    /// Item name, `blake3:` hash, name prefix or rock name.
    pub item: String,
}

fn parse_kind(text: &str) -> Result<ItemKind, String> {
    ItemKind::parse(text)
        .ok_or_else(|| format!("unknown kind `{text}` (expected rock, profile, toolchain or data)"))
}

/// An item as `--json` shows it.
#[derive(Serialize)]
struct ItemView<'a> {
    item: &'a str,
    path: String,
    #[serde(flatten)]
    record: &'a rockstore::store::db::ItemRecord,
}

fn view(item: &Item) -> ItemView<'_> {
    ItemView {
        item: item.name.as_str(),
        path: item.path.display().to_string(),
        record: &item.record,
    }
}

/// `rockstore store init [--shared --group G] DIR`.
pub fn init(args: InitArgs) -> anyhow::Result<ExitStatus> {
    let options = rockstore::store::StoreOptions {
        reporter: std::sync::Arc::new(output::Terminal),
        ..Default::default()
    };
    let store = match &args.group {
        None if args.daemon => Store::init_daemon(&args.dir, options)?,
        Some(group) => {
            let gid = rockstore::store::shared::group_id(group)?;
            Store::init_shared(&args.dir, gid, options)?
        }
        None => Store::open(&args.dir, options)?,
    };
    output::data(&store.root().display().to_string());
    Ok(ExitStatus::Success)
}

pub fn run(command: StoreCommand, backend: &dyn StoreBackend) -> anyhow::Result<ExitStatus> {
    let store = backend.store();
    match command {
        StoreCommand::Init(args) => return init(args),
        StoreCommand::Add(args) => {
            let spec = ItemSpec {
                name: args.name,
                version: args.version,
                kind: args.kind,
                references: args.references,
                recipe_key: None,
            };
            let item = backend.add_dir(&args.dir, &spec)?;
            output::data(&item.path.display().to_string());
        }
        StoreCommand::Ls(args) => {
            let items = store.list()?;
            if args.json {
                output::json(&items.iter().map(view).collect::<Vec<_>>())?;
            } else {
                for item in &items {
                    output::data(&item.path.display().to_string());
                }
            }
        }
        StoreCommand::Info(args) => {
            let item = store.find(&args.item)?;
            if args.json {
                output::json(&view(&item))?;
            } else {
                let r = &item.record;
                output::data(&format!("item:        {}", item.name));
                output::data(&format!("path:        {}", item.path.display()));
                output::data(&format!("hash:        {}", r.hash));
                output::data(&format!("name:        {}", r.name));
                output::data(&format!("version:     {}", r.version));
                output::data(&format!("kind:        {:?}", r.kind).to_lowercase());
                output::data(&format!("files:       {} ({} bytes)", r.file_count, r.size));
                output::data(&format!("references:  {}", r.references.join(" ")));
                if let Some(key) = r.recipe_key {
                    output::data(&format!("recipe key:  {key}"));
                    if let Some(source) = store.source_of(&key)? {
                        output::data(&format!("source:      {} {}", source.url, source.blake3));
                    }
                }
                output::data(&format!(
                    "created:     {} by uid {}",
                    r.created, r.creator_uid
                ));
            }
        }
        StoreCommand::Path(args) => {
            output::data(&store.find(&args.item)?.path.display().to_string());
        }
        StoreCommand::RegisterRealisation(args) => {
            let key = rockstore::store::content_hash::RecipeKey::parse_hex(&args.key)?;
            let item = store.find(&args.item)?;
            backend.register_realisation(&key, &item.name)?;
            errln!("{} now realises recipe {key}", item.name);
        }
        StoreCommand::Why(args) => {
            let item = store.find(&args.item)?;
            match rockstore::gc::why(store, &item.name)? {
                Some((root, chain)) => {
                    output::data(&format!(
                        "{} generation {}",
                        root.tree.display(),
                        root.generation
                    ));
                    for (depth, name) in chain.iter().enumerate() {
                        output::data(&format!("{}-> {name}", "  ".repeat(depth + 1)));
                    }
                }
                None => {
                    output::status(&format!(
                        "nothing keeps {} alive: no generation of a registered tree uses it; `rockstore gc` frees it",
                        item.name
                    ));
                    return Ok(ExitStatus::Failure);
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}
