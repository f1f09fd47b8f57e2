//! The drop-in battery: one test per row, each running one command line
//! under Debian's `luarocks` and under rockstore. Each tool gets its own
//! HOME, system config directory, working directory and trees, with a
//! stock-style config like Debian's `/etc/luarocks/config-5.4.lua`:
//! `rocks_trees = { home..[[/.luarocks]], [[<its dir>/system]] }`, with
//! unnamed trees. A row compares what it names:
//! - the exit code;
//! - stdout (paths and the server's address made neutral);
//! - the trees' contents: `luarocks list` of each tree, and every file
//!   under them as LuaRocks would read it, by its bytes, with `bin/`
//!   wrappers and `.rockstore/` aside;
//! - the working directory's files and directories, by name.
//!
//! What it does not compare is a difference that remains, and the row says
//! why. Differences with no row:
//! - `admin refresh_cache`: LuaRocks 3.8's refreshes its copy of an upload
//!   server (`upload_server`, for `add` over rsync; it reads `--server`
//!   where it documents `--from`) and fails without one; rockstore's
//!   downloads the rocks servers' manifests anew (`build.rs` tests it).
//! - `test --prepare` with a `command` test: LuaRocks 3.8 crashes (its
//!   `test/command.lua` indexes the flag as the test table); rockstore
//!   installs the test dependencies and stops (`trees.rs`).
//! - `init --reset`: LuaRocks 3.8 crashes (it deletes `./lua` by a
//!   relative path, which its `fs.delete` asserts against); rockstore
//!   writes `./lua` and the project's config anew (`trees.rs`).
//! - Dependency conflicts (`plan.rs`): where one version per rock meets
//!   every constraint only with an older version of a dependency
//!   (`bttop`), rockstore's solver finds it; LuaRocks' greedy choice takes
//!   the newest, then warns that it "will not remove" what breaks, and
//!   exits 0. Where none exists (`btnone`), rockstore refuses and explains
//!   why; LuaRocks installs what it can and exits 0.
//! - Two different rocks providing one file (`clash` after `purelua`):
//!   rockstore refuses before anything changes; LuaRocks installs the
//!   second under a versioned name, so which file `require` finds
//!   depends on the order of installs (`trees.rs`).
//! - `install` of a rock already installed: LuaRocks installs it again
//!   and says so; rockstore says it is there and changes nothing (use
//!   `--force` to reinstall, as with LuaRocks).
//! - `config KEY VALUE` for a user with no `~/.luarocks`: LuaRocks 3.8
//!   fails ("Cannot create file"); rockstore makes the directory (the
//!   rows writing keys make it first, for LuaRocks).
//! - `config --json`: LuaRocks 3.8 on Debian has no JSON library and
//!   fails; rockstore prints JSON (`trees.rs`).

use std::collections::BTreeMap;

use crate::battery_files::{files, names};
use crate::rocks_server::Repo;
use crate::support::{text, Sandbox};

/// What a row compares.
#[derive(Clone, Copy)]
pub(crate) struct Compare {
    pub(crate) code: bool,
    pub(crate) stdout: bool,
    pub(crate) trees: bool,
    pub(crate) work: bool,
    /// Run LuaRocks under `lua5.4`, as Debian's `luarocks-5.4` does, not
    /// under the oldest interpreter, as `luarocks` does (`lua-any`).
    pub(crate) under_lua54: bool,
    /// stdout lines (trimmed) starting so are left out on both sides.
    pub(crate) drop_lines: &'static [&'static str],
    /// When not empty, only the stdout lines holding one of these are
    /// compared.
    pub(crate) keep_lines: &'static [&'static str],
    /// The command fails: the trees must be as they were, maybe absent.
    pub(crate) fails: bool,
    /// The Lua version both run for (its config file is the stock one).
    pub(crate) lua: &'static str,
    /// The config names its trees (`user`, `system`), as LuaRocks' own
    /// default does, instead of Debian's unnamed ones.
    pub(crate) named_trees: bool,
    /// Where the command runs, under the working directory (setup steps
    /// run at its top).
    pub(crate) cwd: &'static str,
    /// Files under the working directory compared by their bytes.
    pub(crate) work_files: &'static [&'static str],
    /// stderr lines (trimmed) holding one of these are compared, and
    /// LuaRocks' must have one.
    pub(crate) stderr_lines: &'static [&'static str],
    /// Both begin their error on stderr with `Error: ` (scripts grep
    /// for it).
    pub(crate) error_prefix: bool,
}

pub(crate) const CODE: Compare = Compare {
    code: true,
    stdout: false,
    trees: false,
    work: false,
    under_lua54: false,
    drop_lines: &[],
    keep_lines: &[],
    fails: false,
    lua: "5.4",
    named_trees: false,
    cwd: "",
    work_files: &[],
    stderr_lines: &[],
    error_prefix: false,
};
pub(crate) const OUT: Compare = Compare {
    stdout: true,
    ..CODE
};
pub(crate) const TREES: Compare = Compare {
    trees: true,
    ..CODE
};
pub(crate) const WORK: Compare = Compare { work: true, ..CODE };
/// A failure that leaves the trees as they were (no tree it was to make).
pub(crate) const FAILS: Compare = Compare {
    trees: true,
    fails: true,
    ..CODE
};
/// `path` prints the `package.path` of the interpreter LuaRocks runs under:
/// `lua5.4`'s is the one `lua5.4` searches, and the one rockstore prints.
const PATH_OUT: Compare = Compare {
    under_lua54: true,
    ..OUT
};

