//! A rocks server's `index.html`, as `luarocks-admin make_manifest` (and
//! `add --index`) writes it: one row per rock, newest version first, each
//! version's files, and the newest rockspec's summary, description,
//! source, homepage, license and external dependencies.

use std::collections::BTreeMap;

use crate::lua::{Key, Table, Value};
use crate::rockspec::version::Version;

const HEADER: &str = r#"<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html>
<head>
<title>Available rocks</title>
<meta http-equiv="content-type" content="text/html; charset=iso-8859-1">
<style>
body {
   background-color: white;
   font-family: "bitstream vera sans", "verdana", "sans";
   font-size: 14px;
}
a {
   color: #0000c0;
   text-decoration: none;
}
a.pkg {
   color: black;
}
a:hover {
   text-decoration: underline;
}
td.main {
   border-style: none;
}
blockquote {
   font-size: 12px;
}
td.package {
   background-color: #f0f0f0;
   vertical-align: top;
}
td.spacer {
   height: 5px;
}
td.version {
   background-color: #d0d0d0;
   vertical-align: top;
   text-align: left;
   padding: 5px;
   width: 100px;
}
p.manifest {
   font-size: 8px;
}
</style>
</head>
<body>
<h1>Available rocks</h1>
<p>
Lua modules available from this location for use with <a href="http://www.luarocks.org">LuaRocks</a>:
</p>
<table class="main">
"#;

const PACKAGE_BEGIN: &str = r##"<td class="package">
<p><a name="$anchor"></a><a href="#$anchor" class="pkg"><b>$package</b></a> - $summary<br/>
</p><blockquote><p>$detailed<br/>
$externaldependencies
<font size="-1"><a href="$original">latest sources</a> $homepage | License: $license</font></p>
</blockquote></a></td>
<td class="version">
"##;

const PACKAGE_END: &str = "</td></tr>\n<tr><td colspan=\"2\" class=\"spacer\"></td></tr>\n";

const FOOTER_BEGIN: &str =
    "</table>\n<p class=\"manifest\">\n<a href=\"manifest\">manifest file</a>\n";

const FOOTER_END: &str = "</p>\n</body>\n</html>\n";

/// One file of a rock on the server.
#[derive(Debug, Clone)]
pub struct ServedFile {
    /// `rockspec`, `src`, `all`, `linux-x86_64`, …
    pub arch: String,
    /// For a rockspec: the file's evaluated table (as LuaRocks'
    /// `persist.load_into_table` reads it, platforms unmerged).
    pub rockspec: Option<Table>,
}

/// rock name → version → its files.
pub type Served = BTreeMap<String, BTreeMap<String, Vec<ServedFile>>>;

/// The page.
pub fn render(served: &Served) -> String {
    let mut out = String::from(HEADER);
    for (package, versions) in served {
        let mut ordered: Vec<(&String, &Vec<ServedFile>)> = versions.iter().collect();
        // `vers.compare_versions`: newest first.
        ordered.sort_by(|a, b| Version::parse(b.0).sort_order(&Version::parse(a.0)));
        let mut output = String::from(PACKAGE_BEGIN);
        let mut latest: Option<&Table> = None;
        for (version, files) in ordered {
            output.push_str(version);
            output.push_str(":&nbsp;");
            let mut files: Vec<&ServedFile> = files.iter().collect();
            files.sort_by(|a, b| a.arch.cmp(&b.arch));
            let links: Vec<String> = files
                .iter()
                .map(|f| {
                    let file = if f.arch == "rockspec" {
                        if latest.is_none() {
                            latest = f.rockspec.as_ref();
                        }
                        format!("{package}-{version}.rockspec")
                    } else {
                        format!("{package}-{version}.{}.rock", f.arch)
                    };
                    format!("<a href=\"{file}\">{}</a>", f.arch)
                })
                .collect();
            output.push_str(&links.join(",&nbsp;"));
            output.push_str("<br/>");
        }
        output.push_str(PACKAGE_END);
        let vars = match latest {
            Some(spec) => rockspec_vars(package, spec),
            None => {
                let mut v = BTreeMap::new();
                v.insert("anchor", package.clone());
                v.insert("package", package.clone());
                v
            }
        };
        // `output:gsub("$(%w+)", vars)`; without a rockspec the names it
        // has no value for become empty.
        out.push_str(&substitute(&output, &vars, latest.is_none()));
    }
    out.push_str(FOOTER_BEGIN);
    for v in ["5.1", "5.2", "5.3", "5.4"] {
        out.push_str(&format!(
            "&bull; <a href=\"manifest-{v}\">Lua {v} manifest file</a> (<a href=\"manifest-{v}.zip\">zip</a>)\n"
        ));
    }
    out.push_str(FOOTER_END);
    out
}

