//! Binary caches on the command line: the flags every building command
//! takes (`--substituter`, `--trusted-public-key`, `--secret-key-file`,
//! `--no-substitute`, `--cache-only`, `--push-to`), `rockstore copy`, and
//! `rockstore cache keygen`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use rockstore::backend::StoreBackend;
use std::sync::Arc;

use rockstore::cache::keys::SecretKey;
use rockstore::cache::lease::{LeasePolicy, Leases};
use rockstore::cache::push::{self, Pusher};
use rockstore::cache::substitute::Substituters;
use rockstore::cache::transport::{S3Credentials, Timeouts};
use rockstore::cache::Cache;
use rockstore::install::RecordedRock;

use super::context::Context;
use super::report::ExitStatus;

/// Binary cache flags; global, as LuaRocks' server flags are.
#[derive(Debug, Args, Clone, Default)]
pub struct CacheFlags {
    /// A binary cache to substitute builds from (file://, http(s)://,
    /// s3://bucket/prefix?endpoint=…&region=…), asked before the config's
    /// `rockstore_substituters`; repeatable.
    #[arg(
        long = "substituter",
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub substituters: Vec<String>,
    /// A key whose signed builds are trusted (`name:base64`, as `cache
    /// keygen` prints it), besides the config's
    /// `rockstore_trusted_public_keys`; repeatable.
    #[arg(
        long = "trusted-public-key",
        global = true,
        help_heading = "Global options",
        value_name = "KEY"
    )]
    pub trusted_public_keys: Vec<String>,
    /// A secret key file (from `cache keygen`) realisations pushed are
    /// signed with, besides the config's `rockstore_secret_key_files`.
    #[arg(
        long = "secret-key-file",
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub secret_key_files: Vec<PathBuf>,
    /// Ask no binary cache: build everything not already in the store.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "cache_only"
    )]
    pub no_substitute: bool,
    /// Build nothing: a rock no substituter has a trusted build of fails
    /// the command.
    #[arg(long, global = true, help_heading = "Global options")]
    pub cache_only: bool,
    /// Push every rock this command builds (and its signed realisation)
    /// to this cache, as it is built [default: config's `rockstore_push_to`].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub push_to: Option<String>,
    /// Seconds a build lease lasts unless its holder renews it: how long
    /// the hosts of a fleet wait for a killed host's build [default: 60].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "SECONDS"
    )]
    pub lease_timeout: Option<u64>,
}

impl Context {
    pub fn s3(&self) -> Option<S3Credentials> {
        S3Credentials::resolve(
            &self.env.aws,
            self.env.home.as_deref().map(std::path::Path::new),
        )
    }

    /// How long binary cache requests may take: `--timeout` (LuaRocks'
    /// network timeout, 30 s) is every request's grace period, and the
    /// config's `rockstore_cache_min_rate` (1M) the rate its size adds at
    /// (store-format/v1/cache.md, "Deadlines").
    pub fn timeouts(&self) -> anyhow::Result<Timeouts> {
        let min_rate = match &self.config.cache_min_rate {
            Some(text) => match rockstore::units::parse_size(text) {
                Some(n) if n > 0 => n,
                _ => anyhow::bail!(
                    "rockstore_cache_min_rate = {text:?}: not a size (write 1M, 512K)"
                ),
            },
            None => rockstore::cache::transport::DEFAULT_MIN_RATE,
        };
        Ok(Timeouts {
            grace: std::time::Duration::from_secs(self.server_flags.timeout.max(1)),
            min_rate,
            ..Timeouts::default()
        })
    }

    /// The substituters the flags and config name (none with
    /// `--no-substitute`, or when none are named).
    pub fn substituters(&self) -> anyhow::Result<Option<Substituters>> {
        let flags = &self.cache_flags;
        if flags.no_substitute {
            return Ok(None);
        }
        let mut urls = flags.substituters.clone();
        urls.extend(self.config.substituters.iter().cloned());
        urls.dedup();
        if urls.is_empty() {
            if flags.cache_only {
                anyhow::bail!("--cache-only needs a substituter (--substituter URL, or rockstore_substituters in the config)");
            }
            return Ok(None);
        }
        let mut keys = flags.trusted_public_keys.clone();
        keys.extend(self.config.trusted_public_keys.iter().cloned());
        let mut substituters = Substituters::from_config(
            &urls,
            &keys,
            flags.cache_only,
            self.timeouts()?,
            self.s3().as_ref(),
            Box::new(|w: &str| errln!("warning: {w}")),
        )?;
        if let Some(leases) = self.leases(&urls)? {
            substituters.set_leases(leases);
        }
        Ok(Some(substituters))
    }

