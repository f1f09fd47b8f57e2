//! The build backends (`builtin`, `make`, `cmake`, `command`, `none`) and
//! LuaRocks' generic install step (`build.install`, `copy_directories`,
//! default docs). Each runs in the unpacked source directory and writes
//! into the item's prefix with LuaRocks' rock-directory layout:
//! `lua/`, `lib/`, `bin/`, `conf/`, `doc/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rayon::prelude::*;

use super::variables::{substitute, Variables};
use super::BuildError;
use crate::rockspec::build::{CMake, CModule, Command as CommandBackend, Install, Make, Module};

/// Where a backend works and what it sees.
pub struct Ctx<'a> {
    /// The unpacked source directory (the build's working directory).
    pub src: &'a Path,
    /// The item being filled.
    pub prefix: &'a Path,
    /// Variables after overrides and external dependencies.
    pub vars: &'a Variables,
    /// Names LuaRocks would warn about as "unmatched variable".
    pub unknown: std::sync::Mutex<Vec<String>>,
}

impl Ctx<'_> {
    fn subst(&self, text: &str) -> String {
        let mut unknown = Vec::new();
        let out = substitute(text, self.vars, &mut unknown);
        if !unknown.is_empty() {
            if let Ok(mut all) = self.unknown.lock() {
                all.extend(unknown);
            }
        }
        out
    }

    fn var(&self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_default()
    }

    fn words(&self, name: &str) -> Vec<String> {
        self.var(name)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    fn mkdir(&self, dir: &Path) -> Result<(), BuildError> {
        std::fs::create_dir_all(dir).map_err(|source| BuildError::Io {
            path: dir.to_path_buf(),
            source,
        })
    }

    fn copy(&self, from: &Path, to: &Path) -> Result<(), BuildError> {
        if let Some(parent) = to.parent() {
            self.mkdir(parent)?;
        }
        std::fs::copy(from, to)
            .map(drop)
            .map_err(|source| BuildError::Io {
                path: from.to_path_buf(),
                source,
            })
    }
}

