//! Rocks servers (`rocks_servers`, `--server`, `--only-server`): loading
//! their per-Lua-version manifests with LuaRocks' fallbacks, searching them,
//! and choosing the file to fetch for a rock (LuaRocks' `search.lua`).

use crate::fetch::{join, local_path, FetchError, Fetcher, Freshness, MANIFEST_MAX_AGE};
use crate::manifest::index::{self, ManifestIndex};
use crate::manifest::{ManifestError, RepositoryManifest};
use crate::reporter::{Event, Reporter};
use crate::rockspec::version::{matches_all, Constraint, Version};
use std::time::Duration;

/// Why no manifest could be used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Every server failed; each reason is listed.
    #[error("no rocks server could be read:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    NoServer {
        /// One line per server.
        problems: Vec<String>,
    },
    /// The rock comes with the Lua VM.
    #[error("Rock {name} {version} is already provided by VM or via 'rocks_provided' in the config file.")]
    Provided {
        /// The rock.
        name: String,
        /// Its provided version.
        version: String,
    },
    /// A server's cached manifest index failed a check when a rock's
    /// versions were read from it; the file is removed, so the next run
    /// parses the manifest again.
    #[error("the cached manifest index of {server} is damaged ({reason}); it was removed, so running the command again parses the manifest anew")]
    DamagedIndex {
        /// The server whose index it is.
        server: String,
        /// What failed.
        reason: index::IndexError,
    },
    /// Nothing matches.
    #[error("No results matching query were found for Lua {lua_version}: {query}{}", if also.is_empty() { String::new() } else { format!("\n{also}") })]
    NoMatch {
        /// The query as typed.
        query: String,
        /// The Lua version searched for.
        lua_version: String,
        /// LuaRocks' added line: what other Lua versions offer it, or how
        /// to ask (`--check-lua-versions`); empty for a dependency.
        also: String,
    },
}

/// One server's manifest, as its index ([`crate::manifest::index`]).
pub struct ServerManifest {
    /// The server URL or directory.
    pub url: String,
    /// What its manifest lists.
    pub index: ManifestIndex,
    /// The cache file the index was read from or written to, if any.
    pub index_file: Option<std::path::PathBuf>,
}

