//! A rockspec for a new version (or revision) of a rock, written from an
//! old one as LuaRocks 3.8's `new_version` writes it: the version (the
//! revision bumped when no version is given; `--tag` gives one, without a
//! leading `v`), `source.url`/`tag`/`dir`/`file` guessed by replacing the
//! old version in them, the new source downloaded to refresh `source.md5`,
//! `build.type = "module"` renamed `builtin`, and the whole file in
//! LuaRocks' rockspec field order (`manifest::persist`).

use crate::lua::persist::{save_from_table_ordered, ROCKSPEC_ORDER};
use crate::lua::{self, Limits, Table, Value};

use super::{LoadOptions, Rockspec, RockspecError};

/// What to write.
pub struct Request<'a> {
    /// How the old rockspec is shown in messages.
    pub file: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
    /// The new version (`1.1`, or `1.1-2` with a revision).
    pub new_version: Option<&'a str>,
    /// The new `source.url`.
    pub new_url: Option<&'a str>,
    /// The new `source.tag`.
    pub tag: Option<&'a str>,
}

/// The new rockspec.
#[derive(Debug)]
pub struct Written {
    /// `name-version-revision.rockspec`.
    pub file_name: String,
    /// Its text.
    pub text: String,
    /// What LuaRocks says on the way (stdout), in order.
    pub said: Vec<String>,
    /// What it says on stderr, as it is (warnings carry their
    /// `Warning: `).
    pub warnings: Vec<String>,
}

