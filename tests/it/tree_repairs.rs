//! The repros of issue 27, each failing before it: a broken tree in
//! rocks_trees, `verify --repair` breaking trees silently, `doctor` not
//! looking at links, an edit through a tree reused, a store missing.

use std::path::Path;

use crate::rocks_server::Repo;
use crate::support::{need, on_tree as rs, text, Sandbox};

fn ok(s: &Sandbox, repo: &Repo, tree: &Path, args: &[&str]) -> String {
    let out = rs(s, repo, tree, args);
    assert!(
        out.status.success(),
        "rockstore {args:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn lua_loads(s: &Sandbox, tree: &Path, module: &str) -> bool {
    let t = tree.display();
    s.program("lua5.4")
        .args(["-e", &format!("require('{module}')")])
        .env(
            "LUA_PATH",
            format!("{t}/share/lua/5.4/?.lua;{t}/share/lua/5.4/?/init.lua"),
        )
        .env("LUA_CPATH", format!("{t}/lib/lua/5.4/?.so"))
        .status()
        .expect("lua5.4")
        .success()
}

/// The item directory of `rock` in the tree's current generation.
fn item_of(s: &Sandbox, repo: &Repo, tree: &Path, rock: &str) -> String {
    let out = ok(s, repo, tree, &["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(
        out.lines()
            .take_while(|l| !l.starts_with("warning"))
            .collect::<Vec<_>>()
            .join("\n")
            .trim(),
    )
    .expect("json");
    listed
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["name"] == rock)
        .and_then(|r| r["item"].as_str())
        .expect("item")
        .to_owned()
}

fn make_writable(s: &Sandbox, path: &Path) {
    let st = s
        .program("chmod")
        .arg("-R")
        .arg("u+w")
        .arg(path)
        .status()
        .expect("chmod");
    assert!(st.success());
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn a_broken_tree_in_rocks_trees_costs_one_warning() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let broken = s.tmp.path().join("broken");
    let good = s.tmp.path().join("good");
    let other_store = s.tmp.path().join("other-store");
    let mut cmd = s.bare_cmd();
    cmd.arg("--store")
        .arg(&other_store)
        .args([
            "--only-server",
            &repo.server.base,
            "--lua-version",
            "5.4",
            "--tree",
        ])
        .arg(&broken)
        .args(["install", "purelua"]);
    assert!(cmd.status().expect("run").success());
    // Its store is gone, and (as a tree an older rockstore made) it keeps
    // no copy of its rocks.
    make_writable(&s, &other_store);
    std::fs::remove_dir_all(&other_store).expect("rm store");
    for entry in std::fs::read_dir(broken.join(".rockstore/generations"))
        .expect("gens")
        .flatten()
    {
        if entry.file_name().to_string_lossy().ends_with(".json") {
            std::fs::remove_file(entry.path()).expect("rm sidecar");
        }
    }
    let etc = s.tmp.path().join("etc-luarocks");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::write(
        etc.join("config-5.4.lua"),
        format!(
            "rocks_trees = {{ [[{}]], [[{}]] }}\n",
            broken.display(),
            good.display()
        ),
    )
    .expect("config");
    ok(&s, &repo, &good, &["install", "appx"]);
    let list = s
        .cmd(["--lua-version", "5.4", "list", "--porcelain"])
        .output()
        .expect("list");
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(
        text(&list.stdout).contains("appx\t1.0-1"),
        "{}",
        text(&list.stdout)
    );
    let warnings = text(&list.stderr);
    assert_eq!(warnings.matches("warning").count(), 1, "{warnings}");
    assert!(
        warnings.contains(&broken.display().to_string()),
        "{warnings}"
    );
    // Commands on the good tree are not bothered.
    ok(&s, &repo, &good, &["remove", "appx"]);
    ok(&s, &repo, &good, &["--deps-mode", "all", "install", "appx"]);
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn verify_repair_names_the_trees_it_broke_and_doctor_fix_mends_them() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "appx"]);
    let item = item_of(&s, &repo, &t, "purelua");
    let file = s
        .store()
        .join("store")
        .join(&item)
        .join("lua/purelua/util.lua");
    make_writable(&s, &s.store().join("store").join(&item));
    std::fs::write(&file, b"return 'damaged'").expect("damage");
    let out = s.run(["verify", "--contents", "--repair"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !out.status.success(),
        "a repair that broke a tree fails: {said}"
    );
    assert!(
        said.contains(&format!("rockstore --tree {} doctor --fix", t.display())),
        "{said}"
    );
    // doctor sees the links that lead nowhere.
    let doctor = rs(&s, &repo, &t, &["doctor"]);
    assert!(!doctor.status.success());
    assert!(
        text(&doctor.stdout).contains("purelua/util.lua"),
        "{}",
        text(&doctor.stdout)
    );
    // install does not say "already installed": it builds it again.
    let again = ok(&s, &repo, &t, &["install", "purelua", "2.0"]);
    assert!(!again.contains("already installed"), "{again}");
    assert!(lua_loads(&s, &t, "purelua.util"));
    ok(&s, &repo, &t, &["doctor"]);
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn doctor_finds_a_removed_link_and_fix_relinks_it() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "purelua"]);
    std::fs::remove_file(t.join("share/lua/5.4/purelua/util.lua")).expect("rm link");
    let doctor = rs(&s, &repo, &t, &["doctor"]);
    assert!(!doctor.status.success());
    assert!(
        text(&doctor.stdout).contains("share/lua/5.4/purelua/util.lua is missing"),
        "{}",
        text(&doctor.stdout)
    );
    assert!(text(&doctor.stderr).contains("doctor --fix"));
    ok(&s, &repo, &t, &["doctor", "--fix"]);
    assert!(lua_loads(&s, &t, "purelua.util"));
    ok(&s, &repo, &t, &["doctor"]);
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn an_edited_item_is_never_reused_by_install_force() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "purelua"]);
    let module = t.join("share/lua/5.4/purelua/init.lua");
    let before = std::fs::read(&module).expect("read");
    // As root would (a debug print in a container): through the tree,
    // into the item. As another user, the item is made writable first.
    let real = std::fs::canonicalize(&module).expect("real");
    make_writable(&s, real.parent().expect("dir"));
    let mut edited = before.clone();
    edited.extend_from_slice(b"\nprint('debug')\n");
    std::fs::write(&module, &edited).expect("edit through the tree");
    ok(&s, &repo, &t, &["install", "--force", "purelua"]);
    assert_eq!(
        std::fs::read(&module).expect("read"),
        before,
        "install --force rebuilt the item instead of reusing the edited one"
    );
    let other = s.tmp.path().join("other");
    ok(&s, &repo, &other, &["install", "purelua"]);
    assert_eq!(
        std::fs::read(other.join("share/lua/5.4/purelua/init.lua")).expect("read"),
        before
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn doctor_fix_rebuilds_a_tree_whose_store_is_gone() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "appx"]);
    make_writable(&s, &s.store());
    std::fs::remove_dir_all(s.store()).expect("rm store");
    assert!(!lua_loads(&s, &t, "appx"));
    let doctor = rs(&s, &repo, &t, &["doctor"]);
    assert!(!doctor.status.success());
    assert!(
        text(&doctor.stdout).contains("files of generation 1 are missing"),
        "{}",
        text(&doctor.stdout)
    );
    ok(&s, &repo, &t, &["doctor", "--fix"]);
    for m in ["appx", "purelua.util", "cmulti"] {
        assert!(lua_loads(&s, &t, m), "{m}");
    }
    let list = ok(&s, &repo, &t, &["list", "--porcelain"]);
    assert!(
        list.contains("cmulti\t1.0-1") && list.contains("purelua\t2.0-1"),
        "{list}"
    );
}

#[test]
fn show_and_which_name_the_rock_when_the_store_is_gone() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "appx"]);
    make_writable(&s, &s.store());
    std::fs::remove_dir_all(s.store()).expect("rm store");
    // From the generation's sidecar copy of its rocks.
    let show = ok(&s, &repo, &t, &["show", "purelua"]);
    assert!(
        show.starts_with(&format!("\npurelua 2.0-1 - installed in {}\n", t.display())),
        "{show}"
    );
    // From the tree's own manifest (`name/version` there).
    let which = ok(&s, &repo, &t, &["which", "purelua.util"]);
    assert!(which.contains("(provided by purelua 2.0-1)"), "{which}");
}
