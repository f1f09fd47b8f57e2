//! The `source` table and the fields LuaRocks derives from it at load time:
//! `protocol` and `pathname` (split from `url`), `file` (the URL's base name
//! for the basic protocols http, https, ftp and file), `module`/`tag` from
//! the old `cvs_*` names, and `dir` — given, else `module`, else `.` for a
//! single `.lua`/`.c` file, else the archive name without its extensions.

use super::schema::Format;
use crate::lua::{Table, Value};

/// `source`, after platform overrides and derivation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// `url` as written.
    pub url: String,
    /// The protocol (`https`, `git+https`, `file` when none is written).
    pub protocol: String,
    /// The URL after `protocol://`.
    pub pathname: String,
    /// `md5` of the downloaded file.
    pub md5: Option<String>,
    /// The downloaded file's name (basic protocols).
    pub file: Option<String>,
    /// The directory to build in, relative to the unpack directory.
    pub dir: String,
    /// Whether `dir` was written in the rockspec.
    pub dir_given: bool,
    /// SCM tag.
    pub tag: Option<String>,
    /// SCM branch.
    pub branch: Option<String>,
    /// SCM module.
    pub module: Option<String>,
}

/// `dir.split_url`: `proto://rest`, else `file` (quotes around the URL
/// are dropped first).
pub fn split_url(url: &str) -> (String, String) {
    let unquoted = if url.len() >= 2
        && ((url.starts_with('"') && url.ends_with('"'))
            || (url.starts_with('\'') && url.ends_with('\'')))
    {
        &url[1..url.len() - 1]
    } else {
        url
    };
    // `^([^:]*)://(.*)`: the protocol ends at the first ':'.
    match unquoted.find(':') {
        Some(colon) if unquoted[colon..].starts_with("://") => (
            unquoted[..colon].to_owned(),
            unquoted[colon + 3..].to_owned(),
        ),
        _ => ("file".to_owned(), unquoted.to_owned()),
    }
}

/// `dir.is_basic_protocol`.
pub fn is_basic_protocol(protocol: &str) -> bool {
    matches!(protocol, "http" | "https" | "ftp" | "file")
}

/// `dir.base_name`: the part after the last `/` or `\`, trailing
/// separators ignored; the input unchanged when it has no separator.
pub fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches(['/', '\\']);
    match trimmed.rfind(['/', '\\']) {
        Some(i) => &trimmed[i + 1..],
        None => path,
    }
}

/// `dir.deduce_base_dir`: the base name with a known last extension
/// (`zip git tgz tar gz bz2`) dropped, then every `.tar` removed.
pub fn deduce_base_dir(url: &str) -> String {
    let base = base_name(url);
    let stripped = match base.rfind('.') {
        Some(dot)
            if matches!(
                &base[dot + 1..],
                "zip" | "git" | "tgz" | "tar" | "gz" | "bz2"
            ) =>
        {
            &base[..dot]
        }
        _ => base,
    };
    stripped.replace(".tar", "")
}

impl Source {
    /// Derives LuaRocks' fields into `table` (so `--json` shows them) and
    /// returns the typed view.
    pub(crate) fn derive(table: &mut Table, format: Format) -> Source {
        let url = table.get_string("url").unwrap_or_default();
        let (protocol, pathname) = split_url(&url);
        if is_basic_protocol(&protocol) && table.get("file").is_none() {
            table.insert("file", Value::String(base_name(&url).to_owned()));
        }
        table.insert("protocol", Value::String(protocol.clone()));
        table.insert("pathname", Value::String(pathname.clone()));
        if let Some(m) = table.get_string("cvs_module") {
            table.insert("module", Value::String(m));
        }
        if let Some(t) = table.get_string("cvs_tag") {
            table.insert("tag", Value::String(t));
        }
        let file = table.get_string("file");
        let filebase = file.clone().unwrap_or_else(|| url.clone());
        let base = deduce_base_dir(&filebase);
        let given = table.get_string("dir");
        let dir_given = given.is_some();
        let dir = given
            .or_else(|| table.get_string("module"))
            .unwrap_or_else(|| {
                if filebase.ends_with(".lua") || filebase.ends_with(".c") {
                    if format >= Format::V3_0 && !is_basic_protocol(&protocol) {
                        base.clone()
                    } else {
                        ".".to_owned()
                    }
                } else {
                    base.clone()
                }
            });
        table.insert("dir", Value::String(dir.clone()));
        Source {
            url,
            protocol,
            pathname,
            md5: table.get_string("md5"),
            file,
            dir,
            dir_given,
            tag: table.get_string("tag"),
            branch: table.get_string("branch"),
            module: table.get_string("module"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luarocks_path_helpers() {
        assert_eq!(
            split_url("git+https://h/r.git"),
            ("git+https".into(), "h/r.git".into())
        );
        assert_eq!(
            split_url("foo.tar.gz"),
            ("file".into(), "foo.tar.gz".into())
        );
        assert_eq!(base_name("https://h/a/b.tar.gz"), "b.tar.gz");
        assert_eq!(base_name("https://h/a/"), "a");
        assert_eq!(deduce_base_dir("https://h/foo-1.0.tar.gz"), "foo-1.0");
        assert_eq!(deduce_base_dir("x/foo-1.0.tgz"), "foo-1.0");
        assert_eq!(deduce_base_dir("x/foo-1.0.tar.xz"), "foo-1.0.xz");
        assert_eq!(deduce_base_dir("my.tarball.zip"), "myball");
        assert_eq!(deduce_base_dir("git://h/repo.git"), "repo");
    }
}