    fn push_url(&self) -> Option<String> {
        self.cache_flags
            .push_to
            .clone()
            .or_else(|| self.config.push_to.clone())
    }

    /// Build leases on the cache builds are pushed to, when it is also
    /// asked as a substituter (waiters find the realisation there) and its
    /// engine can refuse a second writer; an engine that cannot is said
    /// once. Made once per run.
    fn leases(&self, substituters: &[String]) -> anyhow::Result<Option<Arc<Leases>>> {
        if let Some(made) = self.leases.get() {
            return Ok(made.clone());
        }
        let made = match self.push_url() {
            Some(url)
                if substituters
                    .iter()
                    .any(|s| s.trim_end_matches('/') == url.trim_end_matches('/')) =>
            {
                let policy = LeasePolicy {
                    ttl: std::time::Duration::from_secs(
                        self.cache_flags.lease_timeout.unwrap_or(60).max(1),
                    ),
                    ..LeasePolicy::default()
                };
                let leases = Leases::for_cache(self.cache(&url)?, policy).map(|l| {
                    Arc::new(l.with_messages(
                        Box::new(|w: &str| errln!("warning: {w}")),
                        Box::new(|n: &str| errln!("note: {n}")),
                    ))
                });
                if leases.is_none() {
                    errln!(
                        "note: {url} cannot refuse a second writer (an HTTP PUT overwrites), so no build lease is taken: every host that misses in it builds"
                    );
                }
                leases
            }
            _ => None,
        };
        Ok(self.leases.get_or_init(|| made).clone())
    }

    /// The secret keys pushes are signed with.
    pub fn secret_keys(&self) -> anyhow::Result<Vec<SecretKey>> {
        let mut files = self.cache_flags.secret_key_files.clone();
        files.extend(self.config.secret_key_files.iter().cloned());
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the secret key file {}", f.display()))?;
                SecretKey::parse(&text)
                    .with_context(|| format!("{} holds no secret key", f.display()))
            })
            .collect()
    }

    /// A cache at `url`.
    pub fn cache(&self, url: &str) -> anyhow::Result<Cache> {
        Ok(Cache::open(url, self.timeouts()?, self.s3().as_ref())?)
    }

    /// The background pusher `--push-to` (or the config) asks for.
    pub fn pusher(&self, backend: &dyn StoreBackend) -> anyhow::Result<Option<Pusher>> {
        let Some(url) = self.push_url() else {
            return Ok(None);
        };
        let cache = self.cache(&url)?;
        Ok(Some(Pusher::start_leased(
            cache,
            backend.store().root().to_path_buf(),
            self.secret_keys()?,
            backend.store().options().failpoints.clone(),
            None,
            self.leases.get().cloned().flatten(),
        )))
    }
}

impl Context {
    /// Writes the signed plan document of an install that pushed, when
    /// the cache has every realisation it names (a rock reused from this
    /// store was not pushed: then no document, rather than one that every
    /// reader would refuse).
    pub fn push_plan_document(
        &self,
        record: &rockstore::install::PlanRecord,
    ) -> anyhow::Result<()> {
        use rockstore::cache::plan_doc::{self, PlanDoc, PLAN_FORMAT};
        let Some(url) = self.push_url() else {
            return Ok(());
        };
        if record.entries.is_empty() {
            return Ok(());
        }
        let cache = self.cache(&url)?;
        for signer in self.secret_keys()? {
            let mut complete = true;
            for entry in &record.entries {
                let path = format!("real/{}/{}.json", entry.recipe_key.to_hex(), signer.name);
                if cache.transport().head(&path)?.is_none() {
                    complete = false;
                    break;
                }
            }
            if !complete {
                continue;
            }
            let mut doc = PlanDoc {
                format: PLAN_FORMAT,
                plan_key: record.plan_key.clone(),
                lua_abi: record.lua_abi.clone(),
                platform: record.platform.clone(),
                entries: record.entries.iter().map(RecordedRock::entry).collect(),
                signature: String::new(),
            };
            plan_doc::sign(&mut doc, &signer);
            let json = serde_json::to_vec_pretty(&doc)?;
            cache.create(&plan_doc::plan_path(&record.plan_key, &signer.name), &json)?;
        }
        Ok(())
    }
}

