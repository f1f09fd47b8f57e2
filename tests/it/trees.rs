//! Trees as profiles: install/remove with deps modes, generations,
//! rollback and GC, checked with real `lua5.4` and Debian's `luarocks`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rocks_server::Repo;
use crate::support::{need, on_tree as rs, ours_or_luarocks, text, Sandbox};

fn ok(s: &Sandbox, repo: &Repo, tree: &Path, args: &[&str]) -> String {
    let out = rs(s, repo, tree, args);
    assert!(
        out.status.success(),
        "rockstore {args:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs `code` in lua5.4 after `eval "$(rockstore --tree T path)"`.
fn lua_in_tree(s: &Sandbox, tree: &Path, code: &str) -> std::process::Output {
    let script = format!(
        "eval \"$('{}' --store '{}' --lua-version 5.4 --tree '{}' path)\" && exec lua5.4 -e \"$CODE\"",
        crate::support::bin(),
        s.store().display(),
        tree.display()
    );
    s.program("sh")
        .args(["-c", &script])
        .env("CODE", code)
        .output()
        .expect("sh")
}

fn lua_ok(s: &Sandbox, tree: &Path, code: &str) -> String {
    let out = lua_in_tree(s, tree, code);
    assert!(
        out.status.success(),
        "lua5.4 -e {code:?} in {}: {}",
        tree.display(),
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_owned()
}

/// Runs `args` with side `side` (ours or Debian's luarocks) against the
/// fixture server on `tree`; asserts success and returns stdout + stderr.
fn side_ok(s: &Sandbox, repo: &Repo, side: &str, tree: &Path, args: &[&str]) -> String {
    let out = ours_or_luarocks(s, side)
        .args(["--only-server", &repo.server.base, "--tree"])
        .arg(tree)
        .args(args)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{side} {args:?}: {}",
        text(&out.stderr)
    );
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// `name version` of every rock Debian's `luarocks list` sees in `tree`.
fn luarocks_listing(s: &Sandbox, tree: &Path) -> Vec<String> {
    let out = s
        .program("luarocks")
        .args(["--lua-version", "5.4", "--tree"])
        .arg(tree)
        .args(["list", "--porcelain"])
        .output()
        .expect("luarocks list");
    text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

fn store_items(s: &Sandbox) -> Vec<String> {
    s.items()
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn a_closure_installs_requires_and_lists_like_luarocks() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let a = s.tmp.path().join("tree-a");
    ok(&s, &repo, &a, &["install", "appx"]);
    assert_eq!(
        lua_ok(&s, &a, "print(require('appx').run())"),
        "hello, appx 42"
    );
    // Every module of the closure, and the bin wrapper.
    assert_eq!(
        lua_ok(
            &s,
            &a,
            "print(require('purelua').version, require('purelua.util') ~= nil, require('cmulti').answer())"
        ),
        "2.0\ttrue\t42"
    );
    let out = s
        .program(a.join("bin/appx-cli"))
        .output()
        .expect("run wrapper");
    assert_eq!(
        text(&out.stdout).trim(),
        "hello, appx 42",
        "{}",
        text(&out.stderr)
    );
    let listed = ok(&s, &repo, &a, &["list", "--porcelain"]);
    let ours: Vec<(String, String)> = listed
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_owned(), f[1].to_owned())
        })
        .collect();
    assert_eq!(
        ours,
        [
            ("appx".to_owned(), "1.0-1".to_owned()),
            ("cmulti".to_owned(), "1.0-1".to_owned()),
            ("purelua".to_owned(), "2.0-1".to_owned())
        ]
    );
    if !need(&["luarocks"]) {
        return;
    }
    // Debian's LuaRocks reads the tree: list, and luarocks.loader.
    let theirs = s
        .program("luarocks")
        .args(["--lua-version", "5.4", "--tree"])
        .arg(&a)
        .args(["list", "--porcelain"])
        .output()
        .expect("luarocks list");
    assert!(theirs.status.success(), "{}", text(&theirs.stderr));
    let theirs: Vec<(String, String)> = text(&theirs.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_owned(), f[1].to_owned())
        })
        .collect();
    assert_eq!(theirs, ours, "luarocks --tree A list shows the same rocks");
    assert_eq!(
        lua_ok(
            &s,
            &a,
            "require('luarocks.loader') print(require('appx').run())"
        ),
        "hello, appx 42"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn a_second_tree_builds_nothing_and_shares_items() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (a, b) = (s.tmp.path().join("a"), s.tmp.path().join("b"));
    ok(&s, &repo, &a, &["install", "appx"]);
    let before = store_items(&s);
    repo.server.clear();
    let out = rs(&s, &repo, &b, &["install", "appx"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!stderr.contains(": built "), "nothing is built: {stderr}");
    assert_eq!(stderr.matches("already built").count(), 3, "{stderr}");
    let after = store_items(&s);
    assert_eq!(after.len(), before.len() + 1, "only B's profile is new");
    assert!(
        repo.server.requests().is_empty(),
        "{:?}",
        repo.server.requests()
    );
    assert_eq!(
        lua_ok(&s, &b, "print(require('appx').run())"),
        "hello, appx 42"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn a_dependency_build_lives_exactly_as_long_as_a_tree_uses_it() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (x, y) = (s.tmp.path().join("x"), s.tmp.path().join("y"));
    let cmulti = |s: &Sandbox| -> Vec<String> {
        store_items(s)
            .into_iter()
            .filter(|i| i.contains("-cmulti-"))
            .collect()
    };
    // X: appx with cmulti built as usual.
    ok(&s, &repo, &x, &["install", "appx"]);
    let x_cmulti = cmulti(&s);
    assert_eq!(x_cmulti.len(), 1, "{x_cmulti:?}");
    // Y: cmulti built with other flags (other bytes, another item), then
    // appx, whose pure-Lua item has the same contents as X's: one item,
    // built against another cmulti.
    ok(&s, &repo, &y, &["install", "cmulti", "CFLAGS=-O1 -fPIC"]);
    ok(&s, &repo, &y, &["install", "appx"]);
    let both = cmulti(&s);
    assert_eq!(both.len(), 2, "two cmulti builds: {both:?}");
    // `store why` names the tree that really uses each build.
    let why = s.ok(["store", "why", &x_cmulti[0]]);
    assert!(why.contains(&x.display().to_string()), "{why}");
    assert!(!why.contains(&y.display().to_string()), "{why}");
    std::fs::remove_dir_all(&x).expect("rm -rf X");
    let freed = s.ok(["gc"]);
    assert!(
        freed.contains(&x_cmulti[0]),
        "X's cmulti must be freed: {freed}"
    );
    let kept = cmulti(&s);
    assert_eq!(kept.len(), 1);
    assert_ne!(kept, x_cmulti, "Y's own build stays");
    assert_eq!(
        lua_ok(&s, &y, "print(require('appx').run())"),
        "hello, appx 42"
    );
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn rollback_after_a_broken_upgrade_and_forward_again() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "upg", "1.0"]);
    assert_eq!(lua_ok(&s, &t, "print(require('upg').v)"), "1.0");
    ok(&s, &repo, &t, &["install", "upg", "2.0"]);
    let broken = lua_in_tree(&s, &t, "print(require('upg').v)");
    assert!(!broken.status.success());
    assert!(text(&broken.stderr).contains("broken release"));
    ok(&s, &repo, &t, &["rollback"]);
    assert_eq!(lua_ok(&s, &t, "print(require('upg').v)"), "1.0");
    let gens: serde_json::Value =
        serde_json::from_str(&ok(&s, &repo, &t, &["generations", "--json"])).expect("json");
    let gens = gens.as_array().expect("array");
    assert_eq!(gens.len(), 2);
    assert_eq!(gens[0]["current"], true);
    assert!(gens[1]["change"]
        .as_str()
        .expect("change")
        .contains("upg 2.0-1"));
    ok(&s, &repo, &t, &["switch-generation", "2"]);
    assert!(!lua_in_tree(&s, &t, "require('upg')").status.success());
    ok(&s, &repo, &t, &["switch-generation", "1"]);
    let out = rs(&s, &repo, &t, &["switch-generation", "7"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("has no generation 7"));
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn gc_frees_exactly_the_unreferenced_items() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (a, b) = (s.tmp.path().join("a"), s.tmp.path().join("b"));
    ok(&s, &repo, &a, &["install", "upg", "1.0"]);
    ok(&s, &repo, &a, &["install", "upg", "2.0"]);
    ok(&s, &repo, &b, &["install", "purelua", "1.0"]);
    // An unrooted build: garbage from the start.
    let loose = s.ok([
        "--only-server",
        &repo.server.base,
        "build",
        "--no-install",
        "dmdep",
    ]);
    let loose = loose.lines().last().expect("path").to_owned();
    let dry = s.ok(["gc", "--dry-run"]);
    assert_eq!(dry.lines().collect::<Vec<_>>(), [loose.as_str()]);
    assert!(Path::new(&loose).exists(), "a dry run deletes nothing");
    // Deleting generation 1 of A makes upg 1.0 and that profile garbage.
    ok(&s, &repo, &a, &["delete-generations", "1"]);
    let freed = s.ok(["gc"]);
    let freed: Vec<&str> = freed.lines().collect();
    assert_eq!(freed.len(), 3, "{freed:?}");
    assert!(freed.contains(&loose.as_str()));
    assert!(freed.iter().any(|f| f.contains("-upg-1.0-1")), "{freed:?}");
    assert!(freed.iter().any(|f| f.contains("-profile-")), "{freed:?}");
    // Everything a kept generation uses survives, and works.
    assert!(!lua_in_tree(&s, &a, "require('upg')").status.success());
    assert_eq!(lua_ok(&s, &b, "print(require('purelua').version)"), "1.0");
    assert_eq!(s.ok(["gc"]).lines().count(), 0);
    // A deleted tree's registration is dropped and its items freed.
    std::fs::remove_dir_all(&b).expect("rm tree");
    let out = s.cmd(["gc"]).output().expect("gc");
    assert!(
        text(&out.stderr).contains("dropped the registration"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "purelua and B's profile"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn remove_is_refused_while_needed_and_conflicts_stop_before_switching() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "appx"]);
    let out = rs(&s, &repo, &t, &["remove", "purelua"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("Will not remove purelua 2.0-1"), "{err}");
    assert!(err.contains("appx 1.0-1"), "{err}");
    // A rock providing a file purelua provides: refused, naming both.
    let gens_before = ok(&s, &repo, &t, &["generations", "--json"]);
    let out = rs(&s, &repo, &t, &["install", "clash"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("clash 1.0-1"), "{err}");
    assert!(err.contains("purelua 2.0-1"), "{err}");
    assert!(err.contains("share/lua/5.4/purelua/util.lua"), "{err}");
    assert_eq!(ok(&s, &repo, &t, &["generations", "--json"]), gens_before);
    // --force removes anyway; the tree then lacks purelua.
    ok(&s, &repo, &t, &["remove", "appx"]);
    ok(&s, &repo, &t, &["remove", "purelua"]);
    assert!(!lua_in_tree(&s, &t, "require('purelua')").status.success());
    assert_eq!(lua_ok(&s, &t, "print(require('cmulti').answer())"), "42");
}

/// Hand-installed modules share the deploy directories with our links
/// (one per entry): they stay, and one at a place a rock needs is refused,
/// never replaced.
#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn hand_installed_modules_stay_beside_the_links_and_one_in_the_way_is_refused() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("prefix");
    std::fs::create_dir_all(t.join("share/lua/5.4")).expect("mkdir");
    std::fs::write(t.join("share/lua/5.4/mine.lua"), "return 'mine'").expect("write");
    std::fs::create_dir_all(t.join("include")).expect("mkdir");
    std::fs::write(t.join("include/x.h"), "").expect("write");
    ok(&s, &repo, &t, &["install", "dmdep"]);
    assert_eq!(
        lua_ok(&s, &t, "print(require('dmdep').dep, (require('mine')))"),
        "true\tmine"
    );
    assert!(t.join("include/x.h").exists());
    assert!(std::fs::symlink_metadata(t.join("share/lua/5.4"))
        .expect("dir")
        .is_dir());
    ok(&s, &repo, &t, &["remove", "dmdep"]);
    assert_eq!(
        std::fs::read_to_string(t.join("share/lua/5.4/mine.lua")).expect("mine"),
        "return 'mine'"
    );
    assert!(!lua_in_tree(&s, &t, "require('dmdep')").status.success());

    // A file of its own where a rock's module goes.
    std::fs::write(t.join("share/lua/5.4/dmdep.lua"), "return 'hand'").expect("write");
    let out = rs(&s, &repo, &t, &["install", "dmdep"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("dmdep.lua is in the way"), "{err}");
    assert!(err.contains("rockstore adopt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(t.join("share/lua/5.4/dmdep.lua")).expect("kept"),
        "return 'hand'"
    );
    assert_eq!(lua_ok(&s, &t, "print((require('dmdep')))"), "hand");
}

/// Which (tree, rock) pairs each tree holds after an install.
fn holdings(trees: &[(&str, PathBuf)], luarocks: bool, s: &Sandbox) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, root) in trees {
        let listing = if luarocks {
            let o = s
                .program("luarocks")
                .args(["--lua-version", "5.4", "--tree"])
                .arg(root)
                .args(["list", "--porcelain"])
                .output()
                .expect("luarocks list");
            text(&o.stdout)
        } else {
            let o = s
                .cmd(["--lua-version", "5.4", "--tree"])
                .arg(root)
                .args(["list", "--porcelain"])
                .output()
                .expect("list");
            text(&o.stdout)
        };
        for line in listing.lines() {
            let rock = line.split('\t').next().unwrap_or("").to_owned();
            out.push(((*name).to_owned(), rock));
        }
    }
    out.sort();
    out
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn deps_modes_install_what_luarocks_installs() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut planned = std::collections::BTreeMap::new();
    for mode in ["one", "all", "order", "none"] {
        for side in ["ours", "theirs"] {
            let base = s.tmp.path().join(format!("{mode}-{side}"));
            let trees: Vec<(&str, PathBuf)> = ["user", "project", "system"]
                .iter()
                .map(|n| (*n, base.join(n)))
                .collect();
            let config = base.join("config.lua");
            std::fs::create_dir_all(&base).expect("mkdir");
            let entries: Vec<String> = trees
                .iter()
                .map(|(n, r)| format!("{{ name = '{n}', root = '{}' }}", r.display()))
                .collect();
            std::fs::write(
                &config,
                format!("rocks_trees = {{ {} }}\n", entries.join(", ")),
            )
            .expect("config");
            let run = |args: &[&str]| {
                let mut cmd = ours_or_luarocks(&s, side);
                let out = cmd
                    .args(["--only-server", &repo.server.base])
                    .env("LUAROCKS_CONFIG", &config)
                    .args(args)
                    .output()
                    .expect("run");
                assert!(
                    out.status.success(),
                    "{side} {args:?}: {}{}",
                    text(&out.stdout),
                    text(&out.stderr)
                );
            };
            // The dependency is already in `user`, the first tree; the rock
            // goes into `system`, the last: `order` does not look back.
            run(&["--tree", "user", "install", "dmdep"]);
            if side == "ours" {
                let out = ours_or_luarocks(&s, side)
                    .args(["--only-server", &repo.server.base])
                    .env("LUAROCKS_CONFIG", &config)
                    .args(["--tree", "system", "install", "dmtop", "--deps-mode", mode])
                    .args(["--dry-run", "--json"])
                    .output()
                    .expect("dry run");
                assert!(out.status.success(), "{}", text(&out.stderr));
                let plan: serde_json::Value =
                    serde_json::from_slice(&out.stdout).expect("plan json");
                planned.insert(
                    mode,
                    plan["steps"]
                        .as_array()
                        .expect("steps")
                        .iter()
                        .map(|s| s["name"].as_str().unwrap_or("").to_owned())
                        .collect::<Vec<_>>(),
                );
            }
            run(&["--tree", "system", "install", "dmtop", "--deps-mode", mode]);
        }
        let tree_list = |side: &str| -> Vec<(&'static str, PathBuf)> {
            let base = s.tmp.path().join(format!("{mode}-{side}"));
            ["user", "project", "system"]
                .iter()
                .map(|n| (*n, base.join(n)))
                .collect()
        };
        let ours = holdings(&tree_list("ours"), false, &s);
        let theirs = holdings(&tree_list("theirs"), true, &s);
        assert_eq!(ours, theirs, "deps mode {mode}");
        // And what that is: only `one` and `order` need a second dmdep.
        let in_system: Vec<&str> = ours
            .iter()
            .filter(|(t, _)| t == "system")
            .map(|(_, r)| r.as_str())
            .collect();
        let expected: &[&str] = match mode {
            "one" | "order" => &["dmdep", "dmtop"],
            _ => &["dmtop"],
        };
        assert_eq!(in_system, expected, "deps mode {mode}");
        // The dry run planned exactly that (dmdep planned only where it
        // was then installed, dependencies first).
        assert_eq!(planned[mode], expected, "deps mode {mode}: dry-run plan");
    }
}

/// Starts `rockstore ARGS` stopped at failpoint `point`; returns the child
/// once it has said so on stderr (the rest of stderr stays readable).
fn stopped_at(
    s: &Sandbox,
    repo: &Repo,
    tree: &Path,
    args: &[&str],
    point: &str,
    resume: Option<&Path>,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
) {
    let mut cmd = s.cmd(["--only-server", &repo.server.base, "--lua-version", "5.4"]);
    cmd.arg("--tree").arg(tree).args(args);
    if let Some(fifo) = resume {
        cmd.env("ROCKSTORE_FAILPOINT_RESUME", fifo);
    }
    crate::support::stopped_at_failpoint(cmd, point)
}

fn mkfifo(path: &Path) {
    let out = Command::new("mkfifo").arg(path).output().expect("mkfifo");
    assert!(out.status.success());
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn sigkill_during_install_leaves_the_previous_generation_whole() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "upg", "1.0"]);
    // First run: the rock is admitted, the profile killed mid-admission.
    // Later runs reuse the rock, so the profile is their first admission.
    for point in ["after-ingest@2", "after-record", "before-switch"] {
        let (mut child, _err) = stopped_at(&s, &repo, &t, &["install", "upg", "2.0"], point, None);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        assert_eq!(
            lua_ok(&s, &t, "print(require('upg').v)"),
            "1.0",
            "killed at {point}"
        );
        let gens: serde_json::Value =
            serde_json::from_str(&ok(&s, &repo, &t, &["generations", "--json"])).expect("json");
        assert_eq!(
            gens.as_array().expect("array").len(),
            1,
            "killed at {point}"
        );
        s.ok(["verify"]);
    }
    // The next install completes normally.
    ok(&s, &repo, &t, &["install", "purelua"]);
    assert_eq!(
        lua_ok(
            &s,
            &t,
            "print(require('upg').v, require('purelua').version)"
        ),
        "1.0\t2.0"
    );
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn gc_waits_for_an_install_in_flight_and_frees_none_of_its_items() {
    if !need(&["lua5.4"]) {
        return;
    }
    use std::io::BufRead;
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    let fifo = s.tmp.path().join("resume");
    mkfifo(&fifo);
    // The install has admitted its rock and profile and stops before the
    // switch: nothing links them yet.
    let (mut installer, _ierr) = stopped_at(
        &s,
        &repo,
        &t,
        &["install", "purelua"],
        "before-switch",
        Some(&fifo),
    );
    let mut gc = s
        .cmd(["gc"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gc");
    let mut gc_err = std::io::BufReader::new(gc.stderr.take().expect("stderr"));
    let mut line = String::new();
    gc_err.read_line(&mut line).expect("gc stderr");
    assert!(
        line.contains("waiting for exclusive use of the store"),
        "{line}"
    );
    // Let the install finish; then GC runs and must free nothing it made.
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open fifo"),
    );
    assert!(installer.wait().expect("installer").success());
    let out = gc.wait_with_output().expect("gc output");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "",
        "GC freed items of the install in flight"
    );
    assert_eq!(lua_ok(&s, &t, "print(require('purelua').version)"), "2.0");
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn readers_never_see_a_missing_module_or_a_mixed_generation() {
    if !need(&["lua5.4"]) {
        return;
    }
    use std::io::BufRead;
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "purelua", "1.0"]);
    ok(&s, &repo, &t, &["install", "purelua", "2.0"]);
    let stop = s.tmp.path().join("stop");
    let reader_code = format!(
        r#"
local tree, stop = "{tree}", "{stop}"
local seen, n = {{}}, 0
io.write("ready\n") io.flush()
while not io.open(stop) do
  n = n + 1
  package.loaded["purelua"], package.loaded["purelua.util"] = nil, nil
  local ok, p = pcall(require, "purelua")
  if not ok then io.stderr:write("missing module: ", tostring(p), "\n") os.exit(1) end
  seen[p.version] = true
  -- One resolution of `current`, then both files from that generation.
  local gen = io.popen("readlink -f " .. tree .. "/.rockstore/current"):read("l")
  local dir = gen .. "/share/lua/5.4/purelua/"
  local a = assert(loadfile(dir .. "util.lua"))().version
  local init = assert(io.open(dir .. "init.lua")):read("a")
  if not init:find('version = "' .. a .. '"', 1, true) then
    io.stderr:write("mixed generation: util ", a, " with init ", init, "\n") os.exit(1)
  end
end
local versions = {{}}
for v in pairs(seen) do versions[#versions + 1] = v end
table.sort(versions)
print(n, table.concat(versions, ","))
"#,
        tree = t.display(),
        stop = stop.display()
    );
    let script = format!(
        "eval \"$('{}' --store '{}' --lua-version 5.4 --tree '{}' path)\" && exec lua5.4 -e \"$CODE\"",
        crate::support::bin(),
        s.store().display(),
        t.display()
    );
    let mut reader = s
        .program("sh")
        .args(["-c", &script])
        .env("CODE", &reader_code)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("reader");
    let mut out = std::io::BufReader::new(reader.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("ready");
    assert_eq!(line.trim(), "ready");
    for i in 0..60 {
        let n = if i % 2 == 0 { "1" } else { "2" };
        ok(&s, &repo, &t, &["switch-generation", n]);
    }
    std::fs::write(&stop, "").expect("stop");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("result");
    let status = reader.wait().expect("reader exit");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut reader.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(status.success(), "{err}");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    assert_eq!(
        fields.get(1),
        Some(&"1.0,2.0"),
        "the reader saw both generations: {rest}"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn keep_only_deps_purge_which_show_path_why_and_delete_generations() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    // --only-deps installs the closure without the rock.
    ok(&s, &repo, &t, &["install", "appx", "--only-deps"]);
    let listed = ok(&s, &repo, &t, &["list", "--porcelain"]);
    assert!(!listed.contains("appx"), "{listed}");
    assert!(
        listed.contains("purelua\t2.0-1") && listed.contains("cmulti\t1.0-1"),
        "{listed}"
    );
    // --keep keeps both versions; the newest owns the plain file name.
    ok(&s, &repo, &t, &["install", "purelua", "1.0", "--keep"]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&s, &repo, &t, &["list", "--json"])).expect("json");
    let versions: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .filter(|r| r["name"] == "purelua")
        .map(|r| r["version"].as_str().expect("v"))
        .collect();
    assert_eq!(
        versions,
        ["2.0-1", "1.0-1"],
        "newest first, as luarocks list"
    );
    assert_eq!(lua_ok(&s, &t, "print(require('purelua').version)"), "2.0");
    assert!(t
        .join("share/lua/5.4/purelua_1_0_1-purelua/init.lua")
        .exists());
    // Without --keep, installing replaces other versions.
    ok(&s, &repo, &t, &["install", "purelua", "1.0", "--force"]);
    let listed = ok(&s, &repo, &t, &["list", "--porcelain"]);
    assert!(!listed.contains("2.0-1"), "{listed}");
    // which, show, path.
    let which = ok(&s, &repo, &t, &["which", "purelua.util"]);
    assert!(which.contains("share/lua/5.4/purelua/util.lua"), "{which}");
    assert!(which.contains("provided by purelua 1.0-1"), "{which}");
    let show = ok(&s, &repo, &t, &["show", "purelua"]);
    assert!(
        show.contains("purelua 1.0-1 - Pure Lua fixture") && show.contains("License:      \tMIT"),
        "{show}"
    );
    // `path` with --tree: that tree first, then every configured one, as
    // luarocks prints it with the same (Debian-style, unnamed) trees.
    let etc = s.tmp.path().join("etc-luarocks");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::write(
        etc.join("config-5.4.lua"),
        "rocks_trees = {\n   home..[[/.luarocks]],\n   [[/usr/local]]\n}\n",
    )
    .expect("config");
    for flag in ["--lr-path", "--lr-cpath", "--lr-bin"] {
        let ours = ok(&s, &repo, &t, &["path", flag]);
        let theirs = ours_or_luarocks(&s, "theirs")
            .arg("--tree")
            .arg(&t)
            .args(["path", flag])
            .output()
            .expect("luarocks path");
        assert_eq!(ours.trim(), text(&theirs.stdout).trim(), "path {flag}");
        assert!(ours.starts_with(&format!("{}/", t.display())), "{ours}");
    }
    // The shell lines, with /usr/local (which lua5.4's own path names) as
    // the system tree and with the environment's LUA_PATH_5_4, as
    // LuaRocks under lua5.4 (Debian's `luarocks-5.4`) prints them.
    let script = crate::support::luarocks_script();
    for env in [None, Some(("LUA_PATH_5_4", "/from/env/?.lua;;"))] {
        for args in [&["path"][..], &["path", "--append"], &["path", "--lr-path"]] {
            let with_env = |mut cmd: std::process::Command| {
                if let Some((k, v)) = env {
                    cmd.env(k, v);
                }
                cmd.arg("--tree").arg(&t).args(args).output().expect("path")
            };
            let mut ours = s.cmd(["--lua-version", "5.4"]);
            ours.env("LUAROCKS_SYSCONFDIR", &etc);
            let ours = with_env(ours);
            let mut theirs = s.program("lua5.4");
            theirs.arg(&script).args(["--lua-version", "5.4"]);
            let theirs = with_env(theirs);
            assert_eq!(text(&ours.stdout), text(&theirs.stdout), "{args:?} {env:?}");
            if env.is_some() && args.len() == 1 {
                assert!(
                    text(&ours.stdout).starts_with("export LUA_PATH_5_4='")
                        && text(&ours.stdout).contains(";/from/env/?.lua;"),
                    "{}",
                    text(&ours.stdout)
                );
            }
        }
    }
    std::fs::remove_file(etc.join("config-5.4.lua")).expect("rm config");
    // store why: tree, generation, profile, rock.
    let item = json
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["name"] == "cmulti")
        .map(|r| r["item"].as_str().expect("item").to_owned())
        .expect("cmulti");
    let why = s.ok(["store", "why", &item]);
    assert!(
        why.starts_with(&format!("{} generation", t.display())),
        "{why}"
    );
    assert!(
        why.contains("-profile-") && why.trim_end().ends_with(&item),
        "{why}"
    );
    // purge: an empty generation; rollback restores.
    ok(&s, &repo, &t, &["purge"]);
    assert_eq!(ok(&s, &repo, &t, &["list", "--porcelain"]), "");
    ok(&s, &repo, &t, &["rollback"]);
    assert_eq!(lua_ok(&s, &t, "print(require('purelua').version)"), "1.0");
    // Generations: 1 only-deps, 2 keep, 3 force, 4 purge; current is 3.
    // --keep 2 keeps the newest two (3 and 4); the current is never deleted.
    ok(&s, &repo, &t, &["delete-generations", "--keep", "2"]);
    let after: serde_json::Value =
        serde_json::from_str(&ok(&s, &repo, &t, &["generations", "--json"])).expect("json");
    let numbers: Vec<u64> = after
        .as_array()
        .expect("array")
        .iter()
        .map(|g| g["number"].as_u64().expect("n"))
        .collect();
    assert_eq!(numbers, [3, 4]);
    let out = rs(&s, &repo, &t, &["delete-generations", "3"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("generation 3 is current"),
        "{}",
        text(&out.stderr)
    );
    ok(&s, &repo, &t, &["delete-generations", "4"]);
    assert_eq!(lua_ok(&s, &t, "print(require('purelua').version)"), "1.0");
}

#[test]
fn rocks_provided_in_config_are_never_installed() {
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    let config = s.tmp.path().join("config.lua");
    std::fs::write(&config, "rocks_provided = { dmdep = '1.0-1' }\n").expect("config");
    let run = |args: &[&str]| {
        let mut cmd = s.cmd(["--only-server", &repo.server.base, "--lua-version", "5.4"]);
        cmd.arg("--tree")
            .arg(&t)
            .args(args)
            .env("LUAROCKS_CONFIG", &config);
        cmd.output().expect("run")
    };
    let out = run(&["install", "dmtop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&run(&["list", "--porcelain"]).stdout);
    assert_eq!(listed.lines().count(), 1, "only dmtop: {listed}");
    let out = run(&["install", "dmdep"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Rock dmdep 1.0-1 is already provided"),
        "{}",
        text(&out.stderr)
    );
}

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

#[test]
fn config_shows_what_luarocks_config_files_and_flags_say() {
    let s = Sandbox::new();
    let config = s.tmp.path().join("config.lua");
    std::fs::write(
        &config,
        "rocks_trees = { { name = 'user', root = home .. '/lr' }, { name = 'system', root = '/opt/lr' } }\n\
         deps_mode = 'order'\nvariables = { CFLAGS = '-O3' }\nrocks_servers = { 'http://127.0.0.1:9/repo' }\n",
    )
    .expect("config");
    let run = |args: &[&str]| {
        let out = s
            .cmd(["--lua-version", "5.4"])
            .args(args)
            .env("LUAROCKS_CONFIG", &config)
            .output()
            .expect("config");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let json: serde_json::Value = serde_json::from_str(&run(&["config", "--json"])).expect("json");
    let home = s.tmp.path().join("home");
    assert_eq!(json["deps_mode"], "order");
    assert_eq!(json["variables"]["CFLAGS"], "-O3");
    assert_eq!(json["rocks_servers"][0], "http://127.0.0.1:9/repo");
    assert_eq!(json["target_tree"], "/opt/lr", "the last tree, as LuaRocks");
    assert_eq!(
        json["config_files"]["user"]["file"],
        config.display().to_string()
    );
    assert_eq!(json["config_files"]["user"]["found"], true);
    // A table is printed as LuaRocks' persist writes it, with no line
    // break after it; a string alone on its line.
    assert_eq!(
        run(&["config", "rocks_trees"]),
        format!(
            "{{\n   {{\n      name = \"user\",\n      root = \"{}/lr\"\n   }},\n   {{\n      name = \"system\",\n      root = \"/opt/lr\"\n   }}\n}}",
            home.display()
        )
    );
    assert_eq!(run(&["config", "rocks_trees[2].root"]), "/opt/lr\n");
    assert_eq!(run(&["config", "variables.CFLAGS"]), "-O3\n");
    assert_eq!(
        run(&["--deps-mode", "all", "config", "deps_mode"]).trim(),
        "all"
    );
    // --local is for users' homes; LuaRocks 3.8 refuses it when $USER is
    // root, whatever the uid, and takes the home tree otherwise.
    let local = |user: Option<&str>| {
        let mut cmd = s.cmd(["--lua-version", "5.4", "--local", "config", "target_tree"]);
        cmd.env("LUAROCKS_CONFIG", &config);
        if let Some(u) = user {
            cmd.env("USER", u);
        }
        cmd.output().expect("config")
    };
    let out = local(Some("root"));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("meant for operating in a user's home directory"));
    // `cfg.home_tree`, whatever rocks_trees calls `user` (Debian's
    // luarocks 3.8 answers `--local config deploy_lua_dir` under
    // ~/.luarocks with this config too).
    let out = local(None);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{}/.luarocks", home.display())
    );
}

/// `config KEY VALUE`, `--unset` and `--scope` against Debian's
/// `luarocks config`, as a script would run them one after another: each
/// tool in its own HOME and system config directory, the same exit code,
/// stdout and files after every step.
#[test]
#[cfg_attr(not(has_luarocks), ignore = "needs luarocks")]
fn config_writes_and_unsets_keys_in_the_file_its_scope_names_as_luarocks() {
    if !need(&["luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let steps: &[&[&str]] = &[
        &["config", "variables.FOO_DIR", "/opt/foo"],
        &["config", "deps_mode", "all", "--scope", "user"],
        &["config", "local_by_default", "false"],
        &["config", "cache_timeout", "120"],
        &["config", "rocks_trees[1].root", "/srv/lr"],
        &["config", "variables.FOO_DIR", "--unset"],
        &["config", "--scope", "system", "variables.BAR", "x y"],
        &["config", "lua_version", "5.1", "--scope", "user"],
        &["config", "--scope", "project", "deps_mode", "one"],
        &["config", "variables.FOO_DIR"],
    ];
    // Per tool, per step: exit code, stdout, stderr, the config files.
    type Step = (Option<i32>, String, String, String);
    let mut seen: Vec<Vec<Step>> = Vec::new();
    for side in ["ours", "theirs"] {
        let base = s.dir(side);
        let home = base.join("home");
        let etc = base.join("etc");
        let work = base.join("work");
        for d in [&home.join(".luarocks"), &etc, &work] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(
            home.join(".luarocks/config-5.4.lua"),
            "variables = { CFLAGS = '-O2' }\nrocks_trees = { home .. '/.luarocks' }\n",
        )
        .expect("user config");
        let mut rows = Vec::new();
        for args in steps {
            let mut cmd = if side == "ours" {
                s.cmd::<[&str; 0], &str>([])
            } else {
                s.program("luarocks")
            };
            let out = cmd
                .args(["--lua-version", "5.4"])
                .args(*args)
                .env("HOME", &home)
                .env("LUAROCKS_SYSCONFDIR", &etc)
                .current_dir(&work)
                .output()
                .expect("config");
            let files: String = [
                home.join(".luarocks/config-5.4.lua"),
                home.join(".luarocks/default-lua-version.lua"),
                home.join(".luarocks/config-5.1.lua"),
                etc.join("config-5.4.lua"),
            ]
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--\n");
            let shown = |t: String| t.replace(&base.display().to_string(), "BASE");
            let code = out.status.code();
            // Only success is compared on stderr's first word: the tools
            // word their errors alike but not letter for letter.
            let err = if code == Some(0) {
                shown(text(&out.stderr))
            } else {
                String::new()
            };
            rows.push((code, shown(text(&out.stdout)), err, shown(files)));
        }
        seen.push(rows);
    }
    for (n, args) in steps.iter().enumerate() {
        if n == 2 {
            // A difference kept: LuaRocks 3.8 writes the file, then
            // crashes printing the boolean with `%q` (exit 99, "Wrote"
            // and nothing more); rockstore writes the same file and says
            // what it wrote.
            assert_eq!(seen[1][n].0, Some(99), "luarocks' crash is as recorded");
            assert_eq!(seen[0][n].0, Some(0));
            assert_eq!(seen[0][n].3, seen[1][n].3, "{args:?}: the same file");
            continue;
        }
        if n == 4 {
            // Another: `rocks_trees[1]` is a string here; LuaRocks crashes
            // indexing it (exit 99), rockstore refuses ("Unknown entry").
            // Neither touches the file.
            assert_eq!(seen[1][n].0, Some(99), "luarocks' crash is as recorded");
            assert_eq!(seen[0][n].0, Some(1));
            assert_eq!(seen[0][n].3, seen[1][n].3, "{args:?}: the same file");
            continue;
        }
        assert_eq!(seen[0][n], seen[1][n], "{args:?}: ours, then luarocks'");
    }
    assert!(
        seen[0][0].3.contains("FOO_DIR = \"/opt/foo\""),
        "{}",
        seen[0][0].3
    );
    assert_eq!(seen[0][8].0, Some(1), "no project: refused");
}

#[test]
fn bin_scripts_are_wrapped_unless_the_rockspec_or_config_says_not() {
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "purelua"]);
    ok(&s, &repo, &t, &["install", "nowrap"]);
    let wrapped = std::fs::read_to_string(t.join("bin/purelua-hello")).expect("wrapper");
    assert!(wrapped.starts_with("#!/bin/sh"), "{wrapped}");
    assert!(
        wrapped.contains("luarocks.loader") && wrapped.contains("purelua-hello"),
        "{wrapped}"
    );
    let unwrapped = std::fs::read_to_string(t.join("bin/nowrap-cli")).expect("script");
    assert_eq!(unwrapped, "#!/usr/bin/env lua\nprint(\"run directly\")\n");
    // The config's wrap_bin_scripts decides over every rockspec, either way.
    for (setting, rock, wrapped) in [("false", "purelua", false), ("true", "nowrap", true)] {
        let config = s.tmp.path().join(format!("wrap-{setting}.lua"));
        std::fs::write(&config, format!("wrap_bin_scripts = {setting}\n")).expect("config");
        let t = s.tmp.path().join(format!("t-{setting}"));
        let out = s
            .cmd([
                "--lua-version",
                "5.4",
                "--only-server",
                &repo.server.base,
                "--tree",
            ])
            .arg(&t)
            .args(["install", rock])
            .env("LUAROCKS_CONFIG", &config)
            .output()
            .expect("install");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let script = if rock == "purelua" {
            "purelua-hello"
        } else {
            "nowrap-cli"
        };
        let text = std::fs::read_to_string(t.join("bin").join(script)).expect("bin");
        assert_eq!(
            text.contains("luarocks.loader"),
            wrapped,
            "wrap_bin_scripts = {setting}: {text}"
        );
    }
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

/// `hooks.post_install` runs after the rock is in the tree, in the working
/// directory, with `$(PREFIX)` the rock's directory in the tree, as in
/// Debian's LuaRocks; a failing hook undoes the install; `hooks_enabled =
/// false` refuses the rock before anything is built.
#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn post_install_hooks_run_like_luarocks_and_a_failing_one_is_undone() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let run = |side: &str, tree: &Path, args: &[&str]| {
        let mut cmd = ours_or_luarocks(&s, side);
        cmd.current_dir(s.dir(&format!("work-{side}")))
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(tree)
            .args(args)
            .output()
            .expect("run")
    };
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(format!("tree-{side}"));
        let out = run(side, &tree, &["install", "hooked", "1.0"]);
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let said = std::fs::read_to_string(s.dir(&format!("work-{side}")).join("hook-ran.txt"))
            .expect("the hook ran in the working directory");
        assert_eq!(
            said.trim(),
            tree.join("lib/luarocks/rocks-5.4/hooked/1.0-1")
                .display()
                .to_string(),
            "{side}"
        );
        // 2.0's hook fails: the install is undone, 1.0 is what loads.
        let out = run(side, &tree, &["install", "hooked", "2.0"]);
        assert!(
            !out.status.success(),
            "{side}: a failed hook fails the install"
        );
        assert!(
            text(&out.stdout).contains("hook-of-2.0"),
            "{side}: the hook ran"
        );
        assert_eq!(
            lua_ok(&s, &tree, "print(require('hooked').version)"),
            "1.0",
            "{side}"
        );
    }
    let tree = s.tmp.path().join("tree-ours");
    let out = run("ours", &tree, &["install", "hooked", "2.0"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("Failed running post_install hook of hooked 2.0-1")
            && err.contains("exited with status 3")
            && err.contains("back at generation 1"),
        "{err}"
    );
    let generations: serde_json::Value =
        serde_json::from_str(&ok(&s, &repo, &tree, &["generations", "--json"])).expect("json");
    assert_eq!(
        generations.as_array().map(Vec::len),
        Some(1),
        "the failed generations are gone: {generations}"
    );
    // hooks_enabled = false: refused before any build.
    let config = s.tmp.path().join("no-hooks.lua");
    std::fs::write(&config, "hooks_enabled = false\n").expect("config");
    let before = store_items(&s);
    let fresh = s.tmp.path().join("tree-no-hooks");
    let out = s
        .cmd([
            "--lua-version",
            "5.4",
            "--only-server",
            &repo.server.base,
            "--tree",
        ])
        .arg(&fresh)
        .args(["install", "hooked", "1.0"])
        .env("LUAROCKS_CONFIG", &config)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("blocked by the 'hooks_enabled' setting"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(store_items(&s), before, "nothing was built");
    assert!(!fresh.join(".rockstore/current").exists());
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
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn printing_commands_exit_quietly_on_a_closed_pipe_and_fail_on_a_full_disk() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let tree = s.tmp.path().join("tree");
    ok(&s, &repo, &tree, &["install", "purelua", "1.0"]);
    let commands: &[&[&str]] = &[
        &["list"],
        &["list", "--porcelain"],
        &["show", "purelua"],
        &["path"],
        &["generations"],
        &["config"],
        &["search", "purelua"],
        &["which", "purelua"],
        &["store", "ls"],
    ];
    for args in commands {
        let command = |stdout: std::process::Stdio| {
            let mut cmd = s.cmd(["--only-server", &repo.server.base, "--lua-version", "5.4"]);
            cmd.arg("--tree").arg(&tree).args(*args).stdout(stdout);
            cmd.output().expect("run")
        };
        // A reader that is gone before the first byte: every write fails.
        let (reader, writer) = rustix::pipe::pipe().expect("pipe");
        drop(reader);
        let out = command(std::process::Stdio::from(writer));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} on a closed pipe: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{}",
            text(&out.stderr)
        );
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = command(std::process::Stdio::from(full));
        assert_eq!(out.status.code(), Some(1), "{args:?} on /dev/full");
        assert!(
            text(&out.stderr).contains("cannot write to standard output: No space left"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn build_installs_like_luarocks_build_unless_no_install() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let (ours, theirs) = (s.tmp.path().join("ours"), s.tmp.path().join("theirs"));
    // Scripts that run `luarocks build NAME` expect the rock installed.
    ok(&s, &repo, &ours, &["build", "purelua", "1.0"]);
    let luarocks = s
        .program("luarocks")
        .args([
            "--lua-version",
            "5.4",
            "--only-server",
            &repo.server.base,
            "--tree",
        ])
        .arg(&theirs)
        .args(["build", "purelua", "1.0"])
        .output()
        .expect("luarocks");
    assert!(luarocks.status.success(), "{}", text(&luarocks.stderr));
    assert_eq!(luarocks_listing(&s, &ours), ["purelua 1.0-1"]);
    assert_eq!(luarocks_listing(&s, &ours), luarocks_listing(&s, &theirs));
    assert_eq!(
        lua_ok(&s, &ours, "print(require('purelua').version)"),
        "1.0"
    );
    // --no-install: the store only, the item's path on stdout.
    let other = s.tmp.path().join("other");
    let printed = ok(&s, &repo, &other, &["build", "--no-install", "upg", "1.0"]);
    let item = printed.lines().last().unwrap_or_default();
    assert!(
        Path::new(item.trim()).join("rock_manifest").exists(),
        "{item}"
    );
    assert!(!other.exists(), "--no-install must leave the tree alone");
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn nodeps_and_usage_errors_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut listings = Vec::new();
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        side_ok(&s, &repo, side, &tree, &["install", "appx", "--nodeps"]);
        listings.push(luarocks_listing(&s, &tree));
        // A flag neither tool knows: exit 1, as LuaRocks.
        let bad = ours_or_luarocks(&s, side)
            .args(["install", "--no-such-flag", "appx"])
            .output()
            .expect("bad flag");
        assert_eq!(bad.status.code(), Some(1), "{side}: {}", text(&bad.stderr));
    }
    assert_eq!(
        listings[0],
        ["appx 1.0-1"],
        "only the rock, no dependencies"
    );
    assert_eq!(listings[0], listings[1]);
}

#[test]
#[cfg_attr(not(has_luarocks), ignore = "needs luarocks")]
fn purge_needs_an_existing_tree_named_as_luarocks() {
    if !need(&["luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let missing = s.tmp.path().join("no-such-tree");
    for side in ["ours", "theirs"] {
        let none = ours_or_luarocks(&s, side)
            .arg("purge")
            .output()
            .expect("purge");
        assert_eq!(
            none.status.code(),
            Some(1),
            "{side}: {}",
            text(&none.stderr)
        );
        assert!(
            text(&none.stderr).contains("--tree argument is mandatory"),
            "{side}"
        );
        let gone = ours_or_luarocks(&s, side)
            .arg("--tree")
            .arg(&missing)
            .arg("purge")
            .output()
            .expect("purge");
        assert_eq!(
            gone.status.code(),
            Some(1),
            "{side}: {}",
            text(&gone.stderr)
        );
        assert!(text(&gone.stderr).contains("Directory not found"), "{side}");
        assert!(!missing.exists(), "{side} created the tree it was to purge");
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn no_command_prints_help_and_the_configuration_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let home_tree = s.tmp.path().join("home/.luarocks").display().to_string();
    for side in ["ours", "theirs"] {
        let out = ours_or_luarocks(&s, side).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{side}: {}", text(&out.stderr));
        let printed = text(&out.stdout);
        for wanted in [
            "install",
            "Configuration:",
            "Rocks trees in use:",
            &home_tree,
        ] {
            assert!(
                printed.contains(wanted),
                "{side}: no {wanted:?} in:\n{printed}"
            );
        }
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn a_downgrade_keeps_the_version_another_rock_needs_and_warns_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut listings = Vec::new();
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        let run = |args: &[&str]| side_ok(&s, &repo, side, &tree, args);
        run(&["install", "purelua", "2.0"]);
        run(&["install", "needsnew"]);
        let said = run(&["install", "purelua", "1.0"]);
        assert!(
            said.contains("Will not remove purelua 2.0-1") && said.contains("needsnew 1.0-1"),
            "{side}: {said}"
        );
        listings.push(luarocks_listing(&s, &tree));
    }
    assert_eq!(
        listings[0],
        ["needsnew 1.0-1", "purelua 2.0-1", "purelua 1.0-1"],
        "both versions stay"
    );
    assert_eq!(listings[0], listings[1]);
    // With --force the old version goes, as LuaRocks.
    let tree = s.tmp.path().join("ours");
    ok(&s, &repo, &tree, &["install", "purelua", "1.0", "--force"]);
    let list = ok(&s, &repo, &tree, &["list", "--porcelain"]);
    assert!(!list.contains("purelua\t2.0-1"), "{list}");
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn list_without_tree_covers_every_configured_tree_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let home_tree = s.tmp.path().join("home/.luarocks");
    let plain = s.tmp.path().join("plain");
    let etc = s.tmp.path().join("etc-luarocks");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::write(
        etc.join("config-5.4.lua"),
        format!(
            "rocks_trees = {{\n   home..[[/.luarocks]],\n   [[{}]]\n}}\n",
            plain.display()
        ),
    )
    .expect("config");
    // A profile tree of ours, and a plain tree Debian's luarocks made.
    ok(&s, &repo, &home_tree, &["install", "purelua", "1.0"]);
    side_ok(&s, &repo, "theirs", &plain, &["install", "upg", "2.0"]);
    for flags in [&["--porcelain"][..], &[][..]] {
        let mut outputs = Vec::new();
        for side in ["ours", "theirs"] {
            let out = ours_or_luarocks(&s, side)
                .arg("list")
                .args(flags)
                .output()
                .expect("list");
            assert!(out.status.success(), "{side}: {}", text(&out.stderr));
            outputs.push(text(&out.stdout));
        }
        assert_eq!(outputs[0], outputs[1], "list {flags:?}");
        assert!(outputs[0].contains("purelua") && outputs[0].contains("upg"));
    }
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_gcc, has_luarocks)),
    ignore = "needs lua5.4, gcc, luarocks"
)]
fn show_flags_and_version_print_what_luarocks_prints() {
    if !need(&["lua5.4", "gcc", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        for rock in [&["purelua", "1.0"][..], &["purelua", "2.0"], &["appx"]] {
            side_ok(
                &s,
                &repo,
                side,
                &tree,
                &[&["install", "--keep"][..], rock].concat(),
            );
        }
    }
    let flags = [
        "--home",
        "--modules",
        "--deps",
        "--build-deps",
        "--test-deps",
        "--rockspec",
        "--mversion",
        "--rock-tree",
        "--rock-namespace",
        "--rock-dir",
        "--rock-license",
        "--issues",
        "--labels",
    ];
    for rock in [
        &["appx"][..],
        &["cmulti"],
        &["purelua", "1.0"],
        &["purelua"],
    ] {
        for flag in flags {
            let shown = |side: &str| {
                let tree = s.tmp.path().join(side);
                let out = ours_or_luarocks(&s, side)
                    .arg("--tree")
                    .arg(&tree)
                    .arg("show")
                    .args(rock)
                    .arg(flag)
                    .output()
                    .expect("show");
                assert!(out.status.success(), "{side}: {}", text(&out.stderr));
                // The trees differ only by their own path.
                text(&out.stdout).replace(&tree.display().to_string(), "TREE")
            };
            assert_eq!(shown("ours"), shown("theirs"), "show {rock:?} {flag}");
        }
    }
    // The whole page, plain and porcelain.
    for rock in [
        &["appx"][..],
        &["cmulti"],
        &["purelua", "1.0"],
        &["purelua"],
    ] {
        for flags in [&[][..], &["--porcelain"]] {
            let shown = |side: &str| {
                let tree = s.tmp.path().join(side);
                let out = ours_or_luarocks(&s, side)
                    .arg("--tree")
                    .arg(&tree)
                    .arg("show")
                    .args(rock)
                    .args(flags)
                    .output()
                    .expect("show");
                assert!(out.status.success(), "{side}: {}", text(&out.stderr));
                text(&out.stdout).replace(&tree.display().to_string(), "TREE")
            };
            assert_eq!(shown("ours"), shown("theirs"), "show {rock:?} {flags:?}");
        }
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn external_deps_dirs_from_config_merge_over_the_defaults_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    s.system_config("5.4", "external_deps_dirs = { \"/opt/x\" }\n");
    let ours = text(
        &ours_or_luarocks(&s, "ours")
            .args(["config", "external_deps_dirs"])
            .output()
            .expect("ours")
            .stdout,
    );
    let theirs = text(
        &ours_or_luarocks(&s, "theirs")
            .args(["config", "external_deps_dirs"])
            .output()
            .expect("theirs")
            .stdout,
    );
    // Both print the Lua table, byte for byte.
    assert_eq!(ours, theirs);
    let listed: Vec<&str> = theirs.split('"').skip(1).step_by(2).collect();
    assert_eq!(listed, ["/opt/x", "/usr", "/"]);
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_gcc, has_luarocks)),
    ignore = "needs lua5.4, gcc, luarocks"
)]
fn a_missing_external_dependency_stops_the_install_before_any_dependency_is_built() {
    if !need(&["lua5.4", "gcc", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        let out = ours_or_luarocks(&s, side)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(&tree)
            .args(["install", "extfirst"])
            .output()
            .expect("install");
        assert!(!out.status.success(), "{side} installed it");
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            said.contains("Could not find header file for NOSUCH"),
            "{side}: {said}"
        );
        assert!(
            luarocks_listing(&s, &tree).is_empty(),
            "{side}: cmulti was installed first"
        );
    }
    assert!(
        !store_items(&s).iter().any(|i| i.contains("-cmulti-")),
        "cmulti was built before the missing header was noticed: {:?}",
        store_items(&s)
    );
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_gcc, has_luarocks)),
    ignore = "needs lua5.4, gcc, luarocks"
)]
fn list_outdated_and_a_version_filter_as_luarocks() {
    if !need(&["lua5.4", "gcc", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        for rock in [&["upg", "1.0"][..], &["cmulti"], &["purelua", "1.0"]] {
            side_ok(&s, &repo, side, &tree, &[&["install"][..], rock].concat());
        }
    }
    for args in [
        &["list", "--outdated"][..],
        &["list", "--outdated", "--porcelain"],
        &["list", "purelua", "1.0", "--porcelain"],
        &["list", "purelua", "2.0", "--porcelain"],
    ] {
        let shown = |side: &str| {
            let tree = s.tmp.path().join(side);
            let out = ours_or_luarocks(&s, side)
                .args(["--only-server", &repo.server.base, "--tree"])
                .arg(&tree)
                .args(args)
                .output()
                .expect("list");
            assert!(out.status.success(), "{side}: {}", text(&out.stderr));
            text(&out.stdout).replace(&tree.display().to_string(), "TREE")
        };
        let ours = shown("ours");
        assert_eq!(ours, shown("theirs"), "{args:?}");
        if args.contains(&"--outdated") {
            assert!(ours.contains("upg") && ours.contains("purelua"), "{ours}");
            assert!(!ours.contains("cmulti"), "{ours}");
        }
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn purge_old_versions_keeps_the_newest_of_each_rock_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut listings = Vec::new();
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        let run = |args: &[&str]| side_ok(&s, &repo, side, &tree, args);
        run(&["install", "purelua", "2.0"]);
        run(&["install", "needsnew"]);
        run(&["install", "purelua", "1.0", "--keep"]);
        run(&["install", "upg", "1.0"]);
        run(&["install", "upg", "2.0", "--keep"]);
        assert_eq!(luarocks_listing(&s, &tree).len(), 5, "{side}");
        run(&["purge", "--old-versions"]);
        listings.push(luarocks_listing(&s, &tree));
    }
    assert_eq!(
        listings[0],
        ["needsnew 1.0-1", "purelua 2.0-1", "upg 2.0-1"]
    );
    assert_eq!(listings[0], listings[1]);
    assert_eq!(
        lua_ok(
            &s,
            &s.tmp.path().join("ours"),
            "print(require('needsnew').needs)"
        ),
        "2.0"
    );
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn path_append_puts_the_trees_after_luas_own_paths() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let tree = s.tmp.path().join("tree");
    ok(&s, &repo, &tree, &["install", "purelua", "1.0"]);
    let script = format!(
        "eval \"$('{}' --store '{}' --lua-version 5.4 --tree '{}' path --append)\" && \
         exec lua5.4 -e \"print(require('purelua').version) print(package.path:find('{}', 1, true) > 1)\"",
        crate::support::bin(),
        s.store().display(),
        tree.display(),
        tree.display()
    );
    let out = s.program("sh").args(["-c", &script]).output().expect("sh");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "1.0\ntrue\n",
        "the tree loads, after Lua's own paths"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn pack_name_version_packs_the_installed_rock_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut packed = Vec::new();
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        for version in ["1.0", "2.0"] {
            side_ok(
                &s,
                &repo,
                side,
                &tree,
                &["install", "--keep", "purelua", version],
            );
        }
        let dir = s.dir(&format!("pack-{side}"));
        let out = ours_or_luarocks(&s, side)
            .arg("--tree")
            .arg(&tree)
            .args(["pack", "purelua", "1.0-1"])
            .current_dir(&dir)
            .output()
            .expect("pack");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let rock = dir.join("purelua-1.0-1.all.rock");
        let file = std::fs::File::open(&rock).unwrap_or_else(|e| panic!("{side}: {e}"));
        let mut zip = zip::ZipArchive::new(file).expect("zip");
        let mut names: Vec<String> = (0..zip.len())
            .map(|i| zip.by_index(i).expect("entry").name().to_owned())
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.sort();
        let rockspec = {
            let mut entry = zip.by_name("purelua-1.0-1.rockspec").expect("rockspec");
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("read");
            text
        };
        assert!(
            rockspec.contains("version = \"1.0-1\""),
            "{side}: {rockspec}"
        );
        packed.push(names);
    }
    assert_eq!(packed[0], packed[1], "the same files in both rocks");
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn no_doc_deps_only_and_force_fast_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    for side in ["ours", "theirs"] {
        let with = s.tmp.path().join(format!("docs-{side}"));
        let without = s.tmp.path().join(format!("nodocs-{side}"));
        side_ok(&s, &repo, side, &with, &["install", "purelua"]);
        side_ok(
            &s,
            &repo,
            side,
            &without,
            &["install", "purelua", "--no-doc"],
        );
        let doc = |tree: &Path| tree.join("lib/luarocks/rocks-5.4/purelua/2.0-1/doc");
        assert!(doc(&with).is_dir(), "{side}: docs by default");
        assert!(!doc(&without).exists(), "{side}: --no-doc");
        assert_eq!(
            luarocks_listing(&s, &without),
            ["purelua 2.0-1"],
            "{side}: the rock is installed"
        );
        // --deps-only: needsnew's dependency, not needsnew.
        let deps = s.tmp.path().join(format!("deps-{side}"));
        side_ok(
            &s,
            &repo,
            side,
            &deps,
            &["install", "needsnew", "--deps-only"],
        );
        assert_eq!(luarocks_listing(&s, &deps), ["purelua 2.0-1"], "{side}");
        // --force-fast reinstalls, as --force.
        side_ok(
            &s,
            &repo,
            side,
            &deps,
            &["install", "purelua", "--force-fast"],
        );
        assert_eq!(luarocks_listing(&s, &deps), ["purelua 2.0-1"], "{side}");
    }
    // --verify without a signature on the server: nothing is installed
    // unverified (build.rs checks good and bad signatures against LuaRocks).
    let tree = s.tmp.path().join("verify");
    let out = rs(&s, &repo, &tree, &["install", "purelua", "--verify"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("signature not verified"));
    assert!(!tree.join("lib").exists());
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn check_lua_versions_reports_what_other_luas_offer_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    // A server whose only rock is for Lua 5.1.
    let dir = s.dir("lua51-only");
    std::fs::write(
        dir.join("manifest-5.4"),
        "commands = {}\nmodules = {}\nrepository = {}\n",
    )
    .expect("manifest");
    std::fs::write(
        dir.join("manifest-5.1"),
        "commands = {}\nmodules = {}\nrepository = { only51 = { ['1.0-1'] = { { arch = 'rockspec' } } } }\n",
    )
    .expect("manifest");
    let server = crate::rocks_server::HttpServer::start(dir);
    for (flag, line) in [
        (
            Some("--check-lua-versions"),
            "only51 supports only Lua 5.1 but not Lua 5.4.",
        ),
        (
            None,
            "To check if it is available for other Lua versions, use --check-lua-versions.",
        ),
    ] {
        let mut stdouts = Vec::new();
        for side in ["ours", "theirs"] {
            let tree = s.tmp.path().join(format!("t-{side}"));
            let out = ours_or_luarocks(&s, side)
                .args(["--only-server", &server.base, "--tree"])
                .arg(&tree)
                .args(["install", "only51"])
                .args(flag)
                .output()
                .expect("run");
            assert_eq!(out.status.code(), Some(1), "{side} {flag:?}");
            let err = text(&out.stderr);
            assert!(err.contains(line), "{side} {flag:?}: {err}");
            stdouts.push(text(&out.stdout));
        }
        assert_eq!(
            stdouts[0], stdouts[1],
            "{flag:?}: what each prints on stdout"
        );
    }
}

#[test]
#[cfg_attr(
    not(all(has_lua5_1, has_lua5_4, has_luarocks)),
    ignore = "needs lua5.1, lua5.4, luarocks"
)]
fn the_default_lua_is_the_one_debians_luarocks_runs_under() {
    if !need(&["lua5.1", "lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let asked = |program: &str| {
        let out = s
            .program(program)
            .args(["config", "lua_version"])
            .output()
            .expect("config");
        assert!(out.status.success(), "{program}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    let theirs = asked("luarocks");
    assert_eq!(asked(crate::support::bin()), theirs);
    // With lua5.1 and lua5.4 both installed, lua-any runs luarocks on 5.1.
    assert_eq!(theirs, "5.1");
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_luarocks, has_git)),
    ignore = "needs lua5.4, luarocks, git"
)]
fn branch_overrides_the_rockspecs_source_branch_as_luarocks() {
    if !need(&["lua5.4", "luarocks", "git"]) {
        return;
    }
    let s = Sandbox::new();
    let _repo = Repo::new(s.tmp.path());
    // The fixture repository gains a branch with other contents.
    let git_repo = s.tmp.path().join("gitrock.git");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&git_repo)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["checkout", "-q", "-b", "other"]);
    std::fs::write(
        git_repo.join("gitrock.lua"),
        "return { from = 'other branch' }\n",
    )
    .expect("edit");
    git(&["commit", "-q", "-am", "other"]);
    git(&["checkout", "-q", "-"]);
    let spec = s.tmp.path().join("gitrock-scm-1.rockspec");
    std::fs::write(
        &spec,
        format!(
            "package = 'gitrock'\nversion = 'scm-1'\nsource = {{ url = 'git+file://{}' }}\n\
             build = {{ type = 'builtin', modules = {{ gitrock = 'gitrock.lua' }} }}\n",
            git_repo.display()
        ),
    )
    .expect("rockspec");
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(format!("branch-{side}"));
        let out = ours_or_luarocks(&s, side)
            .arg("--tree")
            .arg(&tree)
            .arg("build")
            .arg(&spec)
            .args(["--branch", "other"])
            .output()
            .expect("build");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let module = std::fs::read_to_string(tree.join("share/lua/5.4/gitrock.lua"))
            .expect("installed module");
        assert!(module.contains("other branch"), "{side}: {module}");
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn doc_lists_and_shows_docs_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let trees: Vec<PathBuf> = ["ours", "theirs"]
        .iter()
        .map(|side| {
            let tree = s.tmp.path().join(format!("doc-{side}"));
            side_ok(&s, &repo, side, &tree, &["install", "purelua"]);
            tree
        })
        .collect();
    for args in [
        &["doc", "purelua", "--list"][..],
        &["doc", "purelua", "--list", "--porcelain"],
        &["doc", "purelua"],
        &["doc", "purelua", "--home"],
        &["doc", "nosuchrock"],
    ] {
        let mut seen = Vec::new();
        for (side, tree) in ["ours", "theirs"].iter().zip(&trees) {
            let out = ours_or_luarocks(&s, side)
                .arg("--tree")
                .arg(tree)
                .args(args)
                .output()
                .expect("doc");
            // Each side names its own tree; the rest must agree.
            let stdout = text(&out.stdout).replace(&tree.display().to_string(), "TREE");
            seen.push((out.status.code(), stdout));
        }
        assert_eq!(seen[0], seen[1], "{args:?}");
    }
}

