//! The LuaRocks view of a cache: `luarocks/<lua abi>/<platform>/`, a
//! rocks server directory stock `luarocks --only-server` installs binary
//! rocks from, with no compiler and no rockstore. Per item it holds the
//! binary rock (packed by [`crate::rock_file::pack`]) and the
//! rockspec; per directory, LuaRocks' manifests (`manifest-5.x.zip`,
//! `manifest-5.x`, `manifest`), regenerated whole from everything the
//! directory holds and each written with one replace, after the rocks they
//! list. So a client reading during a push sees the old manifest or the
//! new one, and every rock either names is there.
//!
//! What a directory holds is read back before its manifests are written:
//! listed where the engine can list (a directory), else from the index
//! `rockstore-view.json` every writer keeps beside the manifests (HTTP and
//! S3 cannot list), which it reads, checks and rewrites. Neither the
//! listing nor the index is trusted: anyone who can write the storage can
//! write both, so each rock is listed only when its signed attestation
//! ([`view_trust`]) vouches for its bytes; a file that is not vouched for
//! is removed (or, when this push has the genuine rock, replaced) with one
//! warning naming it, and an index entry that is not a file name of the
//! directory is dropped untouched.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::keys::{PublicKey, SecretKey};
use super::transport::{Put, TransportError};
use super::view_trust::{self, RockAttestation, RockCheck, ViewFile};
use super::{Cache, CacheError};
use crate::rock_file::{self, RockFileName};
use crate::store::content_hash::RecipeKey;
use crate::store::db::ItemKind;
use crate::store::{Item, Store, StoreError};

/// The view's root, under the cache's.
pub const VIEW_ROOT: &str = "luarocks";

/// The index of a view directory, beside its manifests.
pub const INDEX_FILE: &str = "rockstore-view.json";

/// Largest index read (a view of 100,000 rocks is about 5 MB).
const MAX_INDEX: u64 = 64 << 20;

/// Most files an index may list: 100,000 rocks and their rockspecs. Each
/// name listed costs a writer requests (its attestation, the file), so
/// the count is bounded, not only the bytes.
pub const MAX_INDEX_FILES: usize = 200_000;

/// `rockstore-view.json`: the files (rocks and rockspecs) a view directory
/// holds, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewIndex {
    /// [`INDEX_FORMAT`].
    pub format: u32,
    /// File names, relative to the directory.
    pub files: BTreeSet<String>,
}

/// The index's format.
pub const INDEX_FORMAT: u32 = 1;