/// What an install says it installed: LuaRocks narrates its steps one
/// rock after another (and its compiler lines); rockstore plans, then
/// builds in parallel, and says so in its own words. The lines a script
/// looks for are the same.
pub(crate) const INSTALLED: Compare = Compare {
    keep_lines: &["is now installed in"],
    ..OUT
};

/// [`INSTALLED`], and the trees.
const INSTALLED_TREES: Compare = Compare {
    trees: true,
    ..INSTALLED
};

/// A missing external dependency: LuaRocks' lines naming it and where
/// it was looked for.
const MISSING_HEADER: Compare = Compare {
    stderr_lines: &["Could not find header file", "No file foo.h"],
    ..FAILS
};

/// For Lua 5.1: Debian's `luarocks` runs under lua5.1 then, so even
/// `path` is its own interpreter's.
const OUT_51: Compare = Compare { lua: "5.1", ..OUT };
const TREES_51: Compare = Compare {
    lua: "5.1",
    ..TREES
};

/// `make` in the source directory `unpack` made.
const IN_PURELUA_SOURCES: Compare = Compare {
    cwd: "purelua-1.0-1/purelua-1.0",
    ..TREES
};
const IN_APPX_SOURCES: Compare = Compare {
    cwd: "appx-1.0-1/appx-1.0",
    ..TREES
};

/// With named trees in the config.
const NAMED_TREES: Compare = Compare {
    named_trees: true,
    ..TREES
};
const NAMED_OUT: Compare = Compare {
    named_trees: true,
    ..OUT
};
const NAMED_PATH: Compare = Compare {
    named_trees: true,
    ..PATH_OUT
};

/// `unpack`: its last line names the program to run `make` with.
const UNPACK_OUT: Compare = Compare {
    drop_lines: &["and type '"],
    ..OUT
};

/// `config`: see its row.
const CONFIG_OUT: Compare = Compare {
    drop_lines: &[
        "rockstore_",
        "target_tree =",
        "cache = {",
        "luajit_version_checked",
        "LDFLAGS =",
        "LUA_VERSION =",
        "LUALIB =",
        "LUA_LIBDIR_FILE =",
    ],
    ..OUT
};

/// What one side left.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    code: Option<i32>,
    stdout: String,
    trees: BTreeMap<String, String>,
    /// Every name under the working directory.
    work: Vec<String>,
    /// The bytes' hash of `work_files`, absent ones left out.
    work_files: BTreeMap<String, String>,
    /// For the failure message only.
    stderr: String,
}

