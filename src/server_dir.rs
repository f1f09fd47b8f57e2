//! A local rocks server directory as `luarocks-admin` keeps it: its
//! `manifest` and `manifest-5.x` (each listing the rocks whose `lua`
//! dependency that Lua meets), their zips, and its `index.html`. The
//! command line copies and removes the files; this writes what describes
//! them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::manifest::index_html::{self, Served, ServedFile};
pub use crate::manifest::zip::zip_manifest;
use crate::rock_file::RockFileName;
use crate::rockspec::{LoadOptions, Platforms, Rockspec, Version};

/// Why a server directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ServerDirError {
    /// A server that is not a local directory.
    #[error("rockstore admin changes only a local rocks server directory (a path or file:// URL), not a {0}:// one: change it there, or copy its files here and run `rockstore admin make-manifest`")]
    Remote(String),
    /// The directory is missing.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// Reading failed.
    #[error("cannot read {}", .path.display())]
    Read {
        /// What.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing failed.
    #[error("cannot write {}", .path.display())]
    Write {
        /// What.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A rockspec in the directory is broken.
    #[error(transparent)]
    Rockspec(#[from] crate::rockspec::RockspecError),
    /// A rock in the directory is broken.
    #[error(transparent)]
    Rock(#[from] crate::build::BuildError),
    /// A rockspec could not be evaluated for the index.
    #[error(transparent)]
    Eval(#[from] crate::lua::EvalError),
    /// Zipping a manifest failed.
    #[error("cannot zip {}", .path.display())]
    Zip {
        /// What.
        path: PathBuf,
        /// Why.
        #[source]
        source: zip::result::ZipError,
    },
}

/// The directory `server` names (a path or `file://` URL); any other
/// protocol is refused.
pub fn local_dir(server: &str) -> Result<PathBuf, ServerDirError> {
    let path = match server.split_once("://") {
        None => server,
        Some(("file", path)) => path,
        Some((protocol, _)) => return Err(ServerDirError::Remote(protocol.to_owned())),
    };
    let dir = PathBuf::from(path);
    if !dir.is_dir() {
        return Err(ServerDirError::NotADirectory(dir));
    }
    Ok(dir)
}

fn read(path: &Path) -> Result<Vec<u8>, ServerDirError> {
    std::fs::read(path).map_err(|source| ServerDirError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ServerDirError> {
    std::fs::write(path, bytes).map_err(|source| ServerDirError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `manifest` and (unless `local_tree`) `manifest-5.x`, as
/// `luarocks-admin make_manifest` does; returns what the directory
/// serves, for [`write_index`].
pub fn write_manifests(dir: &Path, local_tree: bool) -> Result<Served, ServerDirError> {
    let mut served = Served::new();
    // Each file: name, version, arch, and its rockspec.
    let mut found: Vec<(String, String, String, Rockspec)> = Vec::new();
    let options = LoadOptions {
        platforms: Platforms::host(),
    };
    let entries = std::fs::read_dir(dir).map_err(|source| ServerDirError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.ends_with(".rockspec") {
            let bytes = read(&entry.path())?;
            let spec = Rockspec::from_bytes(&file, Some(&file), &bytes, &options)?;
            // The index reads the file as written, platforms unmerged.
            let raw = crate::lua::evaluate(
                &file,
                &bytes,
                &crate::lua::Table::new(),
                crate::lua::Limits::SMALL_FILE,
            )?;
            served
                .entry(spec.name.clone())
                .or_default()
                .entry(spec.version.to_string())
                .or_default()
                .push(ServedFile {
                    arch: "rockspec".to_owned(),
                    rockspec: Some(raw.globals),
                });
            found.push((
                spec.name.clone(),
                spec.version.to_string(),
                "rockspec".to_owned(),
                spec,
            ));
        } else if file.ends_with(".rock") {
            let Some(name) = RockFileName::parse(&file) else {
                continue;
            };
            let (inner, text) = crate::build::rockspec_bytes_in_rock(&file, &read(&entry.path())?)?;
            let spec = Rockspec::from_bytes(&inner, Some(&inner), &text, &options)?;
            served
                .entry(name.name.clone())
                .or_default()
                .entry(name.version.clone())
                .or_default()
                .push(ServedFile {
                    arch: name.arch.clone(),
                    rockspec: None,
                });
            found.push((name.name, name.version, name.arch, spec));
        }
    }
    let manifest_for = |lua: Option<&str>| {
        let mut repository: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (name, version, arch, spec) in &found {
            let fits = lua.is_none_or(|lua| {
                spec.dependencies
                    .iter()
                    .filter(|d| d.name == "lua")
                    .all(|d| d.matches(&Version::parse(lua)))
            });
            if fits {
                let arches = repository
                    .entry(name.clone())
                    .or_default()
                    .entry(version.clone())
                    .or_default();
                arches.push(arch.clone());
                arches.sort();
            }
        }
        crate::manifest::repository::render_server_manifest(&repository)
    };
    write(&dir.join("manifest"), manifest_for(None).as_bytes())?;
    if !local_tree {
        for lua in ["5.1", "5.2", "5.3", "5.4"] {
            write(
                &dir.join(format!("manifest-{lua}")),
                manifest_for(Some(lua)).as_bytes(),
            )?;
        }
    }
    Ok(served)
}

/// `manifest-5.x.zip` beside each `manifest-5.x`, as luarocks-admin zips
/// them.
pub fn zip_manifests(dir: &Path) -> Result<(), ServerDirError> {
    for lua in ["5.1", "5.2", "5.3", "5.4"] {
        let file = format!("manifest-{lua}");
        let text = read(&dir.join(&file))?;
        let zip_path = dir.join(format!("{file}.zip"));
        let zip_err = |source| ServerDirError::Zip {
            path: zip_path.clone(),
            source,
        };
        let zipped = zip_manifest(&file, &text).map_err(zip_err)?;
        write(&zip_path, &zipped)?;
    }
    Ok(())
}

/// `index.html`, as luarocks-admin writes it.
pub fn write_index(dir: &Path, served: &Served) -> Result<(), ServerDirError> {
    write(
        &dir.join("index.html"),
        index_html::render(served).as_bytes(),
    )
}
