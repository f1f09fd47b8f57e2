//! Rock files (`<name>-<version>-<rev>.<arch>.rock`, zip): their names,
//! packing an item into one, and unpacking one for `rockstore unpack`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A rock file name split as LuaRocks splits it
/// (`(.*)-([^-]+-%d+)%.([^.]+)%.rock$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RockFileName {
    /// Rock name.
    pub name: String,
    /// Version with revision.
    pub version: String,
    /// `src`, `all` or `<os>-<cpu>`.
    pub arch: String,
}

/// A binary rock built for another machine.
#[derive(Debug, thiserror::Error)]
#[error("Incompatible architecture {arch}")]
pub struct IncompatibleArch {
    /// The architecture its name gives.
    pub arch: String,
}

/// Refuses a binary rock whose name gives another architecture than
/// `host`'s, as LuaRocks does before it looks for the file.
pub fn check_arch(file: &str, host: &str) -> Result<(), IncompatibleArch> {
    match RockFileName::parse(file) {
        Some(name) if !["all", "src"].contains(&name.arch.as_str()) && name.arch != host => {
            Err(IncompatibleArch { arch: name.arch })
        }
        _ => Ok(()),
    }
}

impl RockFileName {
    /// Parses a file name (any directory part is ignored).
    pub fn parse(file: &str) -> Option<RockFileName> {
        let base = file.rsplit('/').next()?;
        let stem = base.strip_suffix(".rock")?;
        let (rest, arch) = stem.rsplit_once('.')?;
        let (name_ver, revision) = rest.rsplit_once('-')?;
        if revision.is_empty() || !revision.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (name, version) = name_ver.rsplit_once('-')?;
        if name.is_empty() || version.is_empty() || arch.is_empty() {
            return None;
        }
        Some(RockFileName {
            name: name.to_owned(),
            version: format!("{version}-{revision}"),
            arch: arch.to_owned(),
        })
    }
}

/// Whether a rock directory holds compiled code (a `lib/` or an ELF/Mach-O
/// file in `bin/`), which makes its rock arch-specific rather than `all`.
pub fn is_binary(item: &Path) -> bool {
    if item.join("lib").is_dir() {
        return true;
    }
    let Ok(entries) = std::fs::read_dir(item.join("bin")) else {
        return false;
    };
    entries.flatten().any(|e| {
        std::fs::read(e.path())
            .map(|b| b.starts_with(b"\x7fELF") || b.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]))
            .unwrap_or(false)
    })
}

/// Zips the rock directory `item` into `out_dir/<name>-<version>.<arch>.rock`
/// and returns the file's path. Files keep their executable bit.
pub fn pack(
    item: &Path,
    name: &str,
    version: &str,
    host_arch: &str,
    out_dir: &Path,
) -> std::io::Result<PathBuf> {
    let arch = if is_binary(item) { host_arch } else { "all" };
    let out = out_dir.join(format!("{name}-{version}.{arch}.rock"));
    let temp = out_dir.join(format!(".{name}-{version}.{arch}.rock.tmp"));
    let file = std::fs::File::create(&temp)?;
    let mut zip = zip::ZipWriter::new(file);
    let mut stack = vec![PathBuf::new()];
    let mut files = Vec::new();
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(item.join(&rel))? {
            let entry = entry?;
            let rel = rel.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                stack.push(rel);
            } else {
                files.push(rel);
            }
        }
    }
    files.sort();
    for rel in files {
        let path = item.join(&rel);
        let meta = std::fs::metadata(&path)?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(if mode & 0o111 != 0 { 0o755 } else { 0o644 });
        zip.start_file(rel.to_string_lossy(), options)
            .map_err(std::io::Error::other)?;
        zip.write_all(&std::fs::read(&path)?)?;
    }
    zip.finish().map_err(std::io::Error::other)?;
    std::fs::rename(&temp, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rock_file_names_split_as_luarocks() {
        let n = RockFileName::parse("dir/lua-cjson-2.1.0.10-1.linux-x86_64.rock").expect("ok");
        assert_eq!(
            (n.name.as_str(), n.version.as_str(), n.arch.as_str()),
            ("lua-cjson", "2.1.0.10-1", "linux-x86_64")
        );
        let n = RockFileName::parse("foo-1.0-1.src.rock").expect("ok");
        assert_eq!((n.name.as_str(), n.arch.as_str()), ("foo", "src"));
        assert!(RockFileName::parse("foo-1.0.src.rock").is_none());
        assert!(RockFileName::parse("foo-1.0-1.rockspec").is_none());
    }
}