/// Waits for a pusher and says what it pushed.
pub fn finish_push(pusher: Option<Pusher>) -> anyhow::Result<()> {
    if let Some(pusher) = pusher {
        let report = pusher.finish()?;
        errln!(
            "pushed {} blob(s) ({} bytes), {} realisation(s); {} blob(s) the cache had",
            report.blobs,
            report.blob_bytes,
            report.realisations,
            report.blobs_present
        );
    }
    Ok(())
}

// (Not a doc comment: clap would take it for the subcommand's about text
// once the subcommand's arguments are built deferred; see cli::Command.)
// `rockstore copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Copy to this binary cache (with the signed realisations of what was
    /// built, given --secret-key-file or rockstore_secret_key_files).
    /// (`--to` after `copy`; before it, `--to` is LuaRocks' `--tree`.)
    #[arg(long = "to-cache", value_name = "URL", conflicts_with = "from_cache")]
    pub to: Option<String>,
    /// Copy from this binary cache into the store (items by name, or
    /// `blake3:HASH`): checked against their hashes, signed or not.
    #[arg(long = "from-cache", value_name = "URL")]
    pub from_cache: Option<String>,
    /// Every item of the store (with --to). With the global --tree (or
    /// --local) and no ITEM: every rock of that tree's current generation,
    /// dependencies first.
    #[arg(long)]
    pub all: bool,
    /// Items (names, prefixes or hashes as `store info` takes them).
    #[arg(value_name = "ITEM")]
    pub items: Vec<String>,
    /// With --to: also write the LuaRocks view, after the blobs and
    /// realisations: per Lua ABI and platform, `<cache>/luarocks/<abi>/
    /// <platform>/` (e.g. `luarocks/5.4/linux-x86_64/`) gets each copied
    /// rock as a binary rock (`name-version.<platform>.rock`, or `.all.rock`
    /// for pure Lua) with its rockspec and an attestation signed with the
    /// secret key (one is needed), and LuaRocks manifests (`manifest`,
    /// `manifest-5.x`, `manifest-5.x.zip`) listing every rock there a
    /// trusted key vouches for, this copy's and earlier ones'. Stock
    /// LuaRocks then installs without a compiler: `luarocks --only-server
    /// URL/luarocks/5.4/linux-x86_64 install NAME`. A rock no trusted key
    /// vouches for (planted or altered) is removed, or replaced by this
    /// copy's, with a warning naming it. Each manifest is replaced whole, so
    /// a client reading during a copy sees the old one or the new. Items
    /// with no recorded Lua ABI and platform are left out (noted).
    #[arg(long, requires = "to")]
    pub luarocks_view: bool,
    /// With --from: the largest item archive a fetch unpacks (e.g. `512M`,
    /// `2G`; default 1G). An item document's size is not signed, so it
    /// cannot raise this; a blob that unpacks past it, or to over 1000
    /// times its own bytes past the first 64 MiB, is stopped there.
    #[arg(long, requires = "from_cache", value_name = "SIZE", value_parser = parse_size_arg)]
    pub max_item_size: Option<u64>,
}

/// A size flag's value (`512M`, `1G`).
fn parse_size_arg(text: &str) -> Result<u64, String> {
    rockstore::units::parse_size(text)
        .ok_or_else(|| format!("`{text}` is not a size (write e.g. 1048576, 512K, 64M, 1G)"))
}

