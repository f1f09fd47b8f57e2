//! The build backends (`builtin`, `make`, `cmake`, `command`, `none`) and
//! LuaRocks' generic install step (`build.install`, `copy_directories`,
//! default docs). Each runs in the unpacked source directory and writes
//! into the item's prefix with LuaRocks' rock-directory layout:
//! `lua/`, `lib/`, `bin/`, `conf/`, `doc/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rayon::prelude::*;

use cap_std::fs::Dir;

use super::isolation::Sandbox;
use super::variables::{substitute, Variables};
use super::BuildError;
use crate::build_watch::BuildWatch;
use crate::rel_path::RelPath;
use crate::rock_id::RockId;
use crate::rockspec::build::{CMake, CModule, Command as CommandBackend, Install, Make, Module};

/// Where a backend works and what it sees. Every file the build itself
/// reads from the sources or writes into the item goes through `src_dir`
/// and `prefix_dir`, with [`RelPath`]s: a name from the rockspec, or a
/// symlink in the sources, cannot reach outside either directory.
pub struct Ctx<'a> {
    /// The rock, for messages.
    pub rock: &'a RockId,
    /// The unpacked source directory (the build's working directory).
    pub src: &'a Path,
    /// A handle on `src`.
    pub src_dir: &'a Dir,
    /// The item being filled.
    pub prefix: &'a Path,
    /// A handle on `prefix`.
    pub prefix_dir: &'a Dir,
    /// Variables after overrides and external dependencies.
    pub vars: &'a Variables,
    /// Names LuaRocks would warn about as "unmatched variable".
    pub unknown: std::sync::Mutex<Vec<String>>,
    /// Told what the build is doing (progress, `-v`).
    pub watch: Option<&'a dyn BuildWatch>,
    /// The daemon's sandbox its commands run in (as a build user, in a
    /// clean environment); none: as this process, with its environment.
    /// Paths above are the host's; commands see [`Sandbox::view`] of them.
    pub sandbox: Option<&'a Sandbox<'a>>,
}

impl Ctx<'_> {
    /// Tells the watcher, then runs `program args…` in the sources;
    /// `failed` heads the error when it fails.
    fn run(
        &self,
        doing: &str,
        failed: &str,
        program: &str,
        args: &[String],
        env: &[(&str, String)],
    ) -> Result<(), BuildError> {
        if let Some(watch) = self.watch {
            watch.doing(doing);
            watch.command(&shell_line(program, args));
        }
        match self.sandbox {
            None => run(failed, program, args, self.src, env),
            Some(sandbox) => {
                let out = sandbox
                    .run(program, args, self.src, env)
                    .map_err(|source| BuildError::Isolation {
                        rock: self.rock.to_owned(),
                        source,
                    })?;
                if out.success {
                    return Ok(());
                }
                Err(BuildError::CommandFailed {
                    what: failed.to_owned(),
                    command: shell_line(program, args),
                    status: out.status,
                    output: tail(&String::from_utf8_lossy(&out.output), 40),
                })
            }
        }
    }

    /// Creates `rel` and its parents under `dir` (the sources or the
    /// prefix). In a sandbox build they become the build user's, so its
    /// commands can write there; each is made and handed over through a
    /// descriptor, never by path.
    fn make_dirs(&self, dir: &Dir, shown: &Path, rel: &RelPath) -> Result<(), BuildError> {
        let Some(sandbox) = self.sandbox else {
            return dir.create_dir_all(rel).map_err(self.io(shown, rel));
        };
        use rustix::fs::{Gid, Mode, OFlags, Uid};
        let mut at = std::os::fd::AsFd::as_fd(dir)
            .try_clone_to_owned()
            .map_err(self.io(shown, rel))?;
        for part in rel.as_path().components() {
            let name = part.as_os_str();
            match rustix::fs::mkdirat(&at, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(self.io(shown, rel)(e.into())),
            }
            let next = rustix::fs::openat(
                &at,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| self.io(shown, rel)(e.into()))?;
            rustix::fs::fchown(
                &next,
                Some(Uid::from_raw(sandbox.user.uid)),
                Some(Gid::from_raw(sandbox.user.gid)),
            )
            .map_err(|e| self.io(shown, rel)(e.into()))?;
            at = next;
        }
        Ok(())
    }

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

    /// `text` after variable substitution, as a path inside a directory.
    fn rel(&self, text: &str, field: impl FnOnce() -> String) -> Result<RelPath, BuildError> {
        RelPath::parse(&self.subst(text)).map_err(|source| BuildError::Path {
            rock: self.rock.to_owned(),
            field: field(),
            source,
        })
    }

    fn io(&self, dir: &Path, rel: &RelPath) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = dir.join(rel);
        move |source| BuildError::Io { path, source }
    }

    /// Creates `dir` and its parents in the item.
    fn mkdir(&self, dir: &RelPath) -> Result<(), BuildError> {
        self.make_dirs(self.prefix_dir, self.prefix, dir)
    }

    /// Copies the sources' regular file `from` to the item's `to`, never
    /// through a link that leaves either directory and never onto itself.
    fn copy(&self, from: &RelPath, to: &RelPath, executable: bool) -> Result<(), BuildError> {
        if let Some(parent) = to.parent() {
            self.mkdir(&parent)?;
        }
        copy_file(self.src_dir, from, self.prefix_dir, to, executable).map_err(|source| {
            BuildError::Copy {
                rock: self.rock.to_owned(),
                from: from.clone(),
                to: to.clone(),
                source,
            }
        })
    }
}