fn rockspec_vars(package: &str, spec: &Table) -> BTreeMap<&'static str, String> {
    let mut vars = BTreeMap::new();
    let description = spec.get("description").and_then(Value::as_table);
    let field = |name: &str| description.and_then(|d| d.get_string(name));
    vars.insert("anchor", package.to_owned());
    if let Some(p) = spec.get_string("package") {
        vars.insert("package", p);
    }
    if let Some(url) = spec
        .get("source")
        .and_then(Value::as_table)
        .and_then(|s| s.get_string("url"))
    {
        vars.insert("original", url);
    }
    vars.insert("summary", field("summary").unwrap_or_default());
    let detailed = field("detailed")
        .unwrap_or_default()
        .replace("\n\n", "</p><p>");
    vars.insert("detailed", linkify(&squeeze_space(&detailed)));
    vars.insert(
        "license",
        field("license").unwrap_or_else(|| "N/A".to_owned()),
    );
    vars.insert(
        "homepage",
        field("homepage").map_or_else(String::new, |h| {
            format!("| <a href=\"{h}\" target=\"_blank\">project homepage</a>")
        }),
    );
    vars.insert(
        "externaldependencies",
        external_dependencies(spec.get("external_dependencies").and_then(Value::as_table)),
    );
    vars
}

/// `gsub("%s+", " ")`.
fn squeeze_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r') {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// LuaRocks' `(https?://[a-zA-Z0-9%.%%-_%+%[%]=%?&/$@;:]+)` made a link.
fn linkify(s: &str) -> String {
    let in_url = |c: char| c.is_ascii_alphanumeric() || ".%-_+[]=?&/$@;:".contains(c);
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("http") {
        let after = &rest[at + 4..];
        let after_scheme = after
            .strip_prefix("s://")
            .or_else(|| after.strip_prefix("://"));
        let Some(tail) = after_scheme else {
            out.push_str(&rest[..at + 4]);
            rest = after;
            continue;
        };
        let len = tail.find(|c: char| !in_url(c)).unwrap_or(tail.len());
        if len == 0 {
            out.push_str(&rest[..at + 4]);
            rest = after;
            continue;
        }
        let url_end = rest.len() - tail.len() + len;
        let url = &rest[at..url_end];
        out.push_str(&rest[..at]);
        out.push_str(&format!("<a href=\"{url}\" target=\"_blank\">{url}</a>"));
        rest = &rest[url_end..];
    }
    out.push_str(rest);
    out
}

/// `index.format_external_dependencies`.
fn external_dependencies(deps: Option<&Table>) -> String {
    let Some(deps) = deps else {
        return String::new();
    };
    let mut names: Vec<String> = Vec::new();
    let mut listed = Vec::new();
    let mut platforms = None;
    for (key, value) in sorted(deps) {
        if key == "platforms" {
            platforms = value.as_table();
        } else {
            names.push(key.to_lowercase());
            listed.push(key);
        }
    }
    if let Some(platforms) = platforms {
        for (platform, entries) in sorted(platforms) {
            let Some(entries) = entries.as_table() else {
                continue;
            };
            for (name, _) in sorted(entries) {
                if !listed.contains(&name) {
                    names.push(format!("{} (on {platform})", name.to_lowercase()));
                }
            }
        }
    }
    format!(
        "<p><b>External dependencies:</b> {}</p>",
        names.join(",&nbsp;")
    )
}

/// A table's string keys in LuaRocks' `sortedpairs` order (bytewise).
fn sorted(t: &Table) -> Vec<(String, &Value)> {
    let mut out: Vec<(String, &Value)> = t
        .iter()
        .filter_map(|(k, v)| match k {
            Key::String(s) => Some((s.clone(), v)),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Replaces each `$word` (`%w+`) with its value; a word with none stays,
/// or becomes empty when `blank_unknown`.
fn substitute(text: &str, vars: &BTreeMap<&str, String>, blank_unknown: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        if len == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        let word = &after[..len];
        match vars.get(word) {
            Some(value) => out.push_str(value),
            None if blank_unknown => {}
            None => {
                out.push('$');
                out.push_str(word);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_links_and_space_is_squeezed() {
        assert_eq!(
            linkify(&squeeze_space("see  https://x.org/a_b?c=1, or\nhttp:// nothing")),
            "see <a href=\"https://x.org/a_b?c=1\" target=\"_blank\">https://x.org/a_b?c=1</a>, or http:// nothing"
        );
    }

    #[test]
    fn words_without_values_stay_or_go() {
        let mut vars = BTreeMap::new();
        vars.insert("a", "1".to_owned());
        assert_eq!(substitute("$a-$b-$", &vars, false), "1-$b-$");
        assert_eq!(substitute("$a-$b-$", &vars, true), "1--$");
    }
}