/// Loads every server's manifest for `lua_version`. Servers that fail are
/// reported in `warnings` and skipped, as LuaRocks skips mirrors it cannot
/// reach; it is an error only when none loads.
pub fn load(
    fetcher: &Fetcher,
    servers: &[String],
    lua_version: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<ServerManifest>, ServerError> {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for server in servers {
        // A mirror group: its first mirror that loads answers for it, each
        // failure warned as LuaRocks' `search_repos` warns it.
        let group = fetcher
            .mirror_group(server)
            .map_or_else(|| vec![server.clone()], <[String]>::to_vec);
        let mut last = None;
        for mirror in &group {
            match load_one(fetcher, mirror, lua_version) {
                Ok((index, index_file)) => {
                    loaded.push(ServerManifest {
                        url: mirror.clone(),
                        index,
                        index_file,
                    });
                    last = None;
                    break;
                }
                Err(problem) => {
                    warnings.push(format!("Failed searching manifest: {problem}"));
                    last = Some((mirror.clone(), problem));
                }
            }
        }
        problems.extend(last);
    }
    if loaded.is_empty() {
        // One error lists every server.
        return Err(ServerError::NoServer {
            problems: problems
                .into_iter()
                .map(|(server, problem)| format!("{server}: {problem}"))
                .collect(),
        });
    }
    Ok(loaded)
}

/// Where namespace `ns` lives on each of `servers` (LuaRocks:
/// `<server>/manifests/<ns>`).
pub fn in_namespace(servers: &[String], ns: &str) -> Vec<String> {
    servers
        .iter()
        .map(|s| format!("{}/manifests/{ns}", s.trim_end_matches('/')))
        .collect()
}

/// Downloads `server`'s manifest for `lua_version` anew, whatever the
/// cache holds (`luarocks-admin refresh_cache`); the URL it came from.
pub fn refresh(fetcher: &Fetcher, server: &str, lua_version: &str) -> Result<String, String> {
    let mut missing = Vec::new();
    for name in [
        format!("manifest-{lua_version}.zip"),
        format!("manifest-{lua_version}"),
        format!("manifest-{lua_version}.json"),
        "manifest".to_owned(),
    ] {
        let url = join(server, &name);
        match fetcher.fetch(&url, Freshness::MaxAge(Duration::ZERO)) {
            Ok(_) => return Ok(url),
            Err(e) if e.is_not_found() => missing.push(name),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!(
        "{server} has no manifest ({} not found)",
        missing.join(", ")
    ))
}

/// The index of `server`'s manifest and the cache file that holds it.
type Loaded = (ManifestIndex, Option<std::path::PathBuf>);

fn load_one(fetcher: &Fetcher, server: &str, lua_version: &str) -> Result<Loaded, String> {
    let mut names = vec![
        format!("manifest-{lua_version}.zip"),
        format!("manifest-{lua_version}"),
        format!("manifest-{lua_version}.json"),
    ];
    if local_path(server).is_some() {
        names.push("manifest".to_owned());
    }
    let mut missing = Vec::new();
    for name in &names {
        let url = join(server, name);
        let reader = reader_of(name);
        // A fresh download already indexed: its index alone answers.
        let cache = fetcher.cache_root();
        if let (Some(cache), Some(hash)) = (cache, fetcher.cached_hash(&url, MANIFEST_MAX_AGE)) {
            if let Some(found) = index::read_cached(cache, &hash, reader) {
                return Ok((found, Some(index::cache_path(cache, &hash, reader))));
            }
        }
        match fetcher.fetch(&url, Freshness::MaxAge(MANIFEST_MAX_AGE)) {
            Ok(fetched) => {
                let hash = *blake3::hash(&fetched).as_bytes();
                if let Some(cache) = cache {
                    if let Some(found) = index::read_cached(cache, &hash, reader) {
                        return Ok((found, Some(index::cache_path(cache, &hash, reader))));
                    }
                }
                let parsed = RepositoryManifest::from_bytes(name, &fetched).map_err(|e| {
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        text.push_str(": ");
                        text.push_str(&s.to_string());
                        source = s.source();
                    }
                    if matches!(e, ManifestError::Eval { .. }) {
                        text.push_str(" (the server answered, but not with a rocks manifest)");
                    }
                    text
                })?;
                let made = ManifestIndex::of(&parsed.repository, &hash);
                let file = cache.map(|cache| {
                    index::write_cached(cache, &made, &hash, reader);
                    index::cache_path(cache, &hash, reader)
                });
                return Ok((made, file));
            }
            Err(e) if e.is_not_found() => missing.push(name.clone()),
            Err(e) => return Err(describe(&e)),
        }
    }
    Err(format!("no manifest found (tried {})", missing.join(", ")))
}

/// Which reader a manifest's name calls for (part of its index's name).
fn reader_of(name: &str) -> &'static str {
    if name.ends_with(".json") {
        "json"
    } else if name.ends_with(".zip") {
        "zip"
    } else {
        "lua"
    }
}

fn describe(e: &FetchError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One file a server offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Rock name.
    pub name: String,
    /// Version with revision.
    pub version: String,
    /// `rockspec`, `src`, `all` or an arch.
    pub arch: String,
    /// The server.
    pub server: String,
}

impl Offer {
    /// The file's URL on its server.
    pub fn url(&self) -> String {
        let file = if self.arch == "rockspec" {
            format!("{}-{}.rockspec", self.name, self.version)
        } else {
            format!("{}-{}.{}.rock", self.name, self.version, self.arch)
        };
        join(&self.server, &file)
    }
}

/// Where LuaRocks says a provided rock comes from.
pub const PROVIDED: &str = "provided by VM or rocks_provided";

