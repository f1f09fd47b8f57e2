//! A rockspec template for a project, written as LuaRocks 3.8's
//! `write_rockspec` writes it: name and version inferred from the
//! location (a directory, or an archive URL), the source URL from the
//! directory's git (or hg) remote, homepage, summary and description from
//! the README, the license recognised by LuaRocks' byte sum, modules,
//! `bin/` scripts and copied directories autodetected as its `builtin`
//! backend does, in LuaRocks' rockspec field order.

use std::path::{Path, PathBuf};

use crate::lua::persist::{save_from_table_ordered, ROCKSPEC_ORDER};
use crate::lua::{Table, Value};

/// What `write_rockspec` was asked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// NAME.
    pub name: Option<String>,
    /// VERSION.
    pub version: Option<String>,
    /// LOCATION.
    pub location: Option<String>,
    /// `--output`.
    pub output: Option<PathBuf>,
    /// `--license`.
    pub license: Option<String>,
    /// `--summary`.
    pub summary: Option<String>,
    /// `--detailed`.
    pub detailed: Option<String>,
    /// `--homepage`.
    pub homepage: Option<String>,
    /// `--lua-versions`.
    pub lua_versions: Option<String>,
    /// `--rockspec-format`.
    pub rockspec_format: Option<String>,
    /// `--tag`.
    pub tag: Option<String>,
    /// `--lib`.
    pub lib: Option<String>,
}

/// The template.
#[derive(Debug)]
pub struct Written {
    /// Where it goes.
    pub file: PathBuf,
    /// Its text.
    pub text: String,
    /// What LuaRocks says on stdout before "Wrote template at".
    pub said: Vec<String>,
    /// Its warnings, as LuaRocks words them (`Warning: …`).
    pub warnings: Vec<String>,
}

/// Why no template was written.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No name could be inferred.
    #[error("Could not infer rock name. See 'rockstore help write_rockspec'.")]
    NoName,
    /// `--lua-versions` names no known set.
    #[error("--lua-versions: expected one of {}", LUA_VERSIONS.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", "))]
    LuaVersions,
    /// The location's directory cannot be read.
    #[error("Failed reaching files from project - error entering directory {0}")]
    Directory(String),
    /// A location LuaRocks would fetch with a version-control tool.
    #[error("write_rockspec of a {0} location is not supported; clone it and run write_rockspec in its directory")]
    Protocol(String),
}

/// `--lua-versions` and the dependency each writes.
pub const LUA_VERSIONS: [(&str, &str); 10] = [
    ("5.1", "lua ~> 5.1"),
    ("5.2", "lua ~> 5.2"),
    ("5.3", "lua ~> 5.3"),
    ("5.4", "lua ~> 5.4"),
    ("5.1,5.2", "lua >= 5.1, < 5.3"),
    ("5.2,5.3", "lua >= 5.2, < 5.4"),
    ("5.3,5.4", "lua >= 5.3, < 5.5"),
    ("5.1,5.2,5.3", "lua >= 5.1, < 5.4"),
    ("5.2,5.3,5.4", "lua >= 5.2, < 5.5"),
    ("5.1,5.2,5.3,5.4", "lua >= 5.1, < 5.5"),
];

const SCM: [&str; 8] = [
    "git",
    "git+http",
    "git+https",
    "git+ssh",
    "hg",
    "hg+http",
    "hg+https",
    "hg+ssh",
];

fn split_url(url: &str) -> (&str, &str) {
    url.split_once("://").unwrap_or(("file", url))
}

/// Protocols LuaRocks fetches with git.
fn is_git(protocol: &str) -> bool {
    protocol == "git" || protocol.starts_with("git+")
}

fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