/// `from` in `src` to `to` in `dest`, both through their handles. A source
/// that is not a regular file is refused; so is a destination that is the
/// source itself (the same inode), before a byte of it is truncated.
fn copy_file(
    src: &Dir,
    from: &RelPath,
    dest: &Dir,
    to: &RelPath,
    executable: bool,
) -> std::io::Result<()> {
    use cap_std::fs::{MetadataExt, OpenOptions, OpenOptionsExt};
    // Non-blocking: a FIFO put where a file was expected is refused, not
    // waited on (a build's leftovers are read by the daemon as root).
    let nonblock = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let mut input = src.open_with(from, OpenOptions::new().read(true).custom_flags(nonblock))?;
    let meta = input.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut options = OpenOptions::new();
    options
        .write(true)
        .create(true)
        .custom_flags(nonblock)
        .mode(if executable { 0o755 } else { 0o644 });
    let mut output = dest.open_with(to, &options)?;
    let out_meta = output.metadata()?;
    if !out_meta.is_file() {
        return Err(std::io::Error::other(
            "the destination is not a regular file",
        ));
    }
    if out_meta.dev() == meta.dev() && out_meta.ino() == meta.ino() {
        return Err(std::io::Error::other(
            "the file would be copied onto itself",
        ));
    }
    output.set_len(0)?;
    std::io::copy(&mut input, &mut output)?;
    if executable {
        output.set_permissions(cap_std::fs::Permissions::from_std(
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        ))?;
    }
    Ok(())
}

/// Runs `program args…` in `cwd` as this process, failing with its output
/// when it fails.
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
    let shown = shell_line(program, args);
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

/// `PATH` of a build user's commands.
pub const CLEAN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// `program args…` as one line.
fn shell_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A module name's file path: `a.b` → `a/b`.
fn module_path(ctx: &Ctx<'_>, name: &str, field: &str) -> Result<RelPath, BuildError> {
    RelPath::of_module(name).map_err(|source| BuildError::Path {
        rock: ctx.rock.to_owned(),
        field: format!("{field}[\"{name}\"]"),
        source,
    })
}

/// `builtin`: Lua files copied, C modules compiled (every source of every
/// module in parallel) and linked, then a top-level `lua/` copied.
pub fn builtin(
    ctx: &Ctx<'_>,
    modules: &BTreeMap<String, Module>,
    external_libs: &[(String, bool)],
) -> Result<(), BuildError> {
    let luadir = RelPath::literal("lua");
    let mut c_modules = Vec::new();
    for (name, module) in modules {
        match module {
            Module::Lua(file) => {
                let field = || format!("build.modules[\"{name}\"]");
                let from = ctx.rel(file, field)?;
                let mut dest = module_path(ctx, name, "build.modules")?;
                if from.file_name() == "init.lua" && !name.ends_with(".init") {
                    dest = dest.join(&RelPath::literal("init"));
                }
                ctx.copy(
                    &from,
                    &luadir.join(&dest.with_added_extension("lua")),
                    false,
                )?;
            }
            Module::C(c) => c_modules.push((name, c)),
        }
    }
    if !c_modules.is_empty() {
        compile_c_modules(ctx, &c_modules, external_libs)?;
    }
    if ctx
        .src_dir
        .symlink_metadata(luadir.as_path())
        .is_ok_and(|m| m.is_dir())
    {
        copy_tree(ctx, &luadir, &luadir)?;
    }
    Ok(())
}

