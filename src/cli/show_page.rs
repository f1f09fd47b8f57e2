//! The page `show` prints for an installed rock, plain and `--porcelain`,
//! line for line as LuaRocks 3.8's `show.lua` renders its two templates —
//! including its quirks (a command's "file" is the bin directory glued to
//! the command's path; every dependency the tree manifest records is
//! "indirectly pulled", direct ones too).

use std::collections::BTreeSet;
use std::path::Path;

use rockstore::rockspec::{Dependency, Rockspec, Version};
use rockstore::tree::profile::{files_under, module_name};
use rockstore::tree::{ProfileRock, Tree};

/// A `name (label)` or `name (file)` row.
struct Row {
    name: String,
    value: String,
}

/// Everything one page shows.
pub struct Page {
    package: String,
    version: String,
    summary: String,
    detailed: Vec<String>,
    license: Option<String>,
    homepage: Option<String>,
    issues: Option<String>,
    labels: Option<String>,
    location: String,
    commands: Vec<Row>,
    modules: Vec<Row>,
    bdeps: Vec<Row>,
    tdeps: Vec<Row>,
    deps: Vec<Row>,
    ideps: Vec<Row>,
}

impl Page {
    /// The page for `rock` of `tree`, whose files are in `item`.
    pub fn new(
        tree: &Tree,
        rocks: &[ProfileRock],
        rock: &ProfileRock,
        spec: &Rockspec,
        item: &Path,
        provided: &[(String, String)],
    ) -> std::io::Result<Page> {
        let d = &spec.description;
        // LuaRocks' `installed_rock_label`: the newest installed version
        // that meets the constraints.
        let label =
            |name: &str, constraints: &[rockstore::rockspec::version::Constraint]| match provided
                .iter()
                .find(|(n, _)| n == name)
            {
                Some((_, v)) => format!("using {v}"),
                None => rocks
                    .iter()
                    .filter(|r| r.name == name)
                    .map(|r| Version::parse(&r.version))
                    .filter(|v| rockstore::rockspec::version::matches_all(constraints, v))
                    .max_by(|a, b| a.sort_order(b))
                    .map_or("missing".to_owned(), |v| format!("using {v}")),
            };
        let rows = |deps: &[Dependency]| -> Vec<Row> {
            deps.iter()
                .map(|dep| Row {
                    name: dep.to_string(),
                    value: label(&dep.name, &dep.constraints),
                })
                .collect()
        };
        // LuaRocks' `adjust_path`: the versioned name (`rock_1_0_1-…`,
        // a version kept beside another) where that is what is deployed.
        let deployed = |dir: &Path, file: &str| {
            let versioned = dir.join(rockstore::tree::profile::versioned(
                &rock.name,
                &rock.version,
                Path::new(file),
            ));
            if std::fs::symlink_metadata(&versioned).is_ok() {
                versioned
            } else {
                dir.join(file)
            }
        };
        let bin_dir = tree.bin_dir();
        let bin = bin_dir.display().to_string();
        let commands = files(item, "bin")?
            .iter()
            .map(|f| {
                let name = deployed(&bin_dir, f).display().to_string();
                Row {
                    value: format!("{bin}{name}"),
                    name,
                }
            })
            .collect();
        let mut modules: Vec<Row> = Vec::new();
        for (sub, dir) in [("lua", tree.lua_dir()), ("lib", tree.lib_dir())] {
            modules.extend(files(item, sub)?.iter().map(|f| Row {
                name: module_name(Path::new(f)),
                value: deployed(&dir, f).display().to_string(),
            }));
        }
        modules.sort_by(|a, b| a.name.cmp(&b.name).then(a.value.cmp(&b.value)));
        let ideps = closure(rocks, rock, provided)
            .into_iter()
            .map(|name| Row {
                value: label(&name, &[]),
                name,
            })
            .collect();
        Ok(Page {
            package: spec.package.clone(),
            version: spec.version.to_string(),
            summary: d.summary.clone().unwrap_or_default(),
            detailed: d
                .detailed
                .as_deref()
                .map(|t| format_text(t).lines().map(str::to_owned).collect())
                .unwrap_or_default(),
            license: d.license.clone(),
            homepage: d.homepage.clone(),
            issues: d.issues_url.clone(),
            labels: (!d.labels.is_empty()).then(|| d.labels.join(", ")),
            location: tree.root.display().to_string(),
            commands,
            modules,
            bdeps: rows(&spec.build_dependencies),
            tdeps: rows(&spec.test_dependencies),
            deps: rows(&spec.dependencies),
            ideps,
        })
    }

    /// The optional one-line fields: (plain label, porcelain key, value).
    fn fields(&self) -> [(&'static str, &'static str, &Option<String>); 4] {
        [
            ("License:      ", "license", &self.license),
            ("Homepage:     ", "homepage", &self.homepage),
            ("Issues:       ", "issues", &self.issues),
            ("Labels:       ", "labels", &self.labels),
        ]
    }

