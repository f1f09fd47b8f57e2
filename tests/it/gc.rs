//! Garbage collection over trees: an item lives exactly as long as a
//! generation roots it.

use std::path::Path;

use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

use crate::trees::{lua_in_tree, lua_ok, ok, store_items};

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
