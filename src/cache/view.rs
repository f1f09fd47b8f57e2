//! The LuaRocks view of a cache: `luarocks/<lua abi>/<platform>/`, a
//! rocks server directory stock `luarocks --only-server` installs binary
//! rocks from, with no compiler and no rockstore. Per item it holds the
//! binary rock (packed by [`crate::build::rock_file::pack`]) and the
//! rockspec; per directory, LuaRocks' manifests (`manifest-5.x.zip`,
//! `manifest-5.x`, `manifest`), regenerated whole from everything the
//! directory holds and each written with one replace, after the rocks they
//! list. So a client reading during a push sees the old manifest or the
//! new one, and every rock either names is there.
//!
//! What a directory holds is read back before its manifests are written:
//! listed where the engine can list (a directory), else from the index
//! `rockstore-view.json` every writer keeps beside the manifests (HTTP and
//! S3 cannot list), which it reads, adds to and rewrites.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::transport::Put;
use super::{Cache, CacheError};
use crate::build::rock_file::{self, RockFileName};
use crate::store::db::ItemKind;
use crate::store::{Item, Store, StoreError};

/// The view's root, under the cache's.
pub const VIEW_ROOT: &str = "luarocks";

/// The index of a view directory, beside its manifests.
pub const INDEX_FILE: &str = "rockstore-view.json";

/// Largest index read (a view of 100,000 rocks is about 5 MB).
const MAX_INDEX: u64 = 64 << 20;

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
    /// The index is not one: rewriting it would forget the rocks it lists.
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
}

/// What writing the view did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ViewReport {
    /// View directories written (`5.4/linux-x86_64`), with the rocks
    /// their manifests list.
    pub dirs: BTreeMap<String, usize>,
    /// Rock files written.
    pub rocks_written: usize,
    /// Rock files the view had already.
    pub rocks_present: usize,
    /// Items left out: no Lua ABI and platform recorded for them.
    pub skipped: Vec<String>,
}

/// Adds `items` to the cache's LuaRocks view: their rocks and rockspecs,
/// then the index and manifests of each directory they go to.
pub fn write_view(cache: &Cache, store: &Store, items: &[Item]) -> Result<ViewReport, ViewError> {
    let fail = |source: CacheError| ViewError::Cache {
        url: cache.url.clone(),
        source,
    };
    let mut report = ViewReport::default();
    // Directory → the items going there.
    let mut dirs: BTreeMap<String, Vec<(&Item, String)>> = BTreeMap::new();
    for item in items {
        let facts = match (item.record.kind, item.record.recipe_key) {
            (ItemKind::Rock, Some(key)) => store.facts_of(&key)?,
            _ => None,
        };
        match facts {
            Some(f) if safe_segment(&f.lua_abi) && safe_segment(&f.platform) => {
                dirs.entry(format!("{VIEW_ROOT}/{}/{}", f.lua_abi, f.platform))
                    .or_default()
                    .push((item, f.platform));
            }
            _ => report.skipped.push(item.name.as_str().to_owned()),
        }
    }
    for (dir, items) in &dirs {
        let mut added = BTreeSet::new();
        for (item, platform) in items {
            let (rock, bytes) = pack(item, platform)?;
            match cache
                .transport()
                .put(&format!("{dir}/{rock}"), &bytes, true)
                .map_err(|e| fail(e.into()))?
            {
                Put::Written => report.rocks_written += 1,
                Put::Exists => report.rocks_present += 1,
            }
            added.insert(rock);
            let spec = format!("{}-{}.rockspec", item.record.name, item.record.version);
            if let Ok(bytes) = std::fs::read(item.path.join(&spec)) {
                cache
                    .transport()
                    .put(&format!("{dir}/{spec}"), &bytes, true)
                    .map_err(|e| fail(e.into()))?;
                added.insert(spec);
            }
        }
        // Everything the directory holds: the index, what the engine
        // lists, and what was just written.
        let index_path = format!("{dir}/{INDEX_FILE}");
        let mut index = match cache
            .transport()
            .get(&index_path, MAX_INDEX)
            .map_err(|e| fail(e.into()))?
        {
            Some(bytes) => {
                serde_json::from_slice::<ViewIndex>(&bytes).map_err(|source| ViewError::Index {
                    url: cache.shown(&index_path),
                    source,
                })?
            }
            None => ViewIndex {
                format: INDEX_FORMAT,
                files: BTreeSet::new(),
            },
        };
        if let Some(listed) = cache.transport().list(dir).map_err(|e| fail(e.into()))? {
            index.files.extend(
                listed
                    .into_iter()
                    .filter(|f| f.ends_with(".rock") || f.ends_with(".rockspec")),
            );
        }
        index.files.extend(added);
        let json = serde_json::to_vec_pretty(&index).unwrap_or_default();
        cache
            .transport()
            .put(&index_path, &json, false)
            .map_err(|e| fail(e.into()))?;
        let repository = repository_of(&index.files);
        let text = crate::manifest::repository::render_server_manifest(&repository);
        let lua = lua_version_of(dir);
        let versioned = format!("manifest-{lua}");
        let zipped =
            crate::server_dir::zip_manifest(&versioned, text.as_bytes()).map_err(|source| {
                ViewError::Zip {
                    url: cache.shown(dir),
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
            cache
                .transport()
                .put(&format!("{dir}/{file}"), bytes, false)
                .map_err(|e| fail(e.into()))?;
        }
        report.dirs.insert(
            dir.trim_start_matches(&format!("{VIEW_ROOT}/")).to_owned(),
            repository.values().map(BTreeMap::len).sum(),
        );
    }
    Ok(report)
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
