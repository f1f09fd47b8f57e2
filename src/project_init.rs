//! Making a project as `luarocks init` does: a rockspec template (unless
//! the directory has one), `.gitignore` entries, `.luarocks/config-5.x.lua`
//! naming this Lua, `.luarocks/default-lua-version.lua`, the empty tree
//! `lua_modules/`, and the wrappers `./lua` (Lua with the project's
//! modules first on its paths) and `./luarocks` (this program on the
//! project's tree).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::lua_install::LuaInstall;
use crate::ops::template::{self, TemplateError};
use crate::tree::Tree;

/// Why a project could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The rockspec template.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A file or directory could not be written.
    #[error("cannot write {}", .path.display())]
    Write {
        /// What.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What to make.
#[derive(Debug, Clone)]
pub struct InitRequest<'a> {
    /// The project directory.
    pub dir: &'a Path,
    /// The project's name (default: the directory's).
    pub name: Option<String>,
    /// Its version (default: `dev`).
    pub version: Option<String>,
    /// Write `./lua` and the project's config anew.
    pub reset: bool,
    /// The template's fields, as `write_rockspec` takes them (its name,
    /// version and location are the project's).
    pub template: template::Request,
    /// The Lua the project is for.
    pub lua: &'a LuaInstall,
    /// The program `./luarocks` runs.
    pub program: &'a Path,
    /// The `--store` `init` was run with, which `./luarocks` passes on
    /// (without it, the wrapper would use the user's default store).
    pub store: Option<&'a Path>,
}

fn write(path: &Path, text: &str) -> Result<(), InitError> {
    std::fs::write(path, text).map_err(|source| InitError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn make_dir(path: &Path) -> Result<(), InitError> {
    std::fs::create_dir_all(path).map_err(|source| InitError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn write_script(path: &Path, text: &str) -> Result<(), InitError> {
    write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|source| {
        InitError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Makes the project; `say` hears LuaRocks' progress lines, `warn` the
/// template's warnings.
pub fn init(
    req: &InitRequest<'_>,
    say: &dyn Fn(&str),
    warn: &dyn Fn(&str),
) -> Result<(), InitError> {
    let dir = req.dir;
    let name = req.name.clone().unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".to_owned())
    });
    let version = req.version.clone().unwrap_or_else(|| "dev".to_owned());
    let lua = req.lua;
    let v = &lua.version;
    say("");
    say(&format!("Initializing project '{name}' for Lua {v} ..."));
    let has_rockspec = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "rockspec"))
    });
    if !has_rockspec {
        // As LuaRocks' init: `write_rockspec` for this directory.
        let request = template::Request {
            name: Some(name.clone()),
            version: Some(version),
            location: Some(dir.display().to_string()),
            ..req.template.clone()
        };
        let written = template::write_rockspec(&request, dir, &|url| {
            Err(format!(
                "{url}: a project's own directory needs no download"
            ))
        })?;
        for line in &written.warnings {
            warn(line);
        }
        for line in &written.said {
            say(line);
        }
        write(&written.file, &written.text)?;
        say("");
        say(&format!(
            "Wrote template at {} -- you should now edit and finish it.",
            written.file.display()
        ));
        say("");
    }
    say("");
    say("Adding entries to .gitignore ...");
    let gitignore = dir.join(".gitignore");
    let mut ignored = std::fs::read_to_string(&gitignore).unwrap_or_default();
    for entry in ["/luarocks", "/lua", "/lua_modules", "/.luarocks"] {
        if !ignored.lines().any(|l| l == entry) {
            if !ignored.is_empty() && !ignored.ends_with('\n') {
                ignored.push('\n');
            }
            ignored.push_str(entry);
            ignored.push('\n');
        }
    }
    write(&gitignore, &ignored)?;
    say("Preparing ./.luarocks/ ...");
    let meta = dir.join(".luarocks");
    make_dir(&meta)?;
    let config = meta.join(format!("config-{v}.lua"));
    if req.reset {
        let _ = std::fs::remove_file(dir.join("lua"));
        let _ = std::fs::remove_file(&config);
    }
    if !config.exists() {
        let mut vars = Vec::new();
        if let Some(bindir) = lua.interpreter.as_deref().and_then(Path::parent) {
            vars.push(("LUA_BINDIR", bindir.display().to_string()));
        }
        if let Some(prefix) = &lua.dir {
            vars.push(("LUA_DIR", prefix.display().to_string()));
        }
        if let Some(incdir) = &lua.incdir {
            vars.push(("LUA_INCDIR", incdir.display().to_string()));
        }
        let interpreter = lua
            .interpreter
            .as_deref()
            .and_then(Path::file_name)
            .map_or_else(|| format!("lua{v}"), |n| n.to_string_lossy().into_owned());
        let body: Vec<String> = vars
            .iter()
            .map(|(k, val)| format!("   {k} = \"{val}\""))
            .collect();
        write(
            &config,
            &format!(
                "lua_interpreter = \"{interpreter}\"\nvariables = {{\n{}\n}}\n",
                body.join(",\n")
            ),
        )?;
        say(&format!("Wrote .luarocks/config-{v}.lua"));
    }
    write(
        &meta.join("default-lua-version.lua"),
        &format!("return \"{v}\"\n"),
    )?;
    say("Preparing ./lua_modules/ ...");
    let modules = dir.join("lua_modules");
    make_dir(&modules)?;
    let tree = Tree::new(&modules, v).map_err(|source| InitError::Write {
        path: modules.clone(),
        source,
    })?;
    // An empty tree as LuaRocks leaves it: `lib/luarocks/rocks-5.x/`.
    make_dir(&tree.rocks_dir())?;
    say("Preparing ./luarocks ...");
    write_script(
        &dir.join("luarocks"),
        &format!(
            "#!/bin/sh\n\nexec '{}'{} --project-tree '{}' \"$@\"\n",
            req.program.display(),
            req.store
                .map(|s| format!(" --store '{}'", s.display()))
                .unwrap_or_default(),
            modules.display()
        ),
    )?;
    say(&format!("Preparing ./lua for version {v}..."));
    let interpreter = lua
        .interpreter
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("lua{v}")));
    write_script(
        &dir.join("lua"),
        &format!(
            "#!/bin/sh\n\nexec '{}' -e 'package.path=\"{lua_dir}/?.lua;{lua_dir}/?/init.lua;\"..package.path;package.cpath=\"{lib_dir}/?.so;\"..package.cpath' $([ \"$*\" ] || echo -i) \"$@\"\n",
            interpreter.display(),
            lua_dir = tree.lua_dir().display(),
            lib_dir = tree.lib_dir().display(),
        ),
    )?;
    Ok(())
}