/// Writes the template (nothing on disk: the caller saves `text`).
/// `cwd` is where LuaRocks runs; `fetch` downloads an archive URL.
pub fn write_rockspec(
    request: &Request,
    cwd: &Path,
    fetch: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Written, TemplateError> {
    let (mut name, mut version) = (request.name.clone(), request.version.clone());
    let location = match (&name, &version, &request.location) {
        (None, _, _) => ".".to_owned(),
        (Some(n), None, _) => {
            let l = n.clone();
            name = None;
            l
        }
        (Some(_), Some(v), None) => {
            let l = v.clone();
            version = None;
            l
        }
        (_, _, Some(l)) => l.clone(),
    };
    if let Some(tag) = &request.tag {
        version = version.or_else(|| Some(tag.strip_prefix('v').unwrap_or(tag).to_owned()));
    }
    let (protocol, pathname) = split_url(&location);
    let basic = matches!(protocol, "http" | "https" | "ftp" | "file");
    if protocol == "file" {
        if pathname == "." {
            name = name.or_else(|| Some(base_name(&cwd.display().to_string()).to_owned()));
        }
    } else if basic {
        let file = base_name(&location);
        if let Some((n, v)) = file.rsplit_once('-').filter(|(n, _)| !n.is_empty()) {
            // `(.*)-([^-]+)`, then `%.[a-z]+$` and `%.tar$` off the version.
            name = name.or_else(|| Some(n.to_owned()));
            let mut v = v.to_owned();
            if let Some((stem, ext)) = v.rsplit_once('.') {
                if !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_lowercase()) {
                    v = stem.to_owned();
                }
            }
            if let Some(stem) = v.strip_suffix(".tar") {
                v = stem.to_owned();
            }
            version = version.or(Some(v));
        }
    } else if is_git(protocol) {
        // `dir.base_name(location):gsub("%.[^.]+$", "")`.
        let base = base_name(&location);
        let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
        name = name.or_else(|| Some(stem.to_owned()));
    } else {
        return Err(TemplateError::Protocol(protocol.to_owned()));
    }
    let name = name.ok_or(TemplateError::NoName)?;
    let version = version.unwrap_or_else(|| "dev".to_owned());
    let file = request
        .output
        .clone()
        .unwrap_or_else(|| cwd.join(format!("{}-{version}-1.rockspec", name.to_lowercase())));
    let dependency = match &request.lua_versions {
        Some(v) => Some(
            LUA_VERSIONS
                .iter()
                .find(|(k, _)| k == v)
                .map(|(_, d)| *d)
                .ok_or(TemplateError::LuaVersions)?,
        ),
        None => None,
    };
    let mut written = Written {
        file,
        text: String::new(),
        said: Vec::new(),
        warnings: Vec::new(),
    };
    let url = if location.contains("://") {
        location.clone()
    } else {
        scm_url(&cwd.join(&location)).unwrap_or_else(|| {
            "*** please add URL for source tarball, zip or repository here ***".into()
        })
    };
    let homepage = request.homepage.clone().unwrap_or_else(|| {
        let (p, path) = split_url(&url);
        SCM.contains(&p)
            .then(|| {
                ["github.com", "bitbucket.org", "gitlab.com"]
                    .iter()
                    .find(|d| path.starts_with(*d))
                    .map(|_| format!("https://{}", path.strip_suffix(".git").unwrap_or(path)))
            })
            .flatten()
            .unwrap_or_else(|| "*** please enter a project homepage ***".into())
    });
    let mut source = Table::new();
    source.insert("url", s(&url));
    if let Some(tag) = &request.tag {
        source.insert("tag", s(tag));
    }
    let mut description = Table::new();
    description.insert(
        "summary",
        s(request
            .summary
            .as_deref()
            .unwrap_or("*** please specify description summary ***")),
    );
    description.insert(
        "detailed",
        s(request
            .detailed
            .as_deref()
            .unwrap_or("*** please enter a detailed description ***")),
    );
    description.insert("homepage", s(&homepage));
    description.insert(
        "license",
        s(request
            .license
            .as_deref()
            .unwrap_or("*** please specify a license ***")),
    );
    if dependency.is_none() {
        written.warnings.push(
            "Warning: Please specify supported Lua versions with --lua-versions=<ver>. See 'rockstore help write_rockspec'."
                .into(),
        );
    }
    let mut unpacked: Option<tempfile::TempDir> = None;
    let mut local_dir = cwd.join(&location);
    if location.contains("://") {
        if version != "dev" && !basic {
            source.insert(
                "tag",
                s(&request.tag.clone().unwrap_or(format!("v{version}"))),
            );
        }
        const FETCHED: &str =
            "File successfully downloaded. Making checksum and checking base dir...";
        let got: Result<(tempfile::TempDir, PathBuf), String> = if is_git(protocol) {
            // A clone, as LuaRocks' git fetcher makes, at the tag.
            let tmp = tempfile::tempdir().map_err(|e| TemplateError::Directory(e.to_string()))?;
            let tag = source.get_string("tag");
            let module = base_name(&location).trim_end_matches(".git").to_owned();
            crate::rel_path::RelPath::parse(&module)
                .map_err(|e| e.to_string())
                .and_then(|dir| {
                    crate::build::source::git_checkout(&location, tag.as_deref(), tmp.path(), &dir)
                        .map_err(|e| e.to_string())
                })
                .map(|()| {
                    written.said.push(FETCHED.into());
                    let checkout = tmp.path().join(&module);
                    (tmp, checkout)
                })
        } else if basic {
            match fetch(&location) {
                Ok(bytes) => {
                    written.said.push(FETCHED.into());
                    source.insert("md5", s(&crate::md5sum::md5_hex(&bytes)));
                    let tmp =
                        tempfile::tempdir().map_err(|e| TemplateError::Directory(e.to_string()))?;
                    let base = unpack_and_find_base(&bytes, &location, tmp.path(), &mut written);
                    let unpacked_dir = tmp.path().join(base);
                    Ok((tmp, unpacked_dir))
                }
                Err(why) => Err(why),
            }
        } else {
            Err(format!("cannot fetch a {protocol} location"))
        };
        match got {
            Ok((tmp, dir)) => {
                local_dir = dir;
                unpacked = Some(tmp);
            }
            Err(why) => {
                written
                    .warnings
                    .push(format!("Warning: Could not fetch sources - {why}"));
                local_dir = cwd.to_path_buf();
            }
        }
    }
    if !local_dir.is_dir() {
        return Err(TemplateError::Directory(location));
    }
    let libs: Option<Vec<String>> = request.lib.as_ref().map(|l| {
        l.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let mut rockspec = Table::new();
    if let Some(f) = &request.rockspec_format {
        rockspec.insert("rockspec_format", s(f));
    }
    rockspec.insert("package", s(&name));
    rockspec.insert("version", s(&format!("{version}-1")));
    if request.summary.is_none() || request.detailed.is_none() {
        let (summary, detailed) = readme_description(&local_dir);
        set_or_remove(
            &mut description,
            "summary",
            request.summary.clone().or(summary),
        );
        set_or_remove(
            &mut description,
            "detailed",
            request.detailed.clone().or(detailed),
        );
    }
    if request.license.is_none() {
        if let Some(license) = detect_license(&local_dir) {
            description.insert("license", s(license));
        }
    }
    rockspec.insert("source", Value::Table(source));
    rockspec.insert("description", Value::Table(description));
    if let Some(d) = dependency {
        let mut deps = Table::new();
        deps.push(s(d));
        rockspec.insert("dependencies", Value::Table(deps));
    }
    if let Some(libs) = &libs {
        let mut ext = Table::new();
        for lib in libs {
            let mut one = Table::new();
            one.insert("library", s(lib));
            ext.insert(&lib.to_uppercase(), Value::Table(one));
        }
        rockspec.insert("external_dependencies", Value::Table(ext));
    }
    rockspec.insert(
        "build",
        Value::Table(autodetect(&local_dir, libs.as_deref())),
    );
    drop(unpacked);
    written.text = save_from_table_ordered(&rockspec, ROCKSPEC_ORDER);
    Ok(written)
}

fn set_or_remove(table: &mut Table, key: &str, value: Option<String>) {
    match value {
        Some(v) => table.insert(key, s(&v)),
        None => {
            table.remove(key);
        }
    }
}

/// The directory's `git config --get remote.origin.url` (else `hg paths
/// default`), made a LuaRocks source URL.
fn scm_url(dir: &Path) -> Option<String> {
    for (program, args) in [
        ("git", &["config", "--get", "remote.origin.url"][..]),
        ("hg", &["paths", "default"][..]),
    ] {
        let out = std::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(url) = text.lines().next().filter(|l| !l.is_empty()) else {
            continue;
        };
        let url = if let Some((user, rest)) = url.split_once('@').filter(|_| !url.contains("://")) {
            let (host, path) = rest.split_once(':').unwrap_or((rest, ""));
            format!("{program}+ssh://{user}@{host}/{path}")
        } else if !url.starts_with(&format!("{program}://")) {
            format!("{program}+{url}")
        } else {
            url.to_owned()
        };
        if SCM.contains(&split_url(&url).0) {
            return Some(url);
        }
    }
    None
}

/// LuaRocks' `find_base_dir` for write_rockspec: the directory the URL
/// names, else the first one the archive holds.
fn unpack_and_find_base(bytes: &[u8], url: &str, into: &Path, written: &mut Written) -> String {
    let inferred = crate::rockspec::source::deduce_base_dir(url);
    let file = base_name(url);
    if let Ok(dir) = cap_std::fs::Dir::open_ambient_dir(into, cap_std::ambient_authority()) {
        let _ = crate::archive::unpack(bytes, file, &dir, crate::archive::Limits::DEFAULT);
    }
    if into.join(&inferred).exists() {
        return inferred;
    }
    written
        .warnings
        .push(format!("Directory {inferred} not found"));
    let mut dirs: Vec<String> = std::fs::read_dir(into)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    match dirs.into_iter().next() {
        Some(found) => {
            written.warnings.push(format!("Found {found}"));
            found
        }
        None => inferred,
    }
}

/// Summary and description from `README.md` (else `README`): the first
/// paragraph after a blank line that does not open with `[`.
fn readme_description(dir: &Path) -> (Option<String>, Option<String>) {
    let Some(data) = ["README.md", "README"]
        .iter()
        .find_map(|f| std::fs::read(dir.join(f)).ok())
    else {
        return (None, None);
    };
    let data = String::from_utf8_lossy(&data).into_owned();
    let paragraph =
        first_paragraph(&data).or_else(|| data.find("\n\n").map(|i| data[i + 2..].to_owned()));
    let Some(paragraph) = paragraph else {
        return (None, None);
    };
    let summary = if paragraph.len() < 80 {
        Some(paragraph.replace('\n', ""))
    } else {
        first_sentence(&paragraph.replace('\n', " "))
    };
    (summary, Some(paragraph))
}

/// `\n\n([^%[].-)\n\n`.
fn first_paragraph(data: &str) -> Option<String> {
    let bytes = data.as_bytes();
    let mut from = 0;
    while let Some(i) = data[from..].find("\n\n").map(|i| i + from) {
        let start = i + 2;
        if start < bytes.len() && bytes[start] != b'[' {
            let end = data[start + 1..].find("\n\n").map(|e| e + start + 1)?;
            return Some(data[start..end].to_owned());
        }
        from = i + 1;
    }
    None
}

/// `([^.]*%.) `.
fn first_sentence(text: &str) -> Option<String> {
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '.' {
            if text[i + 1..].starts_with(' ') {
                return Some(text[start..=i].to_owned());
            }
            start = i + 1;
        }
    }
    None
}

/// LuaRocks' license recognition: the sum of the bytes 33–128 of
/// `COPYING`, `LICENSE` or `MIT-LICENSE.txt`, a first `Copyright` line off.
fn detect_license(dir: &Path) -> Option<&'static str> {
    let data = ["COPYING", "LICENSE", "MIT-LICENSE.txt"]
        .iter()
        .find_map(|f| std::fs::read(dir.join(f)).ok())?;
    let body = if data.starts_with(b"Copyright ") {
        match data.iter().position(|b| *b == b'\n') {
            Some(nl) => &data[nl + 1..],
            None => &data[..],
        }
    } else {
        &data[..]
    };
    let sum: u64 = body
        .iter()
        .filter(|b| **b > 32 && **b <= 128)
        .map(|b| u64::from(*b))
        .sum();
    match sum {
        78656 => Some("MIT"),
        49311 => Some("ISC"),
        _ => None,
    }
}