/// Every offer whose name contains `query` (LuaRocks' substring search;
/// `exact` for install/build), whose version meets `constraints`, sorted by
/// name, then version newest first, then server order. `provided` rocks
/// (see [`crate::lua_install::LuaInstall::rocks_provided`]) are offered
/// with arch `installed` from [`PROVIDED`], as LuaRocks lists them.
/// Binary rocks for other machines than `host_arch` are left out, as
/// LuaRocks' query (`src`, `rockspec`, `all`, `installed` and `cfg.arch`).
/// Only the matching rocks' versions are decoded from each index; a
/// block that fails its checks is [`ServerError::DamagedIndex`] (and its
/// file is removed).
pub fn search(
    manifests: &[ServerManifest],
    provided: &[(String, String)],
    query: &str,
    exact: bool,
    constraints: &[Constraint],
    host_arch: &str,
) -> Result<Vec<Offer>, ServerError> {
    let query = query.to_lowercase();
    let provided_repository: index::Repository = provided
        .iter()
        .map(|(name, version)| {
            let entries = crate::manifest::repository::Entries {
                arches: vec!["installed".to_owned()],
            };
            (
                name.clone(),
                [(version.clone(), entries)].into_iter().collect(),
            )
        })
        .collect();
    let provided_index = ManifestIndex::of(&provided_repository, &[0; 32]);
    let sources = manifests
        .iter()
        .map(|m| (m.url.as_str(), &m.index, m.index_file.as_deref()))
        .chain(std::iter::once((PROVIDED, &provided_index, None)));
    let usable = |a: &str| matches!(a, "src" | "rockspec" | "all" | "installed") || a == host_arch;
    // What matched, borrowed from the indexes; each version parsed once.
    struct Hit<'a> {
        name: &'a str,
        version: &'a str,
        parsed: usize,
        arch: &'a str,
        server: &'a str,
    }
    let mut parsed: Vec<Version> = Vec::new();
    let mut hits: Vec<Hit<'_>> = Vec::new();
    for (server, catalog, file) in sources {
        let rocks: Vec<(usize, &str)> = if exact {
            catalog
                .find(&query)
                .map(|i| (i, query.as_str()))
                .into_iter()
                .collect()
        } else {
            catalog.names_containing(&query)
        };
        for (rock, name) in rocks {
            let versions = catalog.versions(rock).map_err(|reason| {
                if let Some(file) = file {
                    // A cache: the next run parses the manifest again.
                    let _ = std::fs::remove_file(file);
                }
                ServerError::DamagedIndex {
                    server: server.to_owned(),
                    reason,
                }
            })?;
            for (version, arches) in versions.iter() {
                let v = Version::parse(version);
                if !matches_all(constraints, &v) {
                    continue;
                }
                let at = parsed.len();
                let before = hits.len();
                hits.extend(arches.filter(|a| usable(a)).map(|arch| Hit {
                    name,
                    version,
                    parsed: at,
                    arch,
                    server,
                }));
                if hits.len() > before {
                    parsed.push(v);
                }
            }
        }
    }
    // Stable: equal versions keep server order, then manifest order.
    hits.sort_by(|a, b| {
        a.name
            .cmp(b.name)
            .then_with(|| parsed[b.parsed].sort_order(&parsed[a.parsed]))
    });
    Ok(hits
        .into_iter()
        .map(|h| Offer {
            name: h.name.to_owned(),
            version: h.version.to_owned(),
            arch: h.arch.to_owned(),
            server: h.server.to_owned(),
        })
        .collect())
}

/// What a command wants to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// `build`: a `.src.rock` or a rockspec.
    Source,
    /// `install`/`download`: a binary or `.all.rock` first, else source.
    Any,
    /// Only a rockspec.
    Rockspec,
}

/// LuaRocks' `find_suitable_rock`: the newest version with a usable file;
/// among its files a binary/`all` rock (the last server's wins), else a
/// `.src.rock`, else a rockspec.
pub fn best(offers: &[Offer], host_arch: &str, want: Want) -> Option<Offer> {
    let newest = offers.first()?;
    let usable = |o: &&Offer| match want {
        Want::Rockspec => o.arch == "rockspec",
        Want::Source => o.arch == "src" || o.arch == "rockspec",
        Want::Any => {
            o.arch == "src" || o.arch == "rockspec" || o.arch == "all" || o.arch == host_arch
        }
    };
    let mut candidates: Vec<&Offer> = offers.iter().filter(usable).collect();
    // The newest version that has any usable file.
    let version = candidates.first().map(|o| o.version.clone())?;
    candidates.retain(|o| o.version == version && o.name == newest.name);
    let rank = |o: &Offer| match o.arch.as_str() {
        "rockspec" => 0,
        "src" => 1,
        _ => 2,
    };
    candidates
        .iter()
        .enumerate()
        .max_by_key(|(i, o)| (rank(o), *i))
        .map(|(_, o)| (*o).clone())
}