/// Why the view could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The cache failed.
    #[error("writing the LuaRocks view of {url}")]
    Cache {
        /// The cache.
        url: String,
        /// Why.
        #[source]
        source: CacheError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An item could not be packed as a rock, or its rockspec read.
    #[error("cannot pack {item} as a rock")]
    Pack {
        /// The item.
        item: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The index is not one, on an engine that cannot list: rewriting it
    /// would forget the rocks it lists.
    #[error("{url} is not a view index; the view was left as it was")]
    Index {
        /// The index.
        url: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest could not be zipped.
    #[error("cannot zip a manifest for {url}")]
    Zip {
        /// The directory.
        url: String,
        /// Why.
        #[source]
        source: zip::result::ZipError,
    },
    /// No key to sign the rocks' attestations with.
    #[error("the LuaRocks view lists only rocks a trusted key vouches for: give a signing key (--secret-key-file FILE, or rockstore_secret_key_files)")]
    NoKey,
}

/// What writing the view did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ViewReport {
    /// View directories written (`5.4/linux-x86_64`), with the rocks
    /// their manifests list.
    pub dirs: BTreeMap<String, usize>,
    /// Rock files written.
    pub rocks_written: usize,
    /// Rock files the view had already (vouched for).
    pub rocks_present: usize,
    /// Items left out: no Lua ABI and platform recorded for them, or not
    /// the store's own realisation of their recipe (nothing to vouch with).
    pub skipped: Vec<String>,
    /// Files found in the view that no trusted key vouches for, or index
    /// entries that are not files of the view: one line each, naming it
    /// and saying what was done (not listed; removed or replaced).
    pub warnings: Vec<String>,
}

/// Largest rockspec read back to be checked.
const MAX_ROCKSPEC: u64 = 1 << 20;

/// Adds `items` to the cache's LuaRocks view: their rocks, attestations
/// (signed with the first of `signers`) and rockspecs, then the index
/// and manifests of each directory they go to, which list only what
/// `trusted` (and the signers' own keys) vouch for.
pub fn write_view(
    cache: &Cache,
    store: &Store,
    items: &[Item],
    signers: &[SecretKey],
    trusted: &[PublicKey],
) -> Result<ViewReport, ViewError> {
    let signer = signers.first().ok_or(ViewError::NoKey)?;
    let mut trusted = trusted.to_vec();
    trusted.extend(signers.iter().map(SecretKey::public));
    let mut report = ViewReport::default();
    // Directory → the items going there.
    let mut dirs: BTreeMap<(String, String), Vec<(&Item, RecipeKey)>> = BTreeMap::new();
    for item in items {
        let (facts, key) = match (item.record.kind, item.record.recipe_key) {
            (ItemKind::Rock, Some(key)) => (store.facts_of(&key)?, key),
            _ => {
                report.skipped.push(item.name.as_str().to_owned());
                continue;
            }
        };
        // Vouched for as a push signs realisations: only the store's own
        // realisation of the recipe, with what it was built for.
        let own = store.realisation(&key)?.map(|i| i.name) == Some(item.name.clone());
        match facts {
            Some(f) if own && safe_segment(&f.lua_abi) && safe_segment(&f.platform) => {
                dirs.entry((f.lua_abi, f.platform))
                    .or_default()
                    .push((item, key));
            }
            _ => report.skipped.push(item.name.as_str().to_owned()),
        }
    }
    for ((lua_abi, platform), items) in &dirs {
        let dir = DirWriter {
            cache,
            dir: format!("{VIEW_ROOT}/{lua_abi}/{platform}"),
            lua_abi,
            platform,
            trusted: &trusted,
        };
        let listed = dir.write(store, items, signer, &mut report)?;
        report.dirs.insert(
            format!("{lua_abi}/{platform}"),
            repository_of(&listed).values().map(BTreeMap::len).sum(),
        );
    }
    Ok(report)
}

/// One view directory being written.
struct DirWriter<'a> {
    cache: &'a Cache,
    /// `luarocks/<abi>/<platform>`.
    dir: String,
    lua_abi: &'a str,
    platform: &'a str,
    trusted: &'a [PublicKey],
}

