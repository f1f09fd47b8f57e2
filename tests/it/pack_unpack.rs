//! Rock files in and out: `download`, `unpack`, `pack`, and
//! `--pack-binary-rock` of `build` and `make`, with the rocks they write
//! installed by Debian's `luarocks`.

use std::path::PathBuf;
use std::process::Command;

use crate::rocks_server::Repo;
use crate::support::{need, ours_or_luarocks, text, Sandbox};

use crate::build::{build, lua_eval};

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_gcc, has_luarocks)),
    ignore = "needs lua5.4, gcc, luarocks"
)]
fn packed_binary_rock_installs_with_debian_luarocks() {
    if !need(&["lua5.4", "gcc", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let item = build(&s, &repo, &["--lua-version", "5.4", "cmulti"]);
    let out_dir = s.dir("packed");
    let out = s
        .cmd(["pack", &item.display().to_string()])
        .current_dir(&out_dir)
        .output()
        .expect("pack");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // `Packed: FILE`, as LuaRocks says it.
    let rock = PathBuf::from(
        text(&out.stdout)
            .trim()
            .strip_prefix("Packed: ")
            .expect("Packed: FILE"),
    );
    let name = rock
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("cmulti-1.0-1.linux-"), "{name}");
    let tree = s.dir("lr-tree");
    let out = s
        .program("luarocks")
        .args(["--lua-version", "5.4", "--tree"])
        .arg(&tree)
        .args(["install", "--deps-mode", "none"])
        .arg(&rock)
        .output()
        .expect("luarocks");
    assert!(
        out.status.success(),
        "luarocks install: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = Command::new("lua5.4")
        .env(
            "LUA_CPATH",
            format!("{}/lib/lua/5.4/?.so;;", tree.display()),
        )
        .args(["-e", "print(require 'cmulti'.answer())"])
        .output()
        .expect("lua");
    assert_eq!(text(&out.stdout).trim(), "42", "{}", text(&out.stderr));
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn download_unpack_and_pack_round_trip() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let work = s.dir("work");
    let run_in = |args: &[&str]| -> String {
        let mut all = vec!["--only-server", repo.server.base.as_str()];
        all.extend_from_slice(args);
        let out = s.cmd(all).current_dir(&work).output().expect("run");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    // Each file lands here, silently, as with LuaRocks.
    for (args, file) in [
        (&["download", "binrock"][..], "binrock-1.0-1.all.rock"),
        (&["download", "cmulti", "--source"], "cmulti-1.0-1.src.rock"),
        (
            &["download", "purelua", "1.0", "--rockspec"],
            "purelua-1.0-1.rockspec",
        ),
    ] {
        assert_eq!(run_in(args), "", "{args:?}");
        assert!(work.join(file).is_file(), "{file}");
    }
    // unpack: the rockspec and the sources inside it, unpacked.
    assert!(run_in(&["unpack", "cmulti-1.0-1.src.rock"])
        .ends_with("cmulti-1.0-1/cmulti-1.0\nand type 'rockstore make' to build."));
    assert!(work.join("cmulti-1.0-1/cmulti-1.0-1.rockspec").is_file());
    assert!(work.join("cmulti-1.0-1/cmulti-1.0/src/main.c").is_file());
    assert!(run_in(&["unpack", "purelua-1.0-1.rockspec"]).contains("purelua-1.0-1/purelua-1.0\n"));
    assert!(work
        .join("purelua-1.0-1/purelua-1.0/src/purelua/init.lua")
        .is_file());
    // pack a rockspec: a .src.rock that builds.
    let packed = run_in(&["pack", "purelua-1.0-1.rockspec"])
        .trim_start_matches("Packed: ")
        .to_owned();
    assert!(packed.ends_with("purelua-1.0-1.src.rock"), "{packed}");
    let item = PathBuf::from(
        run_in(&["build", "--no-install", &packed])
            .lines()
            .last()
            .expect("path")
            .to_owned(),
    );
    assert_eq!(
        lua_eval("lua5.4", &[&item], "print(require 'purelua'.version)"),
        "1.0"
    );
    // pack an item with C code: an arch rock, which a fresh store admits
    // without a compiler as the very same item.
    let built = PathBuf::from(
        run_in(&["build", "--no-install", "cmulti"])
            .lines()
            .last()
            .expect("path")
            .to_owned(),
    );
    let rock = run_in(&["pack", &built.display().to_string()])
        .trim_start_matches("Packed: ")
        .to_owned();
    let other = Sandbox::new();
    let out = other
        .cmd(["build", "--no-install", &rock])
        .env("CC", "/nonexistent/cc")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = PathBuf::from(text(&out.stdout).lines().last().expect("path"));
    assert_eq!(
        again.file_name(),
        built.file_name(),
        "same content, same item name"
    );
    assert_eq!(
        lua_eval("lua5.4", &[&again], "print(require 'cmulti'.answer())"),
        "42"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn download_all_fetches_every_match_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    for extra in [
        &["purelua"][..],
        &["purelua", "--rockspec"],
        &["cmulti", "--source"],
    ] {
        let mut files = Vec::new();
        for side in ["ours", "theirs"] {
            let dir = s.dir(&format!("dl-{side}-{}", extra.join("")));
            let out = ours_or_luarocks(&s, side)
                .args(["--only-server", &repo.server.base, "download", "--all"])
                .args(extra)
                .current_dir(&dir)
                .output()
                .expect("download");
            assert!(
                out.status.success(),
                "{side} {extra:?}: {}",
                text(&out.stderr)
            );
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .expect("dir")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            files.push(names);
        }
        assert!(!files[0].is_empty(), "{extra:?}");
        assert_eq!(files[0], files[1], "download --all {extra:?}");
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn unpack_name_version_fetches_from_the_servers_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    for (args, made) in [
        (&["purelua", "1.0"][..], "purelua-1.0-1"),
        (&["cmulti"], "cmulti-1.0-1"),
    ] {
        let mut trees = Vec::new();
        for side in ["ours", "theirs"] {
            let work = s.dir(&format!("unpack-{side}-{made}"));
            let out = ours_or_luarocks(&s, side)
                .args(["--only-server", &repo.server.base, "unpack"])
                .args(args)
                .current_dir(&work)
                .output()
                .expect("unpack");
            assert!(
                out.status.success(),
                "{side} {args:?}: {}",
                text(&out.stderr)
            );
            trees.push(crate::support::files_under(&work.join(made)));
        }
        assert!(!trees[0].is_empty());
        // LuaRocks unpacks a .tar.gz with gunzip then tar, and leaves the
        // .tar behind: a by-product, not part of what it unpacked.
        let theirs: Vec<String> = trees[1]
            .iter()
            .filter(|f| !f.ends_with(".tar"))
            .cloned()
            .collect();
        assert_eq!(trees[0], theirs, "unpack {args:?}");
    }
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_luarocks, has_gcc)),
    ignore = "needs lua5.4, luarocks, gcc"
)]
fn build_pack_binary_rock_writes_a_rock_and_installs_nothing_as_luarocks() {
    if !need(&["lua5.4", "luarocks", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut made = Vec::new();
    for side in ["ours", "theirs"] {
        let work = s.dir(&format!("pack-{side}"));
        let tree = s.tmp.path().join(format!("tree-{side}"));
        let out = ours_or_luarocks(&s, side)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(&tree)
            .args(["build", "cmulti", "--pack-binary-rock"])
            .current_dir(&work)
            .output()
            .expect("build");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("Packed: "), "{side}");
        let mut files: Vec<String> = std::fs::read_dir(&work)
            .expect("work")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert!(
            !tree.join("lib/luarocks/rocks-5.4/cmulti").exists(),
            "{side}: nothing installed"
        );
        made.push(files);
    }
    assert_eq!(made[0], made[1]);
    assert_eq!(made[0], [format!("cmulti-1.0-1.{}.rock", support_arch())]);
    // The rock installs with Debian's luarocks and loads.
    let rock = s.tmp.path().join("pack-ours").join(&made[0][0]);
    let tree = s.tmp.path().join("from-rock");
    let out = s
        .program("luarocks")
        .args(["--lua-version", "5.4", "--tree"])
        .arg(&tree)
        .arg("install")
        .arg(&rock)
        .output()
        .expect("luarocks install");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn support_arch() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn make_pack_binary_rock_packs_the_working_directory_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut made = Vec::new();
    for side in ["ours", "theirs"] {
        let work = s.dir(&format!("make-pack-{side}"));
        let copied = Command::new("cp")
            .arg("-r")
            .arg(crate::support::project_dir().join("integration/rocks/purelua-1.0/."))
            .arg(&work)
            .status()
            .expect("cp");
        assert!(copied.success());
        std::fs::copy(
            repo.dir.join("purelua-1.0-1.rockspec"),
            work.join("purelua-1.0-1.rockspec"),
        )
        .expect("rockspec");
        let before: std::collections::BTreeSet<String> = std::fs::read_dir(&work)
            .expect("work")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let tree = s.tmp.path().join(format!("tree-{side}"));
        let out = ours_or_luarocks(&s, side)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(&tree)
            .args(["make", "--pack-binary-rock"])
            .current_dir(&work)
            .output()
            .expect("make");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("Packed: "), "{side}");
        let new: Vec<String> = std::fs::read_dir(&work)
            .expect("work")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| !before.contains(f))
            .collect();
        assert!(
            !tree.join("lib/luarocks/rocks-5.4/purelua").exists(),
            "{side}"
        );
        made.push(new);
    }
    assert_eq!(made[0], made[1]);
    assert_eq!(made[0], ["purelua-1.0-1.all.rock"]);
}