fn run_side(
    s: &Sandbox,
    repo: &Repo,
    side: &str,
    setup: &[&[&str]],
    args: &[&str],
    compare: Compare,
) -> Seen {
    let base = s.dir(side);
    let home = base.join("home");
    let etc = base.join("etc");
    let work = base.join("work");
    for d in [&home, &etc, &work] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let trees = if compare.named_trees {
        format!(
            "rocks_trees = {{\n   {{ name = [[user]], root = home..[[/.luarocks]] }},\n   {{ name = [[system]], root = [[{}/system]] }}\n}}\n",
            base.display()
        )
    } else {
        format!(
            "rocks_trees = {{\n   home..[[/.luarocks]],\n   [[{}/system]]\n}}\n",
            base.display()
        )
    };
    std::fs::write(etc.join(format!("config-{}.lua", compare.lua)), trees).expect("config");
    let b = base.display().to_string();
    let command = |args: &[&str]| {
        let mut args: Vec<String> = args
            .iter()
            .map(|a| {
                a.replace("BASE", &b)
                    .replace("SERVER", &repo.server.base)
                    .replace("HOSTPORT", repo.server.base.trim_start_matches("http://"))
            })
            .collect();
        let admin = args.first().is_some_and(|a| a == "admin");
        let mut cmd = if side == "ours" {
            s.cmd::<[&str; 0], &str>([])
        } else if compare.under_lua54 {
            let mut cmd = s.program("lua5.4");
            cmd.arg(crate::support::luarocks_script());
            cmd
        } else if admin {
            // `rockstore admin X` is `luarocks-admin X`.
            args.remove(0);
            s.program("luarocks-admin")
        } else {
            s.program("luarocks")
        };
        // A login shell's USER: LuaRocks knows root by it, and so does
        // rockstore (`--local`). (Not for luarocks-admin: as root it keeps
        // its cache in /var/cache.)
        if rustix::process::geteuid().is_root() && !admin {
            cmd.env("USER", "root");
        }
        cmd.args([
            "--lua-version",
            compare.lua,
            "--only-server",
            &repo.server.base,
        ])
        .args(&args)
        .env("HOME", &home)
        .env("LUAROCKS_SYSCONFDIR", &etc)
        .current_dir(&work);
        cmd
    };
    for step in setup {
        // `!mkdir DIR` and `!mv FROM TO` (relative to the working
        // directory) prepare what neither tool makes.
        let local = |p: &str| work.join(p.replace("BASE", &b));
        match step {
            ["!mkdir", dir] => {
                std::fs::create_dir_all(local(dir)).expect("mkdir");
                continue;
            }
            // LuaRocks 3.8's `luarocks-admin add` needs its cache directory
            // for the server (the path, `/` made `_`).
            ["!admin-cache", server] => {
                let name = local(server).display().to_string().replace('/', "_");
                std::fs::create_dir_all(home.join(".cache/luarocks").join(name)).expect("cache");
                continue;
            }
            ["!mv", from, to] => {
                std::fs::rename(local(from), local(to)).expect("mv");
                continue;
            }
            // A file's content, as a person or an earlier tool left it.
            ["!write", file, content] => {
                std::fs::write(local(file), content).expect("write");
                continue;
            }
            _ => {}
        }
        // `!luarocks ARGS`: Debian's luarocks on both sides, for a tree
        // only LuaRocks makes (rockstore refuses to).
        let out = match step {
            ["!luarocks", rest @ ..] => {
                let mut cmd = s.program("luarocks");
                cmd.args([
                    "--lua-version",
                    compare.lua,
                    "--only-server",
                    &repo.server.base,
                ])
                .args(rest.iter().map(|a| a.replace("BASE", &b)))
                .env("HOME", &home)
                .env("LUAROCKS_SYSCONFDIR", &etc)
                .current_dir(&work);
                if rustix::process::geteuid().is_root() {
                    cmd.env("USER", "root");
                }
                cmd.output().expect("setup")
            }
            _ => command(step).output().expect("setup"),
        };
        assert!(
            out.status.success(),
            "{side} setup {step:?}: {}",
            text(&out.stderr)
        );
    }
    let out = command(args)
        .current_dir(work.join(compare.cwd))
        .output()
        .expect("run");
    let neutral = |t: String| t.replace(&b, "BASE").replace(&repo.server.base, "SERVER");
    let mut trees = BTreeMap::new();
    for tree in [
        home.join(".luarocks"),
        base.join("system"),
        base.join("other"),
        work.join("system"),
    ] {
        if !tree.exists() {
            continue;
        }
        let listed = s
            .program("luarocks")
            .args(["--lua-version", compare.lua, "--tree"])
            .arg(&tree)
            .args(["list", "--porcelain"])
            .env("LUAROCKS_SYSCONFDIR", &etc)
            .output()
            .expect("list");
        let shown = neutral(tree.display().to_string());
        trees.insert(format!("{shown} list"), neutral(text(&listed.stdout)));
        let mut found = BTreeMap::new();
        files(&tree, &mut found, "");
        for (f, h) in found {
            trees.insert(format!("{shown}/{f}"), h);
        }
    }
    let mut work_names = Vec::new();
    names(&work, "", &mut work_names);
    work_names.sort();
    let work_files = compare
        .work_files
        .iter()
        .filter_map(|f| {
            let bytes = std::fs::read(work.join(f)).ok()?;
            Some((f.to_string(), neutral(text(&bytes))))
        })
        .collect();
    Seen {
        code: out.status.code(),
        stdout: neutral(text(&out.stdout)),
        trees,
        work: work_names,
        work_files,
        stderr: text(&out.stderr),
    }
}