impl DirWriter<'_> {
    fn fail(&self, source: CacheError) -> ViewError {
        ViewError::Cache {
            url: self.cache.url.clone(),
            source,
        }
    }

    fn path(&self, file: &str) -> String {
        format!("{}/{file}", self.dir)
    }

    fn put(&self, file: &str, bytes: &[u8], create_only: bool) -> Result<Put, ViewError> {
        self.cache
            .transport()
            .put(&self.path(file), bytes, create_only)
            .map_err(|e| self.fail(e.into()))
    }

    fn get(&self, file: &str, max: u64) -> Result<Option<Vec<u8>>, ViewError> {
        match self.cache.transport().get(&self.path(file), max) {
            // Larger than the file can be: treated as not it.
            Err(TransportError::TooLarge { .. }) => Ok(Some(Vec::new())),
            other => other.map_err(|e| self.fail(e.into())),
        }
    }

    fn check(&self, file: &str) -> Result<RockCheck, ViewError> {
        view_trust::check_rock(
            self.cache,
            &self.dir,
            self.lua_abi,
            self.platform,
            file,
            self.trusted,
        )
        .map_err(|e| self.fail(e))
    }

    /// Removes a file no trusted key vouches for, saying so once.
    fn remove(&self, file: &str, why: &str, report: &mut ViewReport) {
        let shown = self.cache.shown(&self.path(file));
        match self.cache.transport().delete(&self.path(file)) {
            Ok(()) => report
                .warnings
                .push(format!("{shown}: {why}; removed, and not listed")),
            Err(e) => report.warnings.push(format!(
                "{shown}: {why}; not listed (it could not be removed: {e})"
            )),
        }
    }

    /// Writes the rocks of `items`, checks everything else the directory
    /// holds, and writes the index and manifests of what stands. Returns
    /// the files listed.
    fn write(
        &self,
        store: &Store,
        items: &[(&Item, RecipeKey)],
        signer: &SecretKey,
        report: &mut ViewReport,
    ) -> Result<BTreeSet<String>, ViewError> {
        // Rock file → its attestation, for every rock listed.
        let mut rocks: BTreeMap<String, RockAttestation> = BTreeMap::new();
        // Rockspecs this push holds the bytes of: name → bytes.
        let mut own_specs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (item, key) in items {
            let (file, bytes) = pack(item, self.platform)?;
            let spec = format!("{}-{}.rockspec", item.record.name, item.record.version);
            let spec_bytes = std::fs::read(item.path.join(&spec)).ok();
            let attestation = match self.check(&file)? {
                RockCheck::Trusted(a) => {
                    report.rocks_present += 1;
                    a
                }
                found => {
                    if let RockCheck::Untrusted(why) = found {
                        report.warnings.push(format!(
                            "{}: {why}; replaced by the rock of {}",
                            self.cache.shown(&self.path(&file)),
                            item.name
                        ));
                    }
                    let mut a = RockAttestation {
                        format: view_trust::ATTESTATION_FORMAT,
                        file: file.clone(),
                        size: bytes.len() as u64,
                        hash: view_trust::hash_of(&bytes),
                        rockspec_hash: spec_bytes
                            .as_deref()
                            .map(view_trust::hash_of)
                            .unwrap_or_default(),
                        item: item.name.as_str().to_owned(),
                        recipe_key: key.to_hex(),
                        lua_abi: self.lua_abi.to_owned(),
                        platform: self.platform.to_owned(),
                        signature: String::new(),
                    };
                    view_trust::sign(&mut a, signer);
                    let json = serde_json::to_vec_pretty(&a).unwrap_or_default();
                    // The attestation before the rock: a rock a racing
                    // writer finds without one is never a trusted writer's.
                    self.put(&view_trust::attestation_name(&file), &json, false)?;
                    if self.put(&file, &bytes, true)? == Put::Exists {
                        // There, and not vouched for (checked above).
                        self.put(&file, &bytes, false)?;
                    }
                    report.rocks_written += 1;
                    a
                }
            };
            if let Some(spec_bytes) = spec_bytes {
                if view_trust::hash_of(&spec_bytes) == attestation.rockspec_hash {
                    own_specs.insert(spec, spec_bytes);
                }
            }
            rocks.insert(file, attestation);
        }
        // Rockspecs after their rocks: a rockspec a racing writer finds
        // has its rock and attestation beside it already.
        for (spec, bytes) in &own_specs {
            match self.get(spec, MAX_ROCKSPEC)? {
                Some(there) if &there == bytes => {}
                there => {
                    if there.is_some() {
                        report.warnings.push(format!(
                            "{}: its bytes are not the ones the rock's attestation signs; replaced",
                            self.cache.shown(&self.path(spec))
                        ));
                    }
                    self.put(spec, bytes, false)?;
                }
            }
        }
        // Everything else the directory holds: what the engine lists and
        // what the index says. Neither is trusted: each is checked.
        let index_path = self.path(INDEX_FILE);
        let listing = self
            .cache
            .transport()
            .list(&self.dir)
            .map_err(|e| self.fail(e.into()))?;
        let mut candidates: BTreeSet<String> = BTreeSet::new();
        if let Some(bytes) = self.get(INDEX_FILE, MAX_INDEX)? {
            let why = match serde_json::from_slice::<ViewIndex>(&bytes) {
                Ok(index)
                    if index.format == INDEX_FORMAT && index.files.len() <= MAX_INDEX_FILES =>
                {
                    candidates.extend(index.files);
                    None
                }
                Ok(index) if index.format != INDEX_FORMAT => {
                    Some(<serde_json::Error as serde::de::Error>::custom(format!(
                        "format {}, not {INDEX_FORMAT}",
                        index.format
                    )))
                }
                Ok(index) => Some(<serde_json::Error as serde::de::Error>::custom(format!(
                    "it lists {} files, more than the {MAX_INDEX_FILES} an index may",
                    index.files.len()
                ))),
                Err(source) => Some(source),
            };
            match why {
                None => {}
                Some(why) if listing.is_some() => report.warnings.push(format!(
                    "{}: not a view index (format {INDEX_FORMAT}: {why}); rewritten from what the directory holds",
                    self.cache.shown(&index_path)
                )),
                Some(source) => {
                    return Err(ViewError::Index {
                        url: self.cache.shown(&index_path),
                        source,
                    })
                }
            }
        }
        let from_index = candidates.clone();
        if let Some(listed) = listing {
            candidates.extend(
                listed
                    .into_iter()
                    .filter(|f| f.ends_with(".rock") || f.ends_with(".rockspec")),
            );
        }
        let mut specs: BTreeSet<String> = own_specs.keys().cloned().collect();
        for file in candidates {
            if rocks.contains_key(&file) || own_specs.contains_key(&file) {
                continue;
            }
            let Some(parsed) = ViewFile::parse(&file, self.platform) else {
                // Never touched: such a name may lead out of the directory.
                report.warnings.push(format!(
                    "{}: lists {file:?}, which is not a rock or rockspec name of this directory; dropped",
                    self.cache.shown(&index_path)
                ));
                continue;
            };
            if parsed.arch.is_none() {
                specs.insert(file);
                continue;
            }
            match self.check(&file)? {
                RockCheck::Trusted(a) => {
                    rocks.insert(file, a);
                }
                RockCheck::Absent => report.warnings.push(format!(
                    "{}: lists {file}, which is not there; dropped",
                    self.cache.shown(&index_path)
                )),
                RockCheck::Untrusted(why) => self.remove(&file, &why.to_string(), report),
            }
        }
        // A rockspec stands when a listed rock's attestation signs its
        // bytes: each rock's (rockspec name, hash), looked up, not scanned
        // per rockspec (the index's rockspecs times its rocks).
        let vouched_specs: BTreeSet<(String, String)> = rocks
            .values()
            .filter_map(|a| {
                ViewFile::parse(&a.file, self.platform)
                    .map(|r| (r.rockspec_name(), a.rockspec_hash.clone()))
            })
            .collect();
        let mut listed: BTreeSet<String> = rocks.keys().cloned().collect();
        for spec in specs {
            // Only a rockspec some listed rock names can stand; any other's
            // bytes are not read (the index may list 200,000 of up to
            // 1 MiB each): it is only asked whether it is there.
            let named = vouched_specs
                .range((spec.clone(), String::new())..)
                .next()
                .is_some_and(|(name, _)| *name == spec);
            let there = if named {
                self.get(&spec, MAX_ROCKSPEC)?
            } else {
                self.cache
                    .transport()
                    .head(&self.path(&spec))
                    .map_err(|e| self.fail(e.into()))?
                    .map(|_| Vec::new())
            };
            let Some(bytes) = there else {
                if from_index.contains(&spec) {
                    report.warnings.push(format!(
                        "{}: lists {spec}, which is not there; dropped",
                        self.cache.shown(&index_path)
                    ));
                }
                continue;
            };
            let hash = view_trust::hash_of(&bytes);
            if named && vouched_specs.contains(&(spec.clone(), hash)) {
                listed.insert(spec);
            } else {
                self.remove(
                    &spec,
                    "no listed rock's attestation signs its bytes",
                    report,
                );
            }
        }
        let index = ViewIndex {
            format: INDEX_FORMAT,
            files: listed.clone(),
        };
        let json = serde_json::to_vec_pretty(&index).unwrap_or_default();
        self.put(INDEX_FILE, &json, false)?;
        let repository = repository_of(&listed);
        let text = crate::manifest::repository::render_server_manifest(&repository);
        let lua = lua_version_of(&self.dir);
        let versioned = format!("manifest-{lua}");
        let zipped =
            crate::manifest::zip::zip_manifest(&versioned, text.as_bytes()).map_err(|source| {
                ViewError::Zip {
                    url: self.cache.shown(&self.dir),
                    source,
                }
            })?;
        store.failpoint("view-before-manifests");
        // LuaRocks asks for the zip first, then `manifest-5.x`, then
        // `manifest`; each is whole, old or new.
        for (n, (file, bytes)) in [
            (format!("{versioned}.zip"), zipped.as_slice()),
            (versioned.clone(), text.as_bytes()),
            ("manifest".to_owned(), text.as_bytes()),
        ]
        .into_iter()
        .enumerate()
        {
            if n == 1 {
                store.failpoint("view-between-manifests");
            }
            self.put(&file, bytes, false)?;
        }
        Ok(listed)
    }
}

