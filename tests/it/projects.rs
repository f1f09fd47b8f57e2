//! Project directories: `make` of the working directory, `init`,
//! `luarocks.lock` pins, `test` with its runners, and a project made by
//! Debian's `luarocks init`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rocks_server::Repo;
use crate::support::{need, ours_or_luarocks, text, Sandbox};

use crate::trees::{lua_ok, luarocks_listing, ok};

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn make_builds_the_working_directory_and_rebuilds_only_when_it_changes() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    let work = s.dir("work");
    let fixture = crate::support::project_dir().join("integration/rocks/purelua-1.0");
    std::fs::create_dir_all(work.join("src/purelua")).expect("mkdir");
    for f in ["src/purelua/init.lua", "src/purelua/util.lua"] {
        std::fs::copy(fixture.join(f), work.join(f)).expect("copy");
    }
    std::fs::write(
        work.join("purelua-1.0-1.rockspec"),
        "package = 'purelua'\nversion = '1.0-1'\nsource = { url = 'https://example.invalid/never-fetched.tar.gz' }\n\
         build = { type = 'builtin', modules = { purelua = 'src/purelua/init.lua', ['purelua.util'] = 'src/purelua/util.lua' } }\n",
    )
    .expect("rockspec");
    let make = || {
        let mut cmd = s.cmd(["--only-server", &repo.server.base, "--lua-version", "5.4"]);
        cmd.arg("--tree").arg(&t).arg("make").current_dir(&work);
        let out = cmd.output().expect("make");
        assert!(out.status.success(), "{}", text(&out.stderr));
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    };
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(&work)
            .expect("work")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    let err = make();
    assert!(err.contains(": built "), "{err}");
    assert_eq!(
        lua_ok(&s, &t, "print(require('purelua.util').greet('m'))"),
        "hello, m"
    );
    assert_eq!(listing(), before, "the working directory is not written to");
    let err = make();
    assert!(
        err.contains("already built") && err.contains("nothing changed"),
        "{err}"
    );
    std::fs::write(
        work.join("src/purelua/util.lua"),
        "return { greet = function(who) return 'edited, ' .. who end, version = '1.0' }\n",
    )
    .expect("edit");
    let err = make();
    assert!(err.contains(": built "), "an edit rebuilds: {err}");
    assert_eq!(
        lua_ok(&s, &t, "print(require('purelua.util').greet('m'))"),
        "edited, m"
    );
    let gens: serde_json::Value =
        serde_json::from_str(&ok(&s, &repo, &t, &["generations", "--json"])).expect("json");
    assert_eq!(gens.as_array().expect("array").len(), 2);
}