/// Runs `program args…` in `cwd`, failing with its output when it fails.
pub fn run(
    what: &str,
    program: &str,
    args: &[String],
    cwd: &Path,
    env: &[(&str, String)],
) -> Result<(), BuildError> {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let shown = std::iter::once(program.to_owned())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd.output().map_err(|source| BuildError::Spawn {
        what: what.to_owned(),
        command: shown.clone(),
        source,
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Err(BuildError::CommandFailed {
        what: what.to_owned(),
        command: shown,
        status: out.status.code(),
        output: tail(&output, 40),
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A module name's file path: `a.b` → `a/b`.
fn module_path(name: &str) -> String {
    name.replace('.', "/")
}

/// `builtin`: Lua files copied, C modules compiled (every source of every
/// module in parallel) and linked, then a top-level `lua/` copied.
pub fn builtin(
    ctx: &Ctx<'_>,
    modules: &BTreeMap<String, Module>,
    external_libs: &[(String, bool)],
) -> Result<(), BuildError> {
    let luadir = ctx.prefix.join("lua");
    let libdir = ctx.prefix.join("lib");
    let mut c_modules = Vec::new();
    for (name, module) in modules {
        match module {
            Module::Lua(file) => {
                let mut dest = module_path(name);
                if Path::new(file).file_name().is_some_and(|f| f == "init.lua")
                    && !name.ends_with(".init")
                {
                    dest.push_str("/init");
                }
                ctx.copy(&ctx.src.join(file), &luadir.join(format!("{dest}.lua")))?;
            }
            Module::C(c) => c_modules.push((name, c)),
        }
    }
    if !c_modules.is_empty() {
        compile_c_modules(ctx, &c_modules, &libdir, external_libs)?;
    }
    let top_lua = ctx.src.join("lua");
    if top_lua.is_dir() {
        copy_tree(&top_lua, &luadir)?;
    }
    Ok(())
}

fn compile_c_modules(
    ctx: &Ctx<'_>,
    modules: &[(&String, &CModule)],
    libdir: &Path,
    external_libs: &[(String, bool)],
) -> Result<(), BuildError> {
    // Default -I/-L: the directories of external dependencies that name a
    // library, as LuaRocks.
    let default_dirs = |suffix: &str| -> Vec<String> {
        external_libs
            .iter()
            .filter(|(_, has_library)| *has_library)
            .map(|(dep, _)| format!("$({dep}_{suffix})"))
            .collect()
    };
    let cc = ctx.words("CC");
    let Some((compiler, cc_args)) = cc.split_first() else {
        return Err(BuildError::NoCompiler);
    };
    let lua_incdir = ctx.var("LUA_INCDIR");
    let obj_ext = ctx.var("OBJ_EXTENSION");
    struct Job {
        source: String,
        object: String,
        args: Vec<String>,
    }
    let mut jobs = Vec::new();
    let mut links = Vec::new();
    for (name, module) in modules {
        let defines: Vec<String> = module.defines.iter().map(|d| ctx.subst(d)).collect();
        let incdirs: Vec<String> = module
            .incdirs
            .clone()
            .unwrap_or_else(|| default_dirs("INCDIR"))
            .iter()
            .map(|d| ctx.subst(d))
            .collect();
        let libdirs: Vec<String> = module
            .libdirs
            .clone()
            .unwrap_or_else(|| default_dirs("LIBDIR"))
            .iter()
            .map(|d| ctx.subst(d))
            .collect();
        let mut objects = Vec::new();
        for source in &module.sources {
            let source = ctx.subst(source);
            let object = match source.rsplit_once('.') {
                Some((stem, _)) => format!("{stem}.{obj_ext}"),
                None => format!("{source}.{obj_ext}"),
            };
            let mut args: Vec<String> = cc_args.to_vec();
            args.extend(ctx.words("CFLAGS"));
            args.push(format!("-I{lua_incdir}"));
            args.extend(["-c".into(), source.clone(), "-o".into(), object.clone()]);
            args.extend(defines.iter().map(|d| format!("-D{d}")));
            args.extend(incdirs.iter().map(|d| format!("-I{d}")));
            objects.push(object.clone());
            jobs.push(Job {
                source,
                object,
                args,
            });
        }
        let mut target = module_path(name);
        target.push('.');
        target.push_str(&ctx.var("LIB_EXTENSION"));
        let libraries: Vec<String> = module.libraries.iter().map(|l| ctx.subst(l)).collect();
        links.push((target, objects, libdirs, libraries));
    }
    jobs.par_iter().try_for_each(|job| {
        if let Some(parent) = Path::new(&job.object).parent() {
            if !parent.as_os_str().is_empty() {
                ctx.mkdir(&ctx.src.join(parent))?;
            }
        }
        run(
            &format!("compiling {}", job.source),
            compiler,
            &job.args,
            ctx.src,
            &[],
        )
    })?;
    let ld = ctx.words("LD");
    let (linker, ld_args) = ld.split_first().unwrap_or((compiler, cc_args));
    for (target, objects, libdirs, libraries) in links {
        let out = libdir.join(&target);
        if let Some(parent) = out.parent() {
            ctx.mkdir(parent)?;
        }
        let mut args: Vec<String> = ld_args.to_vec();
        args.extend(ctx.words("LDFLAGS"));
        args.extend(ctx.words("LIBFLAG"));
        args.push("-o".into());
        args.push(out.display().to_string());
        args.extend(objects);
        args.extend(libdirs.iter().map(|d| format!("-L{d}")));
        args.extend(libdirs.iter().map(|d| format!("-Wl,-rpath,{d}")));
        args.extend(libraries.iter().map(|l| format!("-l{l}")));
        run(&format!("linking {target}"), linker, &args, ctx.src, &[])?;
    }
    Ok(())
}

/// The directory variables a rock's own build sees.
pub fn prefix_variables(prefix: &Path) -> Variables {
    let p = |sub: &str| {
        if sub.is_empty() {
            prefix.display().to_string()
        } else {
            prefix.join(sub).display().to_string()
        }
    };
    [
        ("PREFIX", p("")),
        ("LUADIR", p("lua")),
        ("LIBDIR", p("lib")),
        ("BINDIR", p("bin")),
        ("CONFDIR", p("conf")),
        ("DOCDIR", p("doc")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `make`: `$(MAKE) [-f makefile] <target> K=V…` for each pass.
pub fn make(ctx: &Ctx<'_>, make: &Make) -> Result<(), BuildError> {
    let program = ctx.var("MAKE");
    let pass = |target: &str, vars: &BTreeMap<String, String>, what: &str| {
        let mut args = Vec::new();
        if let Some(file) = &make.makefile {
            args.extend(["-f".to_owned(), ctx.subst(file)]);
        }
        if !target.is_empty() {
            args.push(target.to_owned());
        }
        let mut vars = vars.clone();
        vars.entry("CC".into()).or_insert_with(|| "$(CC)".into());
        for (k, v) in &vars {
            args.push(format!("{k}={}", ctx.subst(v)));
        }
        run(what, &program, &args, ctx.src, &[])
    };
    if make.build_pass {
        pass(
            &make.build_target,
            &make.build_variables,
            "Failed building.",
        )?;
    }
    if make.install_pass {
        pass(
            &make.install_target,
            &make.install_variables,
            "Failed installing.",
        )?;
    }
    Ok(())
}

/// `cmake`: configure into `build.luarocks`, build, install.
pub fn cmake(ctx: &Ctx<'_>, cmake: &CMake) -> Result<(), BuildError> {
    let program = ctx.var("CMAKE");
    if let Some(lists) = &cmake.cmake {
        std::fs::write(ctx.src.join("CMakeLists.txt"), lists).map_err(|source| BuildError::Io {
            path: ctx.src.join("CMakeLists.txt"),
            source,
        })?;
    }
    let mut args = vec!["-H.".to_owned(), "-Bbuild.luarocks".to_owned()];
    for (k, v) in &cmake.variables {
        args.push(format!("-D{k}={}", ctx.subst(v)));
    }
    run(
        "Failed configuring with cmake.",
        &program,
        &args,
        ctx.src,
        &[],
    )?;
    let step = |extra: &[&str], what: &str| {
        let mut args = vec!["--build".to_owned(), "build.luarocks".to_owned()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.extend(["--config".to_owned(), "Release".to_owned()]);
        run(what, &program, &args, ctx.src, &[])
    };
    if cmake.build_pass {
        step(&[], "Failed building.")?;
    }
    if cmake.install_pass {
        step(&["--target", "install"], "Failed installing.")?;
    }
    Ok(())
}

/// `command`: `build_command` then `install_command`, through `sh`, with `CC`.
pub fn command(ctx: &Ctx<'_>, command: &CommandBackend) -> Result<(), BuildError> {
    for (cmd, what) in [
        (&command.build_command, "Failed building."),
        (&command.install_command, "Failed installing."),
    ] {
        if let Some(cmd) = cmd {
            run(
                what,
                "sh",
                &["-c".to_owned(), ctx.subst(cmd)],
                ctx.src,
                &[("CC", ctx.var("CC"))],
            )?;
        }
    }
    Ok(())
}

/// `build.install`, `copy_directories` and default docs (LuaRocks'
/// `install_files`).
pub fn install_files(
    ctx: &Ctx<'_>,
    install: &Install,
    copy_directories: Option<Vec<String>>,
) -> Result<(), BuildError> {
    for (entries, location, is_module_path, executable) in [
        (&install.lua, "lua", true, false),
        (&install.lib, "lib", true, true),
        (&install.conf, "conf", false, false),
        (&install.bin, "bin", false, true),
    ] {
        for (key, file) in entries {
            let file = ctx.subst(file);
            let base = Path::new(&file)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dest = match key {
                None => ctx.prefix.join(location).join(&base),
                Some(name) if is_module_path => {
                    let dir = match name.rsplit_once('.') {
                        Some((d, _)) => module_path(d),
                        None => String::new(),
                    };
                    let file_name = if base.ends_with(".lua") {
                        format!("{}.lua", name.rsplit('.').next().unwrap_or(name))
                    } else {
                        base.clone()
                    };
                    ctx.prefix.join(location).join(dir).join(file_name)
                }
                Some(name) => ctx.prefix.join(location).join(name),
            };
            ctx.copy(&ctx.src.join(&file), &dest)?;
            if executable {
                set_executable(&dest)?;
            }
        }
    }
    let (dirs, default) = match copy_directories {
        Some(d) => (d, false),
        None => (vec!["doc".to_owned()], true),
    };
    let mut any_docs = false;
    for dir in dirs {
        if matches!(dir.as_str(), "lua" | "lib" | "rock_manifest") || dir.contains("..") {
            return Err(BuildError::Rockspec(format!(
                "copy_directories: `{dir}` is a reserved or unsafe name"
            )));
        }
        let from = ctx.src.join(&dir);
        if from.is_dir() {
            copy_tree(&from, &ctx.prefix.join(&dir))?;
            any_docs = true;
        } else if !default {
            return Err(BuildError::Rockspec(format!(
                "Directory '{dir}' not found (build.copy_directories)"
            )));
        }
    }
    if !any_docs {
        let entries = std::fs::read_dir(ctx.src).map_err(|source| BuildError::Io {
            path: ctx.src.to_path_buf(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_lowercase();
            let is_doc = ["readme", "license", "copying"]
                .iter()
                .any(|p| name.starts_with(p))
                || name.ends_with(".md");
            if is_doc && entry.path().is_file() {
                ctx.copy(
                    &entry.path(),
                    &ctx.prefix.join("doc").join(entry.file_name()),
                )?;
            }
        }
    }
    Ok(())
}

fn set_executable(path: &Path) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|source| {
        BuildError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Copies a directory's contents (files, subdirectories, symlinks as links).
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    let io = |path: &Path| {
        let path: PathBuf = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(io(&src))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src).map_err(io(&src))?;
            std::os::unix::fs::symlink(target, &dst).map_err(io(&dst))?;
        } else {
            std::fs::copy(&src, &dst).map_err(io(&src))?;
        }
    }
    Ok(())
}