#[test]
fn completion_scripts_complete_commands_and_flags() {
    let s = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = s
            .bare_cmd()
            .args(["completion", shell])
            .output()
            .expect("completion");
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("install"), "{shell}");
    }
    if !need(&["bash"]) {
        return;
    }
    // Sourced in bash, the script completes a command and an install flag.
    let complete = |words: &str| {
        let script = format!(
            "source <('{}' completion bash); COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); \
             _rockstore rockstore \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; echo \"${{COMPREPLY[@]}}\"",
            crate::support::bin()
        );
        let out = s
            .program("bash")
            .args(["-c", &script])
            .output()
            .expect("bash");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(complete("rockstore ins").trim(), "install");
    assert!(complete("rockstore install --dry").contains("--dry-run"));
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

/// Namespaced rocks (`user/rock`, `--namespace`): found in each server's
/// `manifests/<user>/`, installed with a `rock_namespace` file in their rock
/// directory, as Debian's `luarocks` does; a rockspec may depend on one.
#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn namespaced_rocks_install_from_the_namespace_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let root = s.dir("nsrepo");
    let server = crate::rocks_server::HttpServer::start(root.clone());
    let ns = root.join("manifests/alice");
    std::fs::create_dir_all(&ns).expect("ns dir");
    let src = s.dir("nsrock-1.0");
    std::fs::write(src.join("nsrock.lua"), "return 'from alice'\n").expect("module");
    std::fs::write(
        ns.join("nsrock-1.0.tar.gz"),
        crate::rocks_server::tarball(&src, "nsrock-1.0"),
    )
    .expect("tarball");
    let spec = |name: &str, deps: &str, base: &str| {
        format!(
            "rockspec_format = '3.0'\npackage = '{name}'\nversion = '1.0-1'\nsource = {{ url = '{base}/{name}-1.0.tar.gz' }}\n\
             dependencies = {{ {deps} }}\nbuild = {{ type = 'builtin', modules = {{ {name} = '{name}.lua' }} }}\n"
        )
    };
    std::fs::write(
        ns.join("nsrock-1.0-1.rockspec"),
        spec("nsrock", "", &format!("{}/manifests/alice", server.base)),
    )
    .expect("spec");
    let manifest = |name: &str| {
        format!(
            "commands = {{}}\nmodules = {{}}\nrepository = {{\n   {name} = {{\n      [\"1.0-1\"] = {{\n         {{\n            arch = \"rockspec\"\n         }}\n      }}\n   }}\n}}\n"
        )
    };
    std::fs::write(ns.join("manifest-5.4"), manifest("nsrock")).expect("manifest");
    let top = s.dir("nstop-1.0");
    std::fs::write(top.join("nstop.lua"), "return require('nsrock')\n").expect("top");
    std::fs::write(
        root.join("nstop-1.0.tar.gz"),
        crate::rocks_server::tarball(&top, "nstop-1.0"),
    )
    .expect("tarball");
    std::fs::write(
        root.join("nstop-1.0-1.rockspec"),
        spec("nstop", "'alice/nsrock >= 1.0'", &server.base),
    )
    .expect("spec");
    std::fs::write(root.join("manifest-5.4"), manifest("nstop")).expect("manifest");

    let rows: &[(&str, &[&str])] = &[
        ("ns/name", &["install", "alice/nsrock"]),
        (
            "--namespace",
            &["install", "--namespace", "alice", "nsrock"],
        ),
        ("a namespaced dependency", &["install", "nstop"]),
    ];
    for (what, args) in rows {
        let mut seen = Vec::new();
        for side in ["ours", "theirs"] {
            let tree = s
                .tmp
                .path()
                .join(format!("ns-{}-{side}", what.replace([' ', '/'], "-")));
            let out = ours_or_luarocks(&s, side)
                .args(["--only-server", &server.base, "--tree"])
                .arg(&tree)
                .args(*args)
                .output()
                .expect("install");
            assert!(out.status.success(), "{what} {side}: {}", text(&out.stderr));
            let listed = text(
                &s.program("luarocks")
                    .args(["--lua-version", "5.4", "--tree"])
                    .arg(&tree)
                    .args(["list", "--porcelain"])
                    .output()
                    .expect("list")
                    .stdout,
            );
            let namespace = std::fs::read_to_string(
                tree.join("lib/luarocks/rocks-5.4/nsrock/1.0-1/rock_namespace"),
            )
            .unwrap_or_default();
            let loaded = lua_ok(&s, &tree, "print((require('nsrock')))");
            seen.push((
                listed.replace(&tree.display().to_string(), "TREE"),
                namespace,
                loaded,
            ));
        }
        assert_eq!(seen[0], seen[1], "{what}: ours, then luarocks'");
        assert_eq!(seen[0].1, "alice", "{what}");
        assert_eq!(seen[0].2, "from alice", "{what}");
    }
    // download, by NS/ROCK and by --namespace.
    for args in [
        &["download", "--rockspec", "alice/nsrock"][..],
        &["download", "--rockspec", "--namespace", "alice", "nsrock"][..],
    ] {
        let mut got = Vec::new();
        for side in ["ours", "theirs"] {
            let dir = s.dir(&format!("ns-dl-{}-{side}", args.len()));
            let out = ours_or_luarocks(&s, side)
                .args(["--only-server", &server.base])
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("download");
            assert!(
                out.status.success(),
                "{args:?} {side}: {}",
                text(&out.stderr)
            );
            got.push(std::fs::read(dir.join("nsrock-1.0-1.rockspec")).expect("downloaded"));
        }
        assert_eq!(got[0], got[1], "{args:?}");
    }
    // search, by NS/ROCK and by --namespace: the same stdout.
    for args in [
        &["search", "alice/nsrock"][..],
        &["search", "--namespace", "alice", "nsrock", "--porcelain"][..],
    ] {
        let said: Vec<String> = ["ours", "theirs"]
            .iter()
            .map(|side| {
                let out = ours_or_luarocks(&s, side)
                    .args(["--only-server", &server.base])
                    .args(args)
                    .output()
                    .expect("search");
                assert!(
                    out.status.success(),
                    "{args:?} {side}: {}",
                    text(&out.stderr)
                );
                text(&out.stdout)
            })
            .collect();
        assert_eq!(said[0], said[1], "{args:?}");
        assert!(said[0].contains("manifests/alice"), "{}", said[0]);
    }
}

