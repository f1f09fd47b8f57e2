//! Generations of a tree: rollback and forward, remove, purge, keeping only
//! what is needed, and deleting old generations.

use crate::rocks_server::Repo;
use crate::support::{need, on_tree as rs, ours_or_luarocks, text, Sandbox};

use crate::trees::{lua_in_tree, lua_ok, luarocks_listing, ok, side_ok};

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