/// `rockstore copy --to URL [ITEM… | --tree-items T | --all]`, `copy --from URL ITEM…`.
pub fn copy(args: CopyArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let backend = cx.store()?;
    let store = backend.store();
    if let Some(url) = &args.from_cache {
        let cache = cx.cache(url)?;
        if args.items.is_empty() {
            anyhow::bail!("say which items to copy from {url}");
        }
        let limits = rockstore::cache::copy::FetchLimits {
            max_item: args
                .max_item_size
                .unwrap_or(rockstore::cache::copy::DEFAULT_MAX_ITEM),
        };
        for wanted in &args.items {
            let item = rockstore::ops::copy::fetch_item(&cache, &*backend, wanted, limits)?;
            outln!("{}", item.path.display());
        }
        return Ok(ExitStatus::Success);
    }
    let Some(url) = args.to.as_deref() else {
        anyhow::bail!(
            "say where to copy: `rockstore copy --to URL [ITEM… | --all]` (with --tree T: that tree's rocks), or `rockstore copy --from URL ITEM…`"
        );
    };
    let cache = cx.cache(url)?;
    let items = if args.all {
        store.list()?
    } else if args.items.is_empty() {
        if cx.tree_flags.tree.is_none() && !cx.tree_flags.local {
            anyhow::bail!("say what to copy: ITEM…, --tree TREE or --all");
        }
        let (tree, _) = cx.target()?;
        rockstore::ops::copy::items_of_tree(store, &tree.root)?
    } else {
        args.items
            .iter()
            .map(|q| store.find(q))
            .collect::<Result<Vec<_>, _>>()?
    };
    let signers = cx.secret_keys()?;
    push::ensure_info(&cache, 50)?;
    let mut report = push::PushReport::default();
    for item in &items {
        push::push_item(&cache, store, item, &signers, &mut report)?;
    }
    errln!(
        "copied {} item(s) to {url}: {} blob(s) uploaded ({} bytes), {} already there, {} realisation(s) signed",
        items.len(),
        report.blobs,
        report.blob_bytes,
        report.blobs_present,
        report.realisations
    );
    if args.luarocks_view {
        // Last: the manifests name only rocks whose blobs and
        // realisations are already there.
        let trusted = cx
            .cache_flags
            .trusted_public_keys
            .iter()
            .chain(&cx.config.trusted_public_keys)
            .map(|k| rockstore::cache::keys::PublicKey::parse(k))
            .collect::<Result<Vec<_>, _>>()?;
        let view = rockstore::cache::view::write_view(&cache, store, &items, &signers, &trusted)?;
        for warning in &view.warnings {
            errln!("warning: {warning}");
        }
        if !view.skipped.is_empty() {
            errln!(
                "note: {} item(s) left out of the LuaRocks view (no Lua ABI and platform recorded for them, or not this store's build of their recipe): {}",
                view.skipped.len(),
                view.skipped.join(", ")
            );
        }
        for (dir, rocks) in &view.dirs {
            errln!("LuaRocks view {url}/luarocks/{dir}: {rocks} rock version(s) in its manifest");
        }
        errln!(
            "LuaRocks view: {} rock(s) written, {} already there",
            view.rocks_written,
            view.rocks_present
        );
    }
    Ok(ExitStatus::Success)
}

/// `rockstore cache`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Make a signing key: the secret key goes to FILE (mode 0600), the
    /// public key (`NAME:base64`, for rockstore_trusted_public_keys) to
    /// stdout.
    Keygen(KeygenArgs),
}

/// `rockstore cache keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key's name (its signer: letters, digits, `.-_`).
    pub name: String,
    /// Where the secret key is written (refused if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `rockstore cache …`.
pub fn cache(command: CacheCommand) -> anyhow::Result<ExitStatus> {
    match command {
        CacheCommand::Keygen(args) => {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let key = SecretKey::generate(&args.name)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&args.out)
                .with_context(|| format!("cannot create {}", args.out.display()))?;
            writeln!(file, "{}", key.to_text())
                .with_context(|| format!("cannot write {}", args.out.display()))?;
            outln!("{}", key.public().to_text());
            Ok(ExitStatus::Success)
        }
    }
}

/// The command line with `copy`'s own `--to` and `--from` (after the word
/// `copy`) renamed to `--to-cache` and `--from-cache`: before `copy`, as in
/// LuaRocks, `--to` means `--tree` and `--from` means `--server`, and one
/// parser cannot give one long name two meanings.
pub fn copy_argv(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut after_copy = false;
    args.map(|arg| {
        if !after_copy {
            after_copy = arg == "copy";
            return arg;
        }
        let Some(text) = arg.to_str() else {
            return arg;
        };
        for (flag, renamed) in [("--to", "--to-cache"), ("--from", "--from-cache")] {
            if text == flag {
                return renamed.into();
            }
            if let Some(value) = text.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                return format!("{renamed}={value}").into();
            }
        }
        arg
    })
    .collect()
}