/// The rock file of `item` (`name-version.platform.rock`, or `.all.rock`
/// without compiled code) and its bytes.
fn pack(item: &Item, platform: &str) -> Result<(String, Vec<u8>), ViewError> {
    let err = |source| ViewError::Pack {
        item: item.name.as_str().to_owned(),
        source,
    };
    let scratch = tempfile::tempdir().map_err(err)?;
    let file = rock_file::pack(
        &item.path,
        &item.record.name,
        &item.record.version,
        platform,
        scratch.path(),
    )
    .map_err(err)?;
    let bytes = std::fs::read(&file).map_err(err)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((name, bytes))
}

/// The manifest's `repository` for a directory's files: rock name →
/// version → arches (`rockspec` for a rockspec), sorted.
pub fn repository_of(files: &BTreeSet<String>) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut repository: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for file in files {
        let entry = if let Some(rock) = RockFileName::parse(file) {
            Some((rock.name, rock.version, rock.arch))
        } else {
            // `name-version.rockspec` splits as a rock of arch `rockspec`.
            file.strip_suffix(".rockspec")
                .and_then(|stem| RockFileName::parse(&format!("{stem}.rockspec.rock")))
                .map(|spec| (spec.name, spec.version, "rockspec".to_owned()))
        };
        if let Some((name, version, arch)) = entry {
            let arches = repository
                .entry(name)
                .or_default()
                .entry(version)
                .or_default();
            arches.push(arch);
            arches.sort();
            arches.dedup();
        }
    }
    repository
}