/// Why no rockspec was written.
#[derive(Debug, thiserror::Error)]
pub enum NewVersionError {
    /// The old rockspec does not load.
    #[error(transparent)]
    Rockspec(#[from] RockspecError),
    /// Its text could not be read as a table.
    #[error("cannot read {file}: {source}")]
    Eval {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: lua::EvalError,
    },
    /// The guessed or given URL cannot be fetched.
    #[error("invalid URL - {0}")]
    InvalidUrl(String),
    /// What was written does not load.
    #[error("Failed loading generated rockspec: {0}")]
    Generated(String),
}

/// Writes the new rockspec (nothing on disk: the caller saves `text`);
/// `fetch` downloads a source URL.
pub fn new_version(
    request: &Request<'_>,
    fetch: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Written, NewVersionError> {
    let valid = Rockspec::from_bytes(request.file, None, request.bytes, &LoadOptions::default())?;
    let version = valid.version.to_string();
    let (old_ver, old_rev) = split_revision(&version).unwrap_or((version.as_str(), "0"));
    let tag_version = request
        .tag
        .filter(|_| request.new_version.is_none())
        .map(|t| t.strip_prefix('v').unwrap_or(t).to_owned());
    let new_version = request.new_version.map(str::to_owned).or(tag_version);
    let (new_ver, new_rev) = match &new_version {
        Some(v) => match split_revision(v) {
            Some((ver, rev)) => (ver.to_owned(), rev.parse::<u64>().unwrap_or(1)),
            None => (v.clone(), 1),
        },
        None => (old_ver.to_owned(), old_rev.parse::<u64>().unwrap_or(0) + 1),
    };
    let new_rockver = new_ver.replace('-', "");
    let mut out = lua::evaluate(
        request.file,
        request.bytes,
        &Table::new(),
        Limits::SMALL_FILE,
    )
    .map_err(|source| NewVersionError::Eval {
        file: request.file.to_owned(),
        source,
    })?
    .globals;
    let name = valid.name.to_lowercase();
    out.insert("version", Value::String(format!("{new_rockver}-{new_rev}")));
    let mut written = Written {
        file_name: format!("{name}-{new_rockver}-{new_rev}.rockspec"),
        text: String::new(),
        said: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some(Value::Table(source)) = out.get_mut("source") {
        update_source(source, request, old_ver, &new_ver, fetch, &mut written)?;
    }
    if let Some(Value::Table(build)) = out.get_mut("build") {
        if build.get("type").and_then(Value::as_str) == Some("module") {
            build.insert("type", Value::String("builtin".into()));
        }
    }
    written.text = save_from_table_ordered(&out, ROCKSPEC_ORDER);
    Rockspec::from_bytes(
        &written.file_name,
        Some(&written.file_name),
        written.text.as_bytes(),
        &LoadOptions::default(),
    )
    .map_err(|e| NewVersionError::Generated(e.to_string()))?;
    Ok(written)
}

/// `(.*)%-(%d+)$`.
fn split_revision(v: &str) -> Option<(&str, &str)> {
    let (ver, rev) = v.rsplit_once('-')?;
    (!rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit())).then_some((ver, rev))
}

/// LuaRocks' `update_source_section`.
fn update_source(
    source: &mut Table,
    request: &Request<'_>,
    old_ver: &str,
    new_ver: &str,
    fetch: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    written: &mut Written,
) -> Result<(), NewVersionError> {
    if let Some(tag) = request.tag {
        source.insert("tag", Value::String(tag.to_owned()));
    }
    if let Some(url) = request.new_url {
        source.insert("url", Value::String(url.to_owned()));
        return check_url(source, false, fetch, written).map(|_| ());
    }
    if new_ver == old_ver {
        return Ok(());
    }
    for field in ["dir", "file"] {
        try_replace(source, field, old_ver, new_ver, written);
    }
    let old_url = source.get("url").cloned();
    if try_replace(source, "url", old_ver, new_ver, written) {
        if check_url(source, true, fetch, written).is_ok() {
            return Ok(());
        }
        if let Some(url) = old_url {
            source.insert("url", url);
        }
    }
    if request.tag.is_some() || try_replace(source, "tag", old_ver, new_ver, written) {
        return Ok(());
    }
    // Nothing significant replaced: the old URL.
    if check_url(source, false, fetch, written)? {
        written
            .warnings
            .push("Warning: URL is the same, but MD5 has changed. Old rockspec is broken.".into());
    }
    Ok(())
}

/// Downloads `source.url`, refreshing `source.md5` when there is one;
/// whether the md5 changed. An unreachable URL is an error only when
/// `invalid_is_error`, else a warning.
fn check_url(
    source: &mut Table,
    invalid_is_error: bool,
    fetch: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    written: &mut Written,
) -> Result<bool, NewVersionError> {
    let url = source.get_string("url").unwrap_or_default();
    let bytes = match fetch(&url) {
        Ok(bytes) => bytes,
        Err(why) if invalid_is_error => return Err(NewVersionError::InvalidUrl(why)),
        Err(why) => {
            written
                .warnings
                .push(format!("Warning: invalid URL - {why}"));
            return Ok(false);
        }
    };
    find_base_dir(source, &url, &bytes, written);
    match source.get_string("md5") {
        Some(old) => {
            written
                .said
                .push("File successfully downloaded. Updating MD5 checksum...".into());
            let new = crate::md5sum::md5_hex(&bytes);
            let changed = new != old;
            source.insert("md5", Value::String(new));
            Ok(changed)
        }
        None => {
            written.said.push("File successfully downloaded.".into());
            Ok(false)
        }
    }
}

/// LuaRocks' `find_base_dir`: the archive unpacked, `source.dir` (or the
/// directory its URL names) looked for, and when it is not there the first
/// directory the archive holds (names sorted) taken instead, saying both.
fn find_base_dir(source: &mut Table, url: &str, bytes: &[u8], written: &mut Written) {
    let file = url.rsplit('/').next().unwrap_or(url);
    let Ok(tmp) = tempfile::tempdir() else { return };
    let Ok(dir) = cap_std::fs::Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority())
    else {
        return;
    };
    if crate::archive::unpack(bytes, file, &dir, crate::archive::Limits::DEFAULT).is_err() {
        return;
    }
    let inferred = source
        .get_string("dir")
        .unwrap_or_else(|| super::source::deduce_base_dir(url));
    if tmp.path().join(&inferred).exists() {
        return;
    }
    written
        .warnings
        .push(format!("Directory {inferred} not found"));
    let mut dirs: Vec<String> = std::fs::read_dir(tmp.path())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    if let Some(found) = dirs.into_iter().next() {
        written.warnings.push(format!("Found {found}"));
        source.insert("dir", Value::String(found));
    }
}

/// `tbl[field]:gsub(old, new)`, saying so when it changed something.
fn try_replace(
    source: &mut Table,
    field: &str,
    old: &str,
    new: &str,
    written: &mut Written,
) -> bool {
    let Some(value) = source.get_string(field) else {
        return false;
    };
    let replaced = gsub(&value, old, new);
    if replaced == value {
        return false;
    }
    written
        .said
        .push(format!("Guessing new '{field}' field as {replaced}"));
    source.insert(field, Value::String(replaced));
    true
}

/// Lua's `gsub` for a version used as a pattern: `.` matches any
/// character, `%x` is `x`, everything else (versions hold nothing else
/// that is magic) matches itself.
fn gsub(text: &str, pattern: &str, replacement: &str) -> String {
    let mut pat: Vec<Option<char>> = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' => pat.push(None),
            '%' => pat.push(chars.next()),
            c => pat.push(Some(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    if pat.is_empty() {
        return text.iter().collect();
    }
    let mut out = String::new();
    let mut at = 0;
    while at < text.len() {
        let fits = at + pat.len() <= text.len()
            && pat
                .iter()
                .zip(&text[at..])
                .all(|(p, c)| p.is_none_or(|p| p == *c));
        if fits {
            out.push_str(replacement);
            at += pat.len();
        } else {
            out.push(text[at]);
            at += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_replace_as_lua_patterns() {
        assert_eq!(
            gsub("https://x/foo-1.0.tar.gz", "1.0", "1.1"),
            "https://x/foo-1.1.tar.gz"
        );
        // `.` is any character, as in Lua.
        assert_eq!(gsub("v1x0", "1.0", "2.0"), "v2.0");
        assert_eq!(split_revision("1.0-1"), Some(("1.0", "1")));
        assert_eq!(split_revision("1.0"), None);
    }
}