/// A project made by Debian's `luarocks init` (Lua 5.1, so the version
/// must come from the project, not from whichever Lua is found first):
/// from a subdirectory, with no tree or version flags, rockstore and
/// LuaRocks both install into `<project>/lua_modules`.
#[test]
#[cfg_attr(not(all(has_lua5_1, has_luarocks)), ignore = "needs lua5.1, luarocks")]
fn a_luarocks_init_project_gets_its_rocks_in_lua_modules() {
    if !need(&["lua5.1", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let home_tree = s.tmp.path().join("home/.luarocks");
    let projects: Vec<PathBuf> = ["ours", "theirs"]
        .iter()
        .map(|side| {
            let project = s.dir(&format!("{side}/project"));
            let init = s
                .program("luarocks")
                .current_dir(&project)
                .args(["--lua-version", "5.1", "init", "demo", "1.0"])
                .output()
                .expect("luarocks init");
            assert!(init.status.success(), "{}", text(&init.stderr));
            std::fs::create_dir_all(project.join("src/deep")).expect("subdir");
            project
        })
        .collect();
    let (ours, theirs) = (&projects[0], &projects[1]);
    let in_dir = |mut cmd: Command, dir: &Path, args: &[&str]| {
        let out = cmd
            .current_dir(dir)
            .args(["--only-server", &repo.server.base])
            .args(args)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    in_dir(
        s.cmd::<[&str; 0], &str>([]),
        &ours.join("src/deep"),
        &["install", "purelua"],
    );
    in_dir(
        s.program("luarocks"),
        &theirs.join("src/deep"),
        &["install", "purelua"],
    );
    for project in [ours, theirs] {
        let listed = text(
            &s.program("luarocks")
                .args(["--lua-version", "5.1", "--tree"])
                .arg(project.join("lua_modules"))
                .args(["list", "--porcelain"])
                .output()
                .expect("luarocks list")
                .stdout,
        );
        assert!(
            listed.starts_with("purelua\t2.0-1\t"),
            "{}: {listed}",
            project.display()
        );
        assert!(project.join("lua_modules/lib/luarocks/rocks-5.1").exists());
    }
    assert!(!home_tree.exists(), "nothing went to the user tree");
    // `path` puts the project tree first; the module loads from below.
    let script = format!(
        "eval \"$('{}' --store '{}' path)\" && exec lua5.1 -e 'print(require(\"purelua\").version or \"ok\")'",
        crate::support::bin(),
        s.store().display()
    );
    let out = s
        .program("sh")
        .current_dir(ours.join("src/deep"))
        .args(["-c", &script])
        .output()
        .expect("sh");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = |dir: &Path, extra: &[&str]| -> serde_json::Value {
        let mut cmd = s.cmd(["config", "--json"]);
        cmd.args(extra);
        let out = cmd.current_dir(dir).output().expect("config");
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let shown = config(&ours.join("src/deep"), &[]);
    assert_eq!(shown["project_dir"], ours.display().to_string());
    assert_eq!(shown["lua_version"], "5.1");
    assert_eq!(shown["rocks_trees"][0]["name"], "project");
    assert_eq!(
        shown["rocks_trees"][0]["root"],
        ours.join("lua_modules").display().to_string()
    );
    assert_eq!(
        shown["config_files"]["project"]["file"],
        ours.join(".luarocks/config-5.1.lua").display().to_string()
    );
    // --no-project, or a marker on the way up, and the project is not used.
    let shown = config(&ours.join("src/deep"), &["--no-project"]);
    assert_eq!(shown["project_dir"], serde_json::Value::Null);
    assert_ne!(
        shown["target_tree"],
        ours.join("lua_modules").display().to_string()
    );
    std::fs::write(ours.join("src/.luarocks-no-project"), "").expect("marker");
    assert_eq!(
        config(&ours.join("src/deep"), &[])["project_dir"],
        serde_json::Value::Null
    );
    assert_eq!(
        config(ours, &[])["target_tree"],
        ours.join("lua_modules").display().to_string()
    );
}

/// `make` beside a `luarocks.lock`: the pinned versions are installed, also
/// for a rock pulled in on the way (appx wants `purelua >= 1.0`; 2.0-1 is
/// newest, the pin says 1.0-1), exactly as Debian's `luarocks make` does.
/// `make --pin` writes the `luarocks.lock` Debian's `luarocks make --pin`
/// writes: every dependency of the closure with the version that met it,
/// the Lua VM's included; a later `make` installs those versions.
#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_luarocks, has_gcc)),
    ignore = "needs lua5.4, luarocks, gcc"
)]
fn make_pin_writes_the_lock_file_luarocks_writes() {
    if !need(&["lua5.4", "luarocks", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut locks = Vec::new();
    for side in ["ours", "theirs"] {
        let work = s.dir(&format!("pin-{side}"));
        std::fs::write(
            work.join("pindemo-1.0-1.rockspec"),
            "package = 'pindemo'\nversion = '1.0-1'\nsource = { url = 'https://example.invalid/x.tar.gz' }\n\
             dependencies = { 'lua >= 5.1', 'appx', 'dmdep' }\nbuild = { type = 'builtin', modules = {} }\n",
        )
        .expect("rockspec");
        let tree = s.tmp.path().join(format!("tree-pin-{side}"));
        let out = ours_or_luarocks(&s, side)
            .current_dir(&work)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(&tree)
            .args(["make", "--pin"])
            .output()
            .expect("make");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        locks.push(std::fs::read_to_string(work.join("luarocks.lock")).expect("lock written"));
        locks.push(
            std::fs::read_to_string(
                tree.join("lib/luarocks/rocks-5.4/pindemo/1.0-1/luarocks.lock"),
            )
            .expect("lock in the rock directory"),
        );
    }
    assert_eq!(locks[0], locks[2], "ours, then Debian's luarocks");
    assert_eq!(
        locks[1], locks[3],
        "the rock directory's: ours, then Debian's luarocks"
    );
    assert!(locks[0].contains("appx = \"1.0-1\""), "{}", locks[0]);
    assert!(
        locks[0].contains("cmulti = \"1.0-1\""),
        "appx's own: {}",
        locks[0]
    );
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_luarocks, has_gcc)),
    ignore = "needs lua5.4, luarocks, gcc"
)]
fn make_installs_the_versions_luarocks_lock_pins() {
    if !need(&["lua5.4", "luarocks", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut listings = Vec::new();
    for side in ["ours", "theirs"] {
        let work = s.dir(&format!("pinned-{side}"));
        std::fs::write(
            work.join("lockdemo-1.0-1.rockspec"),
            "package = 'lockdemo'\nversion = '1.0-1'\nsource = { url = 'https://example.invalid/x.tar.gz' }\n\
             dependencies = { 'appx' }\nbuild = { type = 'builtin', modules = {} }\n",
        )
        .expect("rockspec");
        std::fs::write(
            work.join("luarocks.lock"),
            "return {\n   dependencies = {\n      appx = \"1.0-1\",\n      cmulti = \"1.0-1\",\n      purelua = \"1.0-1\",\n   },\n}\n",
        )
        .expect("lock");
        let tree = s.tmp.path().join(format!("tree-pinned-{side}"));
        let mut cmd = ours_or_luarocks(&s, side);
        let out = cmd
            .current_dir(&work)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(&tree)
            .arg("make")
            .output()
            .expect("make");
        assert!(
            out.status.success(),
            "{side}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        if side == "ours" {
            let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert!(
                said.contains("Using dependencies pinned in lockfile"),
                "{said}"
            );
        }
        let listed = text(
            &s.program("luarocks")
                .args(["--lua-version", "5.4", "--tree"])
                .arg(&tree)
                .args(["list", "--porcelain"])
                .output()
                .expect("list")
                .stdout,
        );
        let mut rocks: Vec<String> = listed
            .lines()
            .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
            .collect();
        rocks.sort();
        listings.push(rocks);
    }
    assert_eq!(listings[0], listings[1], "ours, then Debian's luarocks");
    assert_eq!(
        listings[0],
        [
            "appx 1.0-1",
            "cmulti 1.0-1",
            "lockdemo 1.0-1",
            "purelua 1.0-1"
        ]
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn test_runs_the_rockspecs_suite_as_luarocks_and_installs_its_test_dependencies() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let project = s.dir("project");
    let write_spec = |test_dependencies: &str| {
        std::fs::write(
            project.join("tproj-1.0-1.rockspec"),
            format!(
                "rockspec_format = '3.0'\npackage = 'tproj'\nversion = '1.0-1'\n\
                 source = {{ url = 'file:///nowhere/tproj-1.0.tar.gz' }}\n\
                 test_dependencies = {{ {test_dependencies} }}\n\
                 test = {{ type = 'command', script = 'test.lua', flags = {{ 'first' }} }}\n\
                 build = {{ type = 'builtin', modules = {{}} }}\n"
            ),
        )
        .expect("rockspec");
    };
    std::fs::write(
        project.join("test.lua"),
        "print('args:', ...)\nlocal ok, p = pcall(require, 'purelua')\n\
         print('purelua', ok and p.version or 'missing')\n\
         os.exit(select('#', ...) == 2 and 0 or 1)\n",
    )
    .expect("test.lua");
    let run = |side: &str, tree: &Path, extra: &[&str]| {
        ours_or_luarocks(&s, side)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(tree)
            .arg("test")
            .args(extra)
            .current_dir(&project)
            .output()
            .expect("test")
    };
    let suite = |out: &std::process::Output| -> Vec<String> {
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("args:") || l.starts_with("purelua\t"))
            .map(str::to_owned)
            .collect()
    };
    // Without test dependencies: the same suite, the same arguments (the
    // rockspec's flags first), the same verdicts.
    write_spec("");
    for (extra, code) in [(&["--", "second"][..], 0), (&[][..], 1)] {
        let mut seen = Vec::new();
        for side in ["ours", "theirs"] {
            let tree = s.tmp.path().join(format!("plain-{side}"));
            let out = run(side, &tree, extra);
            assert_eq!(
                out.status.code(),
                Some(code),
                "{side} {extra:?}: {}",
                text(&out.stderr)
            );
            seen.push(suite(&out));
        }
        assert_eq!(seen[0], seen[1], "{extra:?}");
        assert!(!seen[0].is_empty());
    }
    // With one: LuaRocks 3.8 crashes in deps.lua (an assertion, exit 99)
    // before running anything; rockstore installs it and runs the suite.
    write_spec("'purelua'");
    let theirs = run(
        "theirs",
        &s.tmp.path().join("deps-theirs"),
        &["--", "second"],
    );
    assert_eq!(theirs.status.code(), Some(99), "{}", text(&theirs.stderr));
    let ours = run("ours", &s.tmp.path().join("deps-ours"), &["--", "second"]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    assert_eq!(suite(&ours), ["args:\tfirst\tsecond", "purelua\t2.0"]);
    // --prepare: the test dependencies, and no suite (LuaRocks 3.8 crashes
    // on it with a command test).
    let tree = s.tmp.path().join("prepare-ours");
    let ours = run("ours", &tree, &["--prepare"]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    assert!(
        suite(&ours).is_empty(),
        "the suite ran: {}",
        text(&ours.stdout)
    );
    assert!(tree.join("lib/luarocks/rocks-5.4/purelua").is_dir());
}

/// A `busted` test: busted is installed into the tree from the servers
/// (the fixture stands in for it), then run from the tree's `bin/` with
/// the rockspec's flags and the arguments given, as LuaRocks' busted
/// runner means to (it crashes in 3.8: recorded).
#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn test_of_the_busted_type_installs_and_runs_busted_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let project = s.dir("bproject");
    std::fs::write(
        project.join("bproj-1.0-1.rockspec"),
        "rockspec_format = '3.0'\npackage = 'bproj'\nversion = '1.0-1'\n\
         source = { url = 'file:///nowhere/bproj-1.0.tar.gz' }\n\
         test = { type = 'busted', flags = { '-o', 'TAP' } }\n\
         build = { type = 'builtin', modules = {} }\n",
    )
    .expect("rockspec");
    let mut seen = Vec::new();
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(format!("busted-{side}"));
        let out = ours_or_luarocks(&s, side)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(&tree)
            .args(["test", "--", "spec/extra"])
            .current_dir(&project)
            .output()
            .expect("test");
        let said: Vec<String> = text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("fake busted:"))
            .map(str::to_owned)
            .collect();
        seen.push((out.status.code(), said, text(&out.stderr)));
    }
    let (ours, theirs) = (&seen[0], &seen[1]);
    assert_eq!(ours.0, Some(0), "ours: {}", ours.2);
    assert_eq!(ours.1, ["fake busted:\t-o\tTAP\tspec/extra"], "{}", ours.2);
    // LuaRocks 3.8's busted runner always crashes: it asks deps.lua to
    // fulfil `busted` with arguments deps.lua asserts against (line 243),
    // installed or not.
    assert_eq!(theirs.0, Some(99), "{}", theirs.2);
    assert!(theirs.2.contains("deps.lua"), "{}", theirs.2);
    // Run again, busted is there: it is not installed twice.
    let tree = s.tmp.path().join("busted-ours");
    let out = ours_or_luarocks(&s, "ours")
        .args(["--only-server", &repo.server.base, "--tree"])
        .arg(&tree)
        .args(["test", "--", "again"])
        .current_dir(&project)
        .output()
        .expect("test again");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("fake busted:\t-o\tTAP\tagain"));
    let listed = luarocks_listing(&s, &tree);
    assert_eq!(
        listed.iter().filter(|l| l.starts_with("busted ")).count(),
        1,
        "{listed:?}"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn init_makes_a_project_as_luarocks_and_its_wrappers_work() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut made = Vec::new();
    for side in ["ours", "theirs"] {
        let project = s.dir(&format!("{side}/myproj"));
        let out = ours_or_luarocks(&s, side)
            .arg("init")
            .current_dir(&project)
            .output()
            .expect("init");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let files = crate::support::files_under(&project);
        let read = |f: &str| std::fs::read_to_string(project.join(f)).expect(f);
        made.push((
            files,
            read("myproj-dev-1.rockspec"),
            read(".gitignore"),
            read(".luarocks/config-5.4.lua"),
            read(".luarocks/default-lua-version.lua"),
        ));
    }
    assert_eq!(made[0], made[1]);
    // The wrappers: ./luarocks installs into lua_modules, ./lua finds it.
    let project = s.tmp.path().join("ours/myproj");
    let out = s
        .program(project.join("luarocks"))
        .args(["--only-server", &repo.server.base, "install", "purelua"])
        .current_dir(&project)
        .output()
        .expect("./luarocks");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(project
        .join("lua_modules/share/lua/5.4/purelua/init.lua")
        .exists());
    let out = s
        .program(project.join("lua"))
        .args(["-e", "print(require('purelua').version)"])
        .current_dir(&project)
        .output()
        .expect("./lua");
    assert_eq!(text(&out.stdout).trim(), "2.0", "{}", text(&out.stderr));
    // --reset writes ./lua and the project's config anew (LuaRocks 3.8
    // crashes on it: it deletes them by relative path).
    let config = project.join(".luarocks/config-5.4.lua");
    let before = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, "broken = true\n").expect("edit");
    std::fs::remove_file(project.join("lua")).expect("rm lua");
    let out = ours_or_luarocks(&s, "ours")
        .args(["init", "--reset"])
        .current_dir(&project)
        .output()
        .expect("init --reset");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&config).expect("config"), before);
    assert!(project.join("lua").is_file());
}