/// `5.4` for `luarocks/5.4/…`, `5.1` for `luarocks/5.1-luajit-2.1/…`:
/// the Lua version LuaRocks names its manifest by.
fn lua_version_of(dir: &str) -> String {
    let abi = dir.split('/').nth(1).unwrap_or_default();
    abi.split('-').next().unwrap_or(abi).to_owned()
}

/// A path segment that stays one segment (recorded facts name the
/// directory).
fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_make_the_repository_luarocks_admin_would() {
        let files: BTreeSet<String> = [
            "cmulti-1.0-1.linux-x86_64.rock",
            "cmulti-1.0-1.rockspec",
            "lua-cjson-2.1.0.10-1.rockspec",
            "lua-cjson-2.1.0.10-1.linux-x86_64.rock",
            "dmtop-1.0-1.all.rock",
            "rockstore-view.json",
            "manifest",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        let repository = repository_of(&files);
        assert_eq!(repository["cmulti"]["1.0-1"], ["linux-x86_64", "rockspec"]);
        assert_eq!(
            repository["lua-cjson"]["2.1.0.10-1"],
            ["linux-x86_64", "rockspec"]
        );
        assert_eq!(repository["dmtop"]["1.0-1"], ["all"]);
        assert_eq!(repository.len(), 3);
        assert_eq!(
            lua_version_of("luarocks/5.1-luajit-2.1/linux-x86_64"),
            "5.1"
        );
        assert_eq!(lua_version_of("luarocks/5.4/linux-x86_64"), "5.4");
        assert!(!safe_segment("..") && !safe_segment("a/b") && safe_segment("linux-x86_64"));
    }
}