/// A tree made with one link per directory (the layout before per-entry
/// links) is converted on its next change, and shows every rock throughout.
#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn a_tree_with_directory_links_is_converted_on_its_next_change() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("old-layout");
    ok(&s, &repo, &t, &["install", "dmdep"]);
    for base in ["share/lua/5.4", "lib/lua/5.4", "lib/luarocks/rocks-5.4"] {
        std::fs::remove_dir_all(t.join(base)).expect("remove");
        std::os::unix::fs::symlink(format!("../../.rockstore/current/{base}"), t.join(base))
            .expect("old link");
    }
    assert_eq!(lua_ok(&s, &t, "print((require('dmdep')).dep)"), "true");
    ok(&s, &repo, &t, &["install", "purelua"]);
    for base in ["share/lua/5.4", "lib/lua/5.4", "lib/luarocks/rocks-5.4"] {
        let meta = std::fs::symlink_metadata(t.join(base)).expect(base);
        assert!(
            meta.is_dir() && !meta.file_type().is_symlink(),
            "{base} is real now"
        );
    }
    assert_eq!(
        lua_ok(
            &s,
            &t,
            "print((require('dmdep')).dep, require('purelua').version)"
        ),
        "true\t2.0"
    );
    let listed = luarocks_listing(&s, &t);
    assert!(
        listed.iter().any(|l| l.starts_with("dmdep"))
            && listed.iter().any(|l| l.starts_with("purelua")),
        "{listed:?}"
    );
}