/// LuaRocks' `--check-lua-versions`: the Lua versions other than
/// `current` (5.1 to 5.4, in order) whose manifests on `servers` offer
/// `name` matching `constraints`. `reporter` hears LuaRocks' progress
/// lines, as status.
#[allow(clippy::too_many_arguments)]
fn other_lua_versions(
    fetcher: &Fetcher,
    servers: &[String],
    name: &str,
    constraints: &[Constraint],
    arch: &str,
    current: &str,
    reporter: &dyn Reporter,
) -> Vec<String> {
    let say = |line: &str| reporter.report(Event::Status(line));
    say(&format!("{name} not found for Lua {current}."));
    say("Checking if available for other Lua versions...");
    let mut found = Vec::new();
    for version in ["5.1", "5.2", "5.3", "5.4"] {
        if version == current {
            continue;
        }
        say(&format!("Checking for Lua {version}..."));
        let manifests = load(fetcher, servers, version, &mut Vec::new()).unwrap_or_default();
        if search(&manifests, &[], name, true, constraints, arch).is_ok_and(|o| !o.is_empty()) {
            found.push(version.to_owned());
        }
    }
    found
}

/// The error for a requested rock nothing on `servers` matches, as
/// LuaRocks words it; with `check_lua_versions`, after asking the other
/// Lua versions' manifests (its progress lines to `reporter`).
#[allow(clippy::too_many_arguments)]
pub fn no_match(
    fetcher: &Fetcher,
    servers: &[String],
    name: &str,
    version: Option<&str>,
    constraints: &[Constraint],
    arch: &str,
    current: &str,
    check_lua_versions: bool,
    reporter: &dyn Reporter,
) -> ServerError {
    let checked = check_lua_versions
        .then(|| other_lua_versions(fetcher, servers, name, constraints, arch, current, reporter));
    ServerError::NoMatch {
        query: match version {
            Some(v) => format!("{name} {v}"),
            None => name.to_owned(),
        },
        lua_version: current.to_owned(),
        also: lua_versions_hint(name, constraints, current, checked.as_deref()),
    }
}

/// The line LuaRocks adds after "No results matching query": which other
/// Lua versions have the rock (`checked`), or how to find out.
fn lua_versions_hint(
    name: &str,
    constraints: &[Constraint],
    current: &str,
    checked: Option<&[String]>,
) -> String {
    let Some(found) = checked else {
        return "To check if it is available for other Lua versions, use --check-lua-versions."
            .to_owned();
    };
    if found.is_empty() {
        return format!("{name} is not available for any Lua versions.");
    }
    let versions: Vec<String> = found.iter().map(|v| format!("Lua {v}")).collect();
    let supports = format!("only {} but not Lua {current}.", versions.join(" and "));
    match constraints {
        [] => format!("{name} supports {supports}"),
        [one] if one.op == crate::rockspec::version::Op::Eq => {
            format!("{name} {} supports {supports}", one.version)
        }
        _ => format!("Matching {name} versions support {supports}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(v: &str, arch: &str, server: &str) -> Offer {
        Offer {
            name: "foo".into(),
            version: v.into(),
            arch: arch.into(),
            server: server.into(),
        }
    }

    #[test]
    fn best_prefers_newest_then_binary_then_src() {
        let offers = vec![
            offer("2.0-1", "rockspec", "a"),
            offer("2.0-1", "src", "a"),
            offer("2.0-1", "all", "b"),
            offer("1.0-1", "linux-x86_64", "a"),
        ];
        assert_eq!(
            best(&offers, "linux-x86_64", Want::Any).expect("one").arch,
            "all"
        );
        assert_eq!(
            best(&offers, "linux-x86_64", Want::Source)
                .expect("one")
                .arch,
            "src"
        );
        assert_eq!(
            best(&offers, "linux-x86_64", Want::Rockspec)
                .expect("one")
                .url(),
            "a/foo-2.0-1.rockspec"
        );
        assert_eq!(
            offer("1.0-1", "src", "http://h/").url(),
            "http://h/foo-1.0-1.src.rock"
        );
    }
}