fn compile_c_modules(
    ctx: &Ctx<'_>,
    modules: &[(&String, &CModule)],
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
        source: RelPath,
        object: RelPath,
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
        for (i, source) in module.sources.iter().enumerate() {
            let source = ctx.rel(source, || {
                format!("build.modules[\"{name}\"].sources[{}]", i + 1)
            })?;
            let text = source.to_string();
            let object = ctx.rel(
                &match text.rsplit_once('.') {
                    Some((stem, _)) if !stem.ends_with('/') => format!("{stem}.{obj_ext}"),
                    _ => format!("{text}.{obj_ext}"),
                },
                || format!("build.modules[\"{name}\"].sources[{}]", i + 1),
            )?;
            let mut args: Vec<String> = cc_args.to_vec();
            args.extend(ctx.words("CFLAGS"));
            args.push(format!("-I{lua_incdir}"));
            args.extend([
                "-c".into(),
                source.to_string(),
                "-o".into(),
                object.to_string(),
            ]);
            args.extend(defines.iter().map(|d| format!("-D{d}")));
            args.extend(incdirs.iter().map(|d| format!("-I{d}")));
            objects.push(object.to_string());
            jobs.push(Job {
                source,
                object,
                args,
            });
        }
        let target = module_path(ctx, name, "build.modules")?
            .with_added_extension(&ctx.var("LIB_EXTENSION"));
        let libraries: Vec<String> = module.libraries.iter().map(|l| ctx.subst(l)).collect();
        links.push((target, objects, libdirs, libraries));
    }
    jobs.par_iter().try_for_each(|job| {
        if let Some(parent) = job.object.parent() {
            ctx.make_dirs(ctx.src_dir, ctx.src, &parent)?;
        }
        let doing = format!("compiling {}", job.source);
        ctx.run(&doing, &doing, compiler, &job.args, &[])
    })?;
    let ld = ctx.words("LD");
    let (linker, ld_args) = ld.split_first().unwrap_or((compiler, cc_args));
    let libdir = RelPath::literal("lib");
    // As LuaRocks: each module is linked in the build directory at its
    // module path (`a/b.so`), then copied into `lib/`, so that
    // `build.install.lib = { "a/b.so" }` (luasec's) finds it there too.
    for (target, objects, libdirs, libraries) in links {
        if let Some(parent) = target.parent() {
            ctx.make_dirs(ctx.src_dir, ctx.src, &parent)?;
        }
        let mut args: Vec<String> = ld_args.to_vec();
        args.extend(ctx.words("LDFLAGS"));
        args.extend(ctx.words("LIBFLAG"));
        args.push("-o".into());
        args.push(target.to_string());
        args.extend(objects);
        args.extend(libdirs.iter().map(|d| format!("-L{d}")));
        args.extend(libdirs.iter().map(|d| format!("-Wl,-rpath,{d}")));
        args.extend(libraries.iter().map(|l| format!("-l{l}")));
        let doing = format!("linking {target}");
        ctx.run(&doing, &doing, linker, &args, &[])?;
        ctx.copy(&target, &libdir.join(&target), true)?;
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
        let doing = if target.is_empty() {
            "make".to_owned()
        } else {
            format!("make {target}")
        };
        ctx.run(&doing, what, &program, &args, &[])
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
        ctx.src_dir
            .write("CMakeLists.txt", lists)
            .map_err(|source| BuildError::Io {
                path: ctx.src.join("CMakeLists.txt"),
                source,
            })?;
    }
    let mut args = vec!["-H.".to_owned(), "-Bbuild.luarocks".to_owned()];
    for (k, v) in &cmake.variables {
        args.push(format!("-D{k}={}", ctx.subst(v)));
    }
    ctx.run(
        "configuring with cmake",
        "Failed configuring with cmake.",
        &program,
        &args,
        &[],
    )?;
    let step = |extra: &[&str], what: &str| {
        let mut args = vec!["--build".to_owned(), "build.luarocks".to_owned()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.extend(["--config".to_owned(), "Release".to_owned()]);
        let doing = if extra.is_empty() {
            "building with cmake"
        } else {
            "installing with cmake"
        };
        ctx.run(doing, what, &program, &args, &[])
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
    for (cmd, doing, what) in [
        (&command.build_command, "build_command", "Failed building."),
        (
            &command.install_command,
            "install_command",
            "Failed installing.",
        ),
    ] {
        if let Some(cmd) = cmd {
            ctx.run(
                doing,
                what,
                "sh",
                &["-c".to_owned(), ctx.subst(cmd)],
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
        let field = |key: &Option<String>| match key {
            Some(k) => format!("build.install.{location}[\"{k}\"]"),
            None => format!("build.install.{location}"),
        };
        let location = RelPath::literal(location);
        for (key, file) in entries {
            let from = ctx.rel(file, || field(key))?;
            let dest = match key {
                None => from.last(),
                Some(name) if is_module_path => {
                    let module = module_path(ctx, name, &format!("build.install.{location}"))?;
                    if from.file_name().to_string_lossy().ends_with(".lua") {
                        module.with_added_extension("lua")
                    } else {
                        match module.parent() {
                            Some(dir) => dir.join(&from.last()),
                            None => from.last(),
                        }
                    }
                }
                Some(name) => ctx.rel(name, || field(key))?,
            };
            ctx.copy(&from, &location.join(&dest), executable)?;
        }
    }
    let (dirs, default) = match copy_directories {
        Some(d) => (d, false),
        None => (vec!["doc".to_owned()], true),
    };
    let mut any_docs = false;
    for (i, dir) in dirs.iter().enumerate() {
        let rel = ctx.rel(dir, || format!("build.copy_directories[{}]", i + 1))?;
        if matches!(rel.to_string().as_str(), "lua" | "lib" | "rock_manifest") {
            return Err(BuildError::Rockspec(format!(
                "copy_directories: `{dir}` is a reserved name"
            )));
        }
        let is_dir = ctx
            .src_dir
            .symlink_metadata(rel.as_path())
            .is_ok_and(|m| m.is_dir());
        if is_dir {
            copy_tree(ctx, &rel, &rel)?;
            any_docs = true;
        } else if !default {
            return Err(BuildError::Rockspec(format!(
                "Directory '{dir}' not found (build.copy_directories)"
            )));
        }
    }
    if !any_docs {
        let entries = ctx.src_dir.entries().map_err(|source| BuildError::Io {
            path: ctx.src.to_path_buf(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_lowercase();
            let is_doc = ["readme", "license", "copying"]
                .iter()
                .any(|p| name.starts_with(p))
                || name.ends_with(".md");
            // Only regular files: a link among the docs is not followed.
            if is_doc && entry.file_type().is_ok_and(|t| t.is_file()) {
                let Ok(from) = RelPath::parse(&entry.file_name().to_string_lossy()) else {
                    continue;
                };
                ctx.copy(&from, &RelPath::literal("doc").join(&from), false)?;
            }
        }
    }
    Ok(())
}

/// Copies the sources' directory `from` to the item's `to`: files,
/// subdirectories, and symlinks as links (their targets are judged when
/// the item is admitted). Nothing is followed out of the sources.
pub fn copy_tree(ctx: &Ctx<'_>, from: &RelPath, to: &RelPath) -> Result<(), BuildError> {
    ctx.mkdir(to)?;
    let dir = ctx.src_dir.open_dir(from).map_err(ctx.io(ctx.src, from))?;
    for entry in dir.entries().map_err(ctx.io(ctx.src, from))? {
        let entry = entry.map_err(ctx.io(ctx.src, from))?;
        let name = entry.file_name();
        let child = |base: &RelPath| {
            base.child(&name).map_err(|source| BuildError::Path {
                rock: ctx.rock.to_owned(),
                field: from.to_string(),
                source,
            })
        };
        let (src, dst) = (child(from)?, child(to)?);
        let kind = entry.file_type().map_err(ctx.io(ctx.src, &src))?;
        if kind.is_dir() {
            copy_tree(ctx, &src, &dst)?;
        } else if kind.is_symlink() {
            let target = ctx.src_dir.read_link(&src).map_err(ctx.io(ctx.src, &src))?;
            ctx.prefix_dir
                .symlink(target, &dst)
                .map_err(ctx.io(ctx.prefix, &dst))?;
        } else if kind.is_file() {
            use cap_std::fs::PermissionsExt;
            let meta = entry.metadata().map_err(ctx.io(ctx.src, &src))?;
            ctx.copy(&src, &dst, meta.permissions().mode() & 0o100 != 0)?;
        }
    }
    Ok(())
}