/// `path.path_to_module`: `.lua` or `.so` off, `/` to `.`, dots trimmed.
fn path_to_module(file: &str) -> String {
    let name = file
        .strip_suffix(".lua")
        .or_else(|| file.strip_suffix(".so"))
        .map_or_else(|| file.to_owned(), |n| n.replace('/', "."));
    name.trim_matches('.').to_owned()
}

/// LuaRocks 3.8's `builtin.autodetect_modules`, with the `build` table it
/// fills: type, modules, install.bin, copy_directories.
fn autodetect(dir: &Path, libs: Option<&[String]>) -> Table {
    let prefix = ["src", "lua", "lib"]
        .iter()
        .find(|p| dir.join(p).is_dir())
        .map_or(String::new(), |p| format!("{p}/"));
    let root = dir.join(&prefix);
    let mut files = Vec::new();
    find(&root, "", &mut files);
    let mut modules = Table::new();
    for file in files {
        let base = file.split('/').next().unwrap_or(&file);
        if matches!(
            base,
            "spec" | ".luarocks" | "lua_modules" | "test.lua" | "tests.lua"
        ) {
            continue;
        }
        if file.ends_with(".lua") {
            modules.insert(&path_to_module(&file), s(&format!("{prefix}{file}")));
        } else if let Some(stem) = file.strip_suffix(".c") {
            let name = std::fs::read_to_string(root.join(&file))
                .ok()
                .and_then(|text| luaopen_name(&text))
                .unwrap_or_else(|| path_to_module(&format!("{stem}.lua")));
            let mut c = Table::new();
            c.insert("sources", s(&format!("{prefix}{file}")));
            if let Some(libs) = libs {
                let list = |f: &dyn Fn(&str) -> String| {
                    let mut t = Table::new();
                    for l in libs {
                        t.push(s(&f(l)));
                    }
                    Value::Table(t)
                };
                c.insert("libraries", list(&|l| l.to_owned()));
                c.insert(
                    "incdirs",
                    list(&|l| format!("$({}_INCDIR)", l.to_uppercase())),
                );
                c.insert(
                    "libdirs",
                    list(&|l| format!("$({}_LIBDIR)", l.to_uppercase())),
                );
            }
            modules.insert(&name, Value::Table(c));
        }
    }
    let mut build = Table::new();
    build.insert("type", s("builtin"));
    build.insert("modules", Value::Table(modules));
    let bindir = ["src/bin", "bin"]
        .into_iter()
        .find(|b| dir.join(b).is_dir());
    if let Some(bindir) = bindir {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(bindir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut bin = Table::new();
        for n in names {
            bin.push(s(&format!("{bindir}/{n}")));
        }
        let mut install = Table::new();
        install.insert("bin", Value::Table(bin));
        build.insert("install", Value::Table(install));
    }
    let mut copy = Table::new();
    for d in ["doc", "docs", "samples", "tests"] {
        if dir.join(d).is_dir() {
            copy.push(s(d));
        }
    }
    if !copy.is_empty() {
        build.insert("copy_directories", Value::Table(copy));
    }
    build
}

/// `int%s+luaopen_([a-zA-Z0-9_]+)`.
fn luaopen_name(text: &str) -> Option<String> {
    let mut at = 0;
    while let Some(i) = text[at..].find("int").map(|i| i + at) {
        let rest = &text[i + 3..];
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
        if trimmed.len() < rest.len() {
            if let Some(name) = trimmed.strip_prefix("luaopen_") {
                let id: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !id.is_empty() {
                    return Some(id);
                }
            }
        }
        at = i + 3;
    }
    None
}

/// `fs.find`: every entry under `dir`, recursively (links followed, as
/// `lfs.attributes` does), as paths relative to it.
fn find(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let item = format!("{prefix}{name}");
        out.push(item.clone());
        if dir.join(&name).is_dir() {
            find(&dir.join(&name), &format!("{item}/"), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_and_c_module_names_read_as_luarocks() {
        assert_eq!(
            first_paragraph("# t\n\n[badge]\n\nThe text.\n\nMore.").as_deref(),
            Some("The text.")
        );
        assert_eq!(
            first_sentence("It does a thing. And more. x").as_deref(),
            Some("It does a thing.")
        );
        assert_eq!(
            luaopen_name("static int f;\nint  luaopen_foo_bar(lua_State *L)").as_deref(),
            Some("foo_bar")
        );
        assert_eq!(path_to_module("a/b.lua"), "a.b");
    }
}