/// Runs one row on both sides and compares what it names.
pub(crate) fn row(setup: &[&[&str]], args: &[&str], compare: Compare) {
    if !crate::support::need(&["luarocks", "lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let ours = run_side(&s, &repo, "ours", setup, args, compare);
    let theirs = run_side(&s, &repo, "theirs", setup, args, compare);
    if let Some(keep) = std::env::var_os("BATTERY_KEEP") {
        // For a look after a failure: both sides' directories, copied.
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(s.tmp.path())
            .arg(&keep)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "copying to {}",
            std::path::Path::new(&keep).display()
        );
    }
    if compare.code {
        assert_eq!(
            ours.code, theirs.code,
            "{args:?}: exit code (ours, then luarocks')\nours: {}{}\ntheirs: {}{}",
            ours.stdout, ours.stderr, theirs.stdout, theirs.stderr
        );
    }
    if compare.stdout {
        let kept = |out: &str| {
            out.replace("cache = {\n   luajit_version_checked = true\n}\n", "")
                .lines()
                .filter(|l| !compare.drop_lines.iter().any(|d| l.trim().starts_with(d)))
                .filter(|l| {
                    compare.keep_lines.is_empty()
                        || compare.keep_lines.iter().any(|k| l.contains(k))
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (ours_out, theirs_out) = (kept(&ours.stdout), kept(&theirs.stdout));
        let first_difference = ours_out
            .lines()
            .zip(theirs_out.lines())
            .find(|(a, b)| a != b);
        assert_eq!(
            ours_out, theirs_out,
            "{args:?}: stdout (first differing line, ours then theirs: {first_difference:?})"
        );
    }
    if compare.trees {
        assert_eq!(
            ours.trees, theirs.trees,
            "{args:?}: the trees\nours: {}\ntheirs: {}",
            ours.stderr, theirs.stderr
        );
        if compare.fails {
            assert_ne!(ours.code, Some(0), "{args:?}: it fails");
        } else {
            assert!(!ours.trees.is_empty(), "{args:?}: a tree was written");
        }
    }
    assert_eq!(
        ours.work_files, theirs.work_files,
        "{args:?}: the working directory's files"
    );
    if !compare.stderr_lines.is_empty() {
        let kept = |err: &str| -> Vec<String> {
            err.lines()
                .map(str::trim)
                .filter(|l| compare.stderr_lines.iter().any(|k| l.contains(k)))
                .map(str::to_owned)
                .collect()
        };
        let theirs_kept = kept(&theirs.stderr);
        assert!(
            !theirs_kept.is_empty(),
            "{args:?}: LuaRocks said none of {:?}: {}",
            compare.stderr_lines,
            theirs.stderr
        );
        assert_eq!(
            kept(&ours.stderr),
            theirs_kept,
            "{args:?}: stderr\nours: {}",
            ours.stderr
        );
    }
    if compare.error_prefix {
        // (LuaRocks may warn first, e.g. that it falls back to wget.)
        let first = |err: &str| {
            err.lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with("Warning: "))
                .is_some_and(|l| l.starts_with("Error: "))
        };
        assert!(
            first(&theirs.stderr),
            "{args:?}: LuaRocks' error: {}",
            theirs.stderr
        );
        assert!(first(&ours.stderr), "{args:?}: our error: {}", ours.stderr);
    }
    if compare.work {
        // LuaRocks unpacks `X.tar.gz` with gunzip, then tar, and leaves the
        // `X.tar` between them; rockstore unpacks in one pass.
        let theirs_work: Vec<String> = theirs
            .work
            .iter()
            .filter(|n| !(n.ends_with(".tar") && theirs.work.contains(&format!("{n}.gz"))))
            .cloned()
            .collect();
        assert_eq!(ours.work, theirs_work, "{args:?}: the working directory");
    }
}

/// `name: [setup commands], [the command], what is compared;` — one test
/// each. A comment says what is not compared, and why.
macro_rules! rows {
    ($($(#[doc = $why:literal])* $name:ident: [$($setup:expr),*], $args:expr, $compare:expr;)*) => {
        $(
            $(#[doc = $why])*
            #[test]
            #[cfg_attr(not(all(has_luarocks, has_lua5_4, has_gcc)), ignore = "needs luarocks, lua5.4, gcc")]
            fn $name() {
                crate::battery::row(&[$(&$setup[..]),*], &$args[..], $compare);
            }
        )*
    };
}

pub(crate) use rows;

rows! {
    /// The trees, and stdout's "is now installed" line (LuaRocks narrates
    /// its steps too).
    install_goes_to_the_last_tree_of_a_stock_config: [], ["install", "purelua"], INSTALLED_TREES;
    /// `--tree system` names no tree in a stock config: a path.
    install_tree_system_is_a_path_in_a_stock_config: [], ["--tree", "system", "install", "purelua"], TREES;
    install_tree_path: [], ["--tree", "BASE/other", "install", "appx"], TREES;
    install_nodeps_installs_the_rock_alone: [], ["install", "--nodeps", "dmtop"], TREES;
    install_deps_mode_none_installs_the_rock_alone: [], ["install", "--deps-mode", "none", "dmtop"], TREES;
    install_deps_only_installs_the_dependencies: [], ["install", "--deps-only", "dmtop"], TREES;
    install_only_deps_installs_the_dependencies: [], ["install", "--only-deps", "dmtop"], TREES;
    install_no_doc_leaves_the_docs_out: [], ["install", "--no-doc", "purelua"], TREES;
    install_keep_keeps_the_other_version: [["install", "purelua", "1.0-1"]], ["install", "--keep", "purelua", "2.0-1"], TREES;
    install_replaces_the_other_version: [["install", "purelua", "1.0-1"]], ["install", "purelua", "2.0-1"], TREES;
    install_force_reinstalls: [["install", "purelua"]], ["install", "--force", "purelua"], TREES;
    install_force_fast_reinstalls: [["install", "purelua"]], ["install", "--force-fast", "purelua"], TREES;
    install_a_c_rock: [], ["install", "cmulti"], TREES;
    install_a_binary_rock: [], ["install", "binrock"], TREES;
    install_a_rockspec_file: [["download", "--rockspec", "dmdep"]], ["install", "dmdep-1.0-1.rockspec"], TREES;
    install_an_unknown_rock_fails: [], ["install", "no-such-rock"], FAILS;
    install_check_lua_versions_of_an_unknown_rock_fails: [], ["install", "--check-lua-versions", "no-such-rock"], OUT;
    /// As root both refuse `--local`; the messages are the same words.
    local_as_root_is_refused: [], ["--local", "install", "purelua"], CODE;
    an_unknown_flag_is_a_usage_error: [], ["install", "--no-such-flag", "purelua"], CODE;
    build_installs: [], ["build", "purelua"], TREES;
    build_a_c_rock_installs: [], ["build", "cmulti"], TREES;
    build_pin_puts_a_lock_in_the_rock_directory: [], ["build", "--pin", "appx"], TREES;
    install_pin_puts_a_lock_in_the_rock_directory: [], ["install", "--pin", "appx"], TREES;
    remove_removes: [["install", "purelua"]], ["remove", "purelua"], TREES;
    remove_refuses_a_needed_rock: [["install", "appx"]], ["remove", "purelua"], TREES;
    remove_force_removes_a_needed_rock: [["install", "appx"]], ["remove", "--force", "purelua"], TREES;
    list_covers_every_tree: [["install", "purelua"], ["--tree", "BASE/home/.luarocks", "install", "dmdep"]], ["list", "--porcelain"], OUT;
    list_of_one_tree: [["install", "purelua"], ["--tree", "BASE/home/.luarocks", "install", "dmdep"]], ["--tree", "BASE/home/.luarocks", "list", "--porcelain"], OUT;
    list_outdated: [["install", "purelua", "1.0-1"]], ["list", "--outdated", "--porcelain"], OUT;
    list_filter: [["install", "purelua"], ["install", "dmdep"]], ["list", "pure", "--porcelain"], OUT;
    show_rock_dir: [["install", "purelua"]], ["show", "--rock-dir", "purelua"], OUT;
    show_modules: [["install", "purelua"]], ["show", "--modules", "purelua"], OUT;
    show_deps: [["install", "appx"]], ["show", "--deps", "appx"], OUT;
    show_mversion: [["install", "purelua"]], ["show", "--mversion", "purelua"], OUT;
    show_of_a_missing_rock_fails: [], ["show", "purelua"], CODE;
    which_names_the_file: [["install", "purelua"]], ["which", "purelua"], OUT;
    path_prints_the_trees: [], ["path"], PATH_OUT;
    path_append: [], ["path", "--append"], PATH_OUT;
    path_no_bin: [], ["path", "--no-bin"], PATH_OUT;
    /// stdout differs from Debian's `luarocks`, which runs under lua5.1
    /// (`lua-any` takes the oldest): it lists lua5.1's default path with
    /// `5.1` renamed `5.4`, which lacks `./?/init.lua` and puts `./?.lua`
    /// first, unlike what lua5.4 searches. rockstore lists lua5.4's own,
    /// as `luarocks-5.4 path` does (the rows above).
    path_under_luarocks_own_interpreter: [], ["path"], CODE;
    path_of_a_tree: [], ["--tree", "BASE/other", "path"], PATH_OUT;
    path_of_a_tree_appended: [], ["--tree", "BASE/other", "path", "--append"], PATH_OUT;
    path_lr_path: [], ["path", "--lr-path"], OUT;
    path_lr_cpath: [], ["path", "--lr-cpath"], OUT;
    path_lr_bin: [], ["path", "--lr-bin"], OUT;
    purge_empties_the_tree: [["install", "purelua"]], ["purge", "--tree", "BASE/system"], TREES;
    purge_of_a_luarocks_tree_empties_it: [["install", "dmdep"]], ["purge", "--tree", "BASE/system"], TREES;
    purge_old_versions: [["install", "purelua", "1.0-1"], ["install", "--keep", "purelua", "2.0-1"]], ["purge", "--old-versions", "--tree", "BASE/system"], TREES;
    purge_without_a_tree_fails: [], ["purge"], CODE;
    download_a_rockspec: [], ["download", "--rockspec", "purelua", "1.0-1"], WORK;
    download_all: [], ["download", "--all", "purelua"], WORK;
    download_source: [], ["download", "--source", "cmulti"], WORK;
    unpack_from_the_server: [], ["unpack", "purelua", "1.0-1"], WORK;
    pack_an_installed_rock: [["install", "purelua", "1.0-1"]], ["pack", "purelua", "1.0-1"], WORK;
    search_all: [], ["search", "--all", "--porcelain"], OUT;
    search_a_name: [], ["search", "pure", "--porcelain"], OUT;
    config_deps_mode: [], ["config", "deps_mode"], OUT;
    config_lua_version: [], ["config", "lua_version"], OUT;
    doc_list: [["install", "purelua"]], ["doc", "--list", "purelua"], OUT;
    make_builds_here: [["unpack", "purelua", "1.0-1"]], ["make"], IN_PURELUA_SOURCES;
    new_version_bumps_the_revision: [["download", "--rockspec", "purelua", "1.0-1"]], ["new_version", "purelua-1.0-1.rockspec"], WORK;
    write_rockspec_here: [], ["write_rockspec", "--lua-versions", "5.4", "myrock", "."], WORK;
    init_makes_a_project: [], ["init", "myproject"], WORK;
    build_pack_binary_rock_writes_the_rock_here: [], ["build", "--pack-binary-rock", "purelua"], WORK;
    unpack_a_src_rock: [["download", "--source", "cmulti"]], ["unpack", "cmulti-1.0-1.src.rock"], WORK;
    pack_a_rockspec_as_a_src_rock: [["download", "--rockspec", "purelua", "1.0-1"]], ["pack", "purelua-1.0-1.rockspec"], WORK;
    install_dev_without_a_dev_manifest_fails: [], ["--dev", "install", "purelua"], CODE;
    show_home: [["install", "purelua"]], ["show", "--home", "purelua"], OUT;
    show_rock_license: [["install", "purelua"]], ["show", "--rock-license", "purelua"], OUT;
    config_rocks_trees: [], ["config", "rocks_trees"], OUT;
    list_of_empty_trees: [], ["list", "--porcelain"], OUT;
    download_of_an_unknown_rock_fails: [], ["download", "no-such-rock"], CODE;
    remove_of_a_missing_rock_fails: [], ["remove", "no-such-rock"], CODE;
    /// stdout differs: LuaRocks prints the help and its configuration in its
    /// own words; the exit code is the same.
    no_command_prints_help_and_succeeds: [], [], CODE;

    // show: every flag, and a version.
    show_build_deps: [["install", "labelled"]], ["show", "--build-deps", "labelled"], OUT;
    show_test_deps: [["install", "labelled"]], ["show", "--test-deps", "labelled"], OUT;
    show_labels: [["install", "labelled"]], ["show", "--labels", "labelled"], OUT;
    show_issues: [["install", "labelled"]], ["show", "--issues", "labelled"], OUT;
    show_rockspec: [["install", "purelua"]], ["show", "--rockspec", "purelua"], OUT;
    show_rock_tree: [["install", "purelua"]], ["show", "--rock-tree", "purelua"], OUT;
    show_rock_namespace: [["install", "alice/nsrock"]], ["show", "--rock-namespace", "nsrock"], OUT;
    show_porcelain: [["install", "appx"]], ["show", "--porcelain", "appx"], OUT;
    show_a_version: [["install", "purelua", "1.0-1"], ["install", "--keep", "purelua", "2.0-1"]], ["show", "--rock-dir", "purelua", "1.0-1"], OUT;

    // config: keys, dotted keys, writing.
    config_home_tree: [], ["config", "home_tree"], OUT;
    config_deploy_lua_dir: [], ["config", "deploy_lua_dir"], OUT;
    config_arch: [], ["config", "arch"], OUT;
    config_a_dotted_key: [], ["config", "variables.LUA_INCDIR"], OUT;
    config_an_unknown_key_fails: [], ["config", "no_such_key"], CODE;
    config_lua_incdir: [], ["config", "--lua-incdir"], OUT;
    config_lua_libdir: [], ["config", "--lua-libdir"], OUT;
    config_lua_ver: [], ["config", "--lua-ver"], OUT;
    config_system_config: [], ["config", "--system-config"], OUT;
    config_user_config_missing: [], ["config", "--user-config"], OUT;
    config_rock_trees: [], ["config", "--rock-trees"], OUT;
    /// Compared without rockstore's own keys, LuaRocks' internal `cache`
    /// (what it checked of LuaJIT), and the variables rockstore adds
    /// (`LDFLAGS`, `LUA_VERSION`) or finds otherwise: `LUALIB` is the shared
    /// library, where LuaRocks takes the first of its patterns, the static
    /// `.a` (used only with `link_lua_explicitly`).
    config_prints_everything_as_lua: [], ["config"], CONFIG_OUT;
    config_writes_a_key: [["!mkdir", "../home/.luarocks"]], ["config", "deps_mode", "all"], TREES;
    config_unsets_a_key: [["!mkdir", "../home/.luarocks"], ["config", "deps_mode", "all"]], ["config", "--unset", "deps_mode"], TREES;
    config_writes_a_dotted_key: [["!mkdir", "../home/.luarocks"]], ["config", "variables.CC", "clang"], TREES;
    /// The system file is outside what the battery reads; `config.rs`'s
    /// sequence compares it.
    config_scope_system: [], ["config", "--scope", "system", "deps_mode", "all"], CODE;

    // install, build and make: the rest of their flags.
    /// From a rockspec here: rockstore refuses a `git+file://` source named
    /// by a rockspec a remote server sent (it may not read this machine's
    /// files), where LuaRocks clones it.
    install_branch: [["download", "--rockspec", "gitdev"]], ["install", "--branch", "feature", "gitdev-scm-1.rockspec"], TREES;
    build_branch: [["download", "--rockspec", "gitdev"]], ["build", "--branch", "feature", "gitdev-scm-1.rockspec"], TREES;
    build_sign_needs_pack_binary_rock: [], ["build", "--sign", "purelua"], CODE;
    make_no_install: [["download", "--rockspec", "tested"]], ["make", "--no-install"], CODE;
    /// The tree is empty on both sides; rockstore keeps the build in the
    /// store and prints its path (the issue's `--no-install`).
    build_no_install: [], ["build", "--no-install", "purelua"], CODE;
    build_with_no_argument_makes_the_rockspec_here: [["download", "--rockspec", "tested"]], ["build"], TREES;
    make_with_no_argument: [["download", "--rockspec", "tested"]], ["make"], TREES;
    make_only_deps: [["download", "--rockspec", "appx"]], ["make", "--only-deps", "appx-1.0-1.rockspec"], TREES;
    /// The trees differ: LuaRocks writes no manifest (its `list` then
    /// shows nothing); a generation always carries one.
    install_no_manifest: [], ["install", "--no-manifest", "purelua"], CODE;
    install_a_rock_for_another_arch_fails: [["download", "binrock"], ["!mv", "binrock-1.0-1.all.rock", "binrock-1.0-1.win32-x86.rock"]], ["install", "binrock-1.0-1.win32-x86.rock"], CODE;
    install_of_an_older_version_keeps_the_one_needed: [["install", "needsnew"]], ["install", "purelua", "1.0-1"], TREES;
    install_global: [], ["--global", "install", "purelua"], TREES;
    install_from_a_namespace: [], ["install", "alice/nsrock"], TREES;
    install_namespace_flag: [], ["install", "--namespace", "alice", "nsrock"], TREES;
    /// A missing header: both fail before building, saying so in the same
    /// words.
    install_with_a_missing_external_dependency_fails: [], ["install", "cextlib"], MISSING_HEADER;

    // global flags.
    verbose_install: [], ["--verbose", "install", "purelua"], TREES;
    only_sources_of_the_server: [], ["--only-sources", "HOSTPORT", "install", "purelua"], TREES;
    only_sources_elsewhere_fails: [], ["--only-sources", "127.0.0.1:9/elsewhere", "install", "purelua"], FAILS;
    timeout: [], ["--timeout", "10", "install", "purelua"], TREES;

    // purge, remove, search, download, unpack, pack, lint, which, list.
    purge_of_a_missing_tree_fails: [], ["purge", "--tree", "BASE/nowhere"], CODE;
    purge_force: [["install", "appx"]], ["purge", "--force", "--tree", "BASE/system"], TREES;
    remove_a_version: [["install", "purelua", "1.0-1"], ["install", "--keep", "purelua", "2.0-1"]], ["remove", "purelua", "1.0-1"], TREES;
    remove_force_fast: [["install", "appx"]], ["remove", "--force-fast", "purelua"], TREES;
    search_source: [], ["search", "--source", "--porcelain", "cmulti"], OUT;
    search_binary: [], ["search", "--binary", "--porcelain"], OUT;
    search_a_version: [], ["search", "--porcelain", "purelua", "1.0"], OUT;
    search_nothing_found: [], ["search", "--porcelain", "no-such-rock"], OUT;
    download_arch: [], ["download", "--arch", "all", "binrock"], WORK;
    download_a_version: [], ["download", "purelua", "1.0-1"], WORK;
    unpack_force: [["unpack", "purelua", "1.0-1"]], ["unpack", "--force", "purelua", "1.0-1"], WORK;
    unpack_force_a_src_rock: [["download", "--source", "cmulti"], ["unpack", "cmulti-1.0-1.src.rock"]], ["unpack", "--force", "cmulti-1.0-1.src.rock"], WORK;
    pack_a_rockspec_says_packed: [["download", "--rockspec", "purelua", "1.0-1"]], ["pack", "purelua-1.0-1.rockspec"], OUT;
    unpack_check_lua_versions: [], ["unpack", "--check-lua-versions", "no-such-rock"], OUT;
    download_check_lua_versions: [], ["download", "--check-lua-versions", "no-such-rock"], OUT;
    unpack_into_an_existing_directory_fails: [["unpack", "purelua", "1.0-1"]], ["unpack", "purelua", "1.0-1"], CODE;
    pack_a_src_rock_of_a_name: [], ["pack", "purelua", "1.0-1"], CODE;
    lint_a_good_rockspec: [["download", "--rockspec", "purelua", "1.0-1"]], ["lint", "purelua-1.0-1.rockspec"], OUT;
    lint_of_a_missing_file_fails: [], ["lint", "nothing-1.0-1.rockspec"], CODE;
    which_of_an_unknown_module_fails: [["install", "purelua"]], ["which", "no.such.module"], OUT;
    list_a_version: [["install", "purelua", "1.0-1"], ["install", "--keep", "purelua", "2.0-1"]], ["list", "--porcelain", "purelua", "1.0"], OUT;
    doc_porcelain: [["install", "purelua"]], ["doc", "--list", "--porcelain", "purelua"], OUT;
    doc_home: [["install", "purelua"]], ["doc", "--home", "purelua"], OUT;
    test_type_command: [["download", "--rockspec", "tested"]], ["test", "--test-type", "command", "tested-1.0-1.rockspec"], OUT;
    init_with_flags: [], ["init", "--summary", "A project", "--license", "MIT", "--lua-versions", "5.4", "myproject"], WORK;

    // test.
    test_runs_the_command: [["download", "--rockspec", "tested"]], ["test", "tested-1.0-1.rockspec"], OUT;
    test_passes_arguments: [["download", "--rockspec", "tested"]], ["test", "tested-1.0-1.rockspec", "one", "two"], OUT;
    test_without_a_rockspec_fails: [], ["test"], CODE;

    /// stdout differs: each tool completes its own commands and flags
    /// (`trees.rs` runs ours in bash).
    completion_bash: [], ["completion", "bash"], CODE;
    completion_of_an_unknown_shell_fails: [], ["completion", "tcsh"], OUT;

    // What a person reads, and the deps modes across the two trees.
    search_as_a_person_reads_it: [], ["search", "purelua"], OUT;
    list_as_a_person_reads_it: [["install", "purelua"]], ["list"], OUT;
    which_prints_the_file_and_its_rock: [["install", "purelua"]], ["which", "purelua.util"], OUT;
    remove_says_what_luarocks_says: [["install", "purelua"]], ["remove", "purelua"], OUT;
    download_is_silent: [], ["download", "--rockspec", "purelua", "1.0-1"], OUT;
    doc_list_as_a_person_reads_it: [["install", "purelua"]], ["doc", "--list", "purelua"], OUT;
    show_page: [["install", "purelua"]], ["show", "purelua"], OUT;
    list_outdated_as_a_person_reads_it: [["install", "purelua", "1.0-1"]], ["list", "--outdated"], OUT;
    search_all_as_a_person_reads_it: [], ["search", "--all"], OUT;
    deps_mode_order_from_the_system_tree: [["--tree", "BASE/home/.luarocks", "install", "purelua"]], ["install", "--deps-mode", "order", "appx"], TREES;
    deps_mode_all_from_the_system_tree: [["--tree", "BASE/home/.luarocks", "install", "purelua"]], ["install", "--deps-mode", "all", "appx"], TREES;
    deps_mode_one_into_the_home_tree: [["install", "purelua"]], ["--tree", "BASE/home/.luarocks", "install", "--deps-mode", "one", "appx"], TREES;
    deps_mode_order_into_the_home_tree: [["install", "purelua"]], ["--tree", "BASE/home/.luarocks", "install", "--deps-mode", "order", "appx"], TREES;
    deps_mode_all_into_the_home_tree: [["install", "purelua"]], ["--tree", "BASE/home/.luarocks", "install", "--deps-mode", "all", "appx"], TREES;
    /// The hint names rockstore's `make`, not LuaRocks'.
    unpack_a_rockspec: [["download", "--rockspec", "purelua", "1.0-1"]], ["unpack", "purelua-1.0-1.rockspec"], UNPACK_OUT;
    pack_says_packed: [["install", "purelua", "1.0-1"]], ["pack", "purelua", "1.0-1"], OUT;
    lint_of_a_misnamed_rockspec_fails: [["download", "--rockspec", "purelua", "1.0-1"], ["!mv", "purelua-1.0-1.rockspec", "purelua-1.0.rockspec"]], ["lint", "purelua-1.0.rockspec"], CODE;
    install_a_rock_file: [["download", "binrock"]], ["install", "binrock-1.0-1.all.rock"], TREES;
    remove_every_version: [["install", "purelua", "1.0-1"], ["install", "--keep", "purelua", "2.0-1"]], ["remove", "purelua"], TREES;
    install_upgrades: [["install", "upg", "1.0"]], ["install", "upg"], TREES;
    build_a_src_rock_file: [["download", "--source", "cmulti"]], ["build", "cmulti-1.0-1.src.rock"], TREES;
    make_a_c_dependent_rock_here: [["unpack", "appx", "1.0-1"]], ["make"], IN_APPX_SOURCES;
    purge_old_versions_force: [["install", "purelua", "1.0-1"], ["install", "--keep", "purelua", "2.0-1"]], ["purge", "--old-versions", "--force", "--tree", "BASE/system"], TREES;

    install_says_what_it_installed: [], ["install", "purelua"], INSTALLED;
    install_says_each_dependency_installed: [], ["install", "appx"], INSTALLED;
    build_says_what_it_installed: [], ["build", "cmulti"], INSTALLED;
    make_says_what_it_installed: [["download", "--rockspec", "tested"]], ["make"], INSTALLED;
    purge_says_what_it_removes: [["install", "purelua", "1.0-1"], ["install", "--keep", "purelua", "2.0-1"], ["install", "dmdep"]], ["purge", "--tree", "BASE/system"], OUT;

    // Each build backend, and the fixtures' corner cases.
    install_a_cmake_rock: [], ["install", "cmrock"], TREES;
    install_a_make_rock: [], ["install", "mkrock"], TREES;
    install_a_command_rock: [], ["install", "cmdrock"], TREES;
    install_an_unwrapped_script: [], ["install", "nowrap"], TREES;
    install_a_rock_shaped_like_luasec: [], ["install", "cssl"], TREES;
    install_with_a_post_install_hook: [], ["install", "hooked"], TREES;
    /// The trees differ: LuaRocks leaves the empty tree it made before
    /// the compiler failed; rockstore leaves none.
    install_a_rock_that_does_not_compile_fails: [], ["install", "cbroken"], CODE;
    install_the_older_of_two_versions: [], ["install", "upg", "1.0"], TREES;

    // A config that names its trees.
    install_into_a_named_tree: [], ["--tree", "user", "install", "purelua"], NAMED_TREES;
    install_into_the_last_named_tree: [], ["install", "purelua"], NAMED_TREES;
    list_of_a_named_tree: [["--tree", "user", "install", "purelua"], ["install", "dmdep"]], ["--tree", "user", "list", "--porcelain"], NAMED_OUT;
    list_of_named_trees: [["--tree", "user", "install", "purelua"], ["install", "dmdep"]], ["list", "--porcelain"], NAMED_OUT;
    path_of_a_named_tree: [], ["--tree", "system", "path"], NAMED_PATH;
    path_with_named_trees: [], ["path"], NAMED_PATH;
    config_named_rocks_trees: [], ["config", "rocks_trees"], NAMED_OUT;
    config_rock_trees_with_names: [], ["config", "--rock-trees"], NAMED_OUT;
    remove_from_a_named_tree: [["--tree", "user", "install", "purelua"]], ["--tree", "user", "remove", "purelua"], NAMED_TREES;

    // Lua 5.1.
    install_for_lua_5_1: [], ["install", "purelua"], TREES_51;
    install_a_c_rock_for_lua_5_1: [], ["install", "cmulti"], TREES_51;
    install_with_dependencies_for_lua_5_1: [], ["install", "appx"], TREES_51;
    path_for_lua_5_1: [], ["path"], OUT_51;
    path_append_for_lua_5_1: [], ["path", "--append"], OUT_51;
    list_for_lua_5_1: [["install", "purelua"]], ["list", "--porcelain"], OUT_51;
    config_for_lua_5_1: [], ["config", "deploy_lua_dir"], OUT_51;
    config_variables_for_lua_5_1: [], ["config", "variables.LUA_INCDIR"], OUT_51;
    show_for_lua_5_1: [["install", "purelua"]], ["show", "purelua"], OUT_51;
    remove_for_lua_5_1: [["install", "purelua"]], ["remove", "purelua"], TREES_51;

    // luarocks-admin.
    admin_make_manifest: [["download", "--rockspec", "purelua", "1.0-1"]], ["admin", "make_manifest", "."], WORK;
    /// LuaRocks 3.8 copies through its cache directory and fails when it
    /// is missing: `!admin-cache` makes it (`build.rs` records the failure).
    admin_add: [["download", "--rockspec", "purelua", "1.0-1"], ["!mkdir", "srv"], ["!admin-cache", "srv"]], ["admin", "add", "--no-refresh", "--server", "file://BASE/work/srv", "purelua-1.0-1.rockspec"], WORK;
}