    /// The lists: (plain title, porcelain key, rows).
    fn lists(&self) -> [(&'static str, &'static str, &Vec<Row>); 6] {
        [
            ("Commands:", "command", &self.commands),
            ("Modules:", "module", &self.modules),
            ("Has build dependency on:", "build_dependency", &self.bdeps),
            ("Tests depend on:", "test_dependency", &self.tdeps),
            ("Depends on:", "dependency", &self.deps),
            ("Indirectly pulling:", "indirect_dependency", &self.ideps),
        ]
    }

    /// The plain page.
    pub fn friendly(&self) -> String {
        let mut out = vec![String::new()];
        out.push(format!(
            "{} {} - {}",
            self.package, self.version, self.summary
        ));
        out.push(String::new());
        if !self.detailed.is_empty() {
            out.extend(self.detailed.iter().cloned());
            out.push(String::new());
        }
        for (text, _, value) in self.fields() {
            if let Some(v) = value {
                out.push(format!("{text}\t{v}"));
            }
        }
        out.push(format!("Installed in: \t{}", self.location));
        for (title, _, rows) in self.lists() {
            if !rows.is_empty() {
                out.push(String::new());
                out.push(title.to_owned());
                out.extend(rows.iter().map(|r| format!("\t{} ({})", r.name, r.value)));
            }
        }
        out.push(String::new());
        out.join("\n")
    }

    /// The `--porcelain` page.
    pub fn porcelain(&self) -> String {
        let mut out = vec![
            format!("package\t{}", self.package),
            format!("version\t{}", self.version),
            format!("summary\t{}", self.summary),
        ];
        out.extend(self.detailed.iter().map(|l| format!("detailed\t{l}")));
        for (_, key, value) in self.fields() {
            if let Some(v) = value {
                out.push(format!("{key}\t{v}"));
            }
        }
        out.push(format!("location\t{}", self.location));
        for (_, key, rows) in self.lists() {
            out.extend(
                rows.iter()
                    .map(|r| format!("{key}\t{}\t{}", r.name, r.value)),
            );
        }
        out.join("\n")
    }
}

/// The files under `item/sub`, relative, sorted.
fn files(item: &Path, sub: &str) -> std::io::Result<Vec<String>> {
    Ok(files_under(&item.join(sub))?
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect())
}

/// The names of every rock the tree manifest records as `rock`'s
/// dependencies: its dependencies installed in the tree, and theirs,
/// without the rocks the VM provides; sorted.
fn closure(
    rocks: &[ProfileRock],
    rock: &ProfileRock,
    provided: &[(String, String)],
) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![rock];
    while let Some(r) = stack.pop() {
        for dep in r
            .dependencies
            .iter()
            .filter_map(|d| Dependency::parse(d).ok())
        {
            if provided.iter().any(|(n, _)| *n == dep.name) || !seen.insert(dep.name.clone()) {
                continue;
            }
            let chosen = rocks
                .iter()
                .filter(|c| c.name == dep.name)
                .max_by(|a, b| Version::parse(&a.version).sort_order(&Version::parse(&b.version)));
            stack.extend(chosen);
        }
    }
    seen.into_iter().collect()
}

/// LuaRocks' `format_text`: leading and trailing blanks dropped, lines of
/// a paragraph joined, each paragraph wrapped at 80 columns.
fn format_text(text: &str) -> String {
    let trimmed = text.trim_start();
    let trimmed = trimmed.strip_suffix(char::is_whitespace).unwrap_or(trimmed);
    let lines: Vec<&str> = trimmed.split('\n').collect();
    let mut joined = String::new();
    for (i, line) in lines.iter().enumerate() {
        let line = if i == 0 {
            line
        } else {
            line.trim_start_matches([' ', '\t'])
        };
        if i > 0 {
            let prev_blank = lines[i - 1].trim_start_matches([' ', '\t']).is_empty();
            joined.push(if prev_blank || line.is_empty() {
                '\n'
            } else {
                ' '
            });
        }
        joined.push_str(line);
    }
    let paragraphs: Vec<String> = joined.split("\n\n").map(word_wrap).collect();
    paragraphs.join("\n\n").trim_end().to_owned()
}

fn word_wrap(line: &str) -> String {
    const WIDTH: usize = 80;
    if line.len() <= WIDTH {
        return line.to_owned();
    }
    let mut width = WIDTH;
    while !line.is_char_boundary(width) {
        width -= 1;
    }
    match line[..width].rfind(' ') {
        Some(brk) => format!("{}\n{}", &line[..brk], word_wrap(&line[brk + 1..])),
        None => line.to_owned(),
    }
}
