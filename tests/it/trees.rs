//! Installing into trees as profiles, checked with real `lua5.4` and
//! Debian's `luarocks`: closures, sharing items between trees, links
//! beside hand-installed files, bin wrappers, `build`, usage errors,
//! external dependencies, namespaces, branches. Also the helpers the
//! other tree modules share (`ok`, `side_ok`, `lua_ok`, …); their topics
//! are in `deps_modes`, `generations`, `gc`, `crash`, `projects`, `config`
//! and `queries`.

use std::path::Path;
use std::process::Command;

use crate::rocks_server::Repo;
use crate::support::{need, on_tree as rs, ours_or_luarocks, text, Sandbox};

pub(crate) fn ok(s: &Sandbox, repo: &Repo, tree: &Path, args: &[&str]) -> String {
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
pub(crate) fn lua_in_tree(s: &Sandbox, tree: &Path, code: &str) -> std::process::Output {
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

pub(crate) fn lua_ok(s: &Sandbox, tree: &Path, code: &str) -> String {
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
pub(crate) fn side_ok(s: &Sandbox, repo: &Repo, side: &str, tree: &Path, args: &[&str]) -> String {
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
pub(crate) fn luarocks_listing(s: &Sandbox, tree: &Path) -> Vec<String> {
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

pub(crate) fn store_items(s: &Sandbox) -> Vec<String> {
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

/// Where the installer's lines go follows what each one is, never how
/// its text begins: "warningkit 1.0-1 is already installed in T" is
/// status, on stdout as LuaRocks prints it. (While the command line
/// sorted the installer's text by prefix, a line starting with
/// "warning" went to stderr.)
#[test]
fn a_status_line_that_begins_like_a_warning_stays_on_stdout() {
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let spec = s.dir("specs").join("warningkit-1.0-1.rockspec");
    std::fs::write(
        &spec,
        format!(
            "package = \"warningkit\"\nversion = \"1.0-1\"\n\
             source = {{ url = \"{}/purelua-1.0.tar.gz\", dir = \"purelua-1.0\" }}\n\
             build = {{ type = \"builtin\", modules = {{ warningkit = \"src/purelua/init.lua\" }} }}\n",
            repo.server.base
        ),
    )
    .expect("spec");
    let spec = spec.display().to_string();
    let tree = s.dir("t");
    ok(&s, &repo, &tree, &["install", &spec]);
    let again = rs(&s, &repo, &tree, &["install", &spec]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let line = format!(
        "warningkit 1.0-1 is already installed in {}",
        tree.display()
    );
    let (stdout, stderr) = (text(&again.stdout), text(&again.stderr));
    assert!(
        stdout.lines().any(|l| l == line),
        "not on stdout:\n{stdout}\n--- stderr:\n{stderr}"
    );
    assert!(!stderr.contains(&line), "on stderr too:\n{stderr}");
}
