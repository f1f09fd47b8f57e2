//! Fetching and building rocks from a real HTTP server on 127.0.0.1, with the
//! real compiler, then loading the results in real `lua5.1`/`lua5.4`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rocks_server::Repo;
use crate::support::{need, ours_or_luarocks, skip_or_fail, text, Sandbox};

/// `rockstore --only-server <repo> ARGS…`, asserting success; the item path
/// (the last line of stdout).
fn build(s: &Sandbox, repo: &Repo, args: &[&str]) -> PathBuf {
    let mut all = vec!["--only-server", &repo.server.base, "build", "--no-install"];
    all.extend_from_slice(args);
    let out = s.ok(all);
    PathBuf::from(out.lines().last().expect("item path line"))
}

/// Runs `lua` with the item's `lua/` and `lib/` on its paths; stdout.
fn lua_eval(lua: &str, items: &[&Path], code: &str) -> String {
    let path: String = items
        .iter()
        .map(|i| format!("{0}/lua/?.lua;{0}/lua/?/init.lua;", i.display()))
        .collect();
    let cpath: String = items
        .iter()
        .map(|i| format!("{}/lib/?.so;", i.display()))
        .collect();
    let out = Command::new(lua)
        .env("LUA_PATH", format!("{path};"))
        .env("LUA_CPATH", format!("{cpath};"))
        .args(["-e", code])
        .output()
        .expect("run lua");
    assert!(
        out.status.success(),
        "{lua} -e {code} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_owned()
}

fn store_is_clean(s: &Sandbox) {
    assert!(
        s.items().is_empty(),
        "nothing may be admitted: {:?}",
        s.items()
    );
    let tmp: Vec<_> = std::fs::read_dir(s.store().join("tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "store tmp must be empty: {tmp:?}");
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn pure_lua_rock_from_a_server_with_versions_bin_script_and_docs() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    // Global flags after the command, as LuaRocks allows.
    let out = s.ok([
        "build",
        "--no-install",
        "purelua",
        "--only-server",
        &repo.server.base,
        "--lua-version",
        "5.4",
    ]);
    let newest = PathBuf::from(out.lines().last().expect("path"));
    for file in [
        "lua/purelua/init.lua",
        "lua/purelua/util.lua",
        "bin/purelua-hello",
        "doc/README.md",
        "purelua-2.0-1.rockspec",
        "rock_manifest",
    ] {
        assert!(newest.join(file).exists(), "{file} in {}", newest.display());
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(newest.join("bin/purelua-hello"))
            .expect("bin")
            .permissions(),
    );
    assert_eq!(mode & 0o111, 0o111, "bin scripts stay executable");
    assert_eq!(
        lua_eval(
            "lua5.4",
            &[&newest],
            "local p = require 'purelua' print(p.version, p.greet('x'))"
        ),
        "2.0\thello, x"
    );
    let manifest = std::fs::read_to_string(newest.join("rock_manifest")).expect("manifest");
    assert!(manifest.contains("[\"init.lua\"] = \""), "{manifest}");
    // An older version by constraint, flags before the command.
    let old = build(&s, &repo, &["purelua", "1.0"]);
    assert_ne!(old, newest);
    assert_eq!(
        lua_eval("lua5.4", &[&old], "print(require 'purelua'.version)"),
        "1.0"
    );
}

#[test]
#[cfg_attr(
    not(all(has_lua5_1, has_lua5_4, has_gcc)),
    ignore = "needs lua5.1, lua5.4, gcc"
)]
fn c_modules_build_and_load_in_lua51_and_lua54() {
    if !need(&["lua5.1", "lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut items = Vec::new();
    for v in ["5.1", "5.4"] {
        let item = build(&s, &repo, &["--lua-version", v, "cmulti"]);
        let lua = format!("lua{v}");
        assert_eq!(
            lua_eval(
                &lua,
                &[&item],
                "local m = require 'cmulti' print(m.answer(), m.lua_version())"
            ),
            format!("42\tLua {v}")
        );
        items.push(item);
    }
    assert_ne!(items[0], items[1], "one item per Lua ABI");
    // --lua-dir naming the same installation finds the same Lua, so the
    // same recipe: the 5.1 item is reused.
    let again = build(
        &s,
        &repo,
        &["--lua-dir", "/usr", "--lua-version", "5.1", "cmulti"],
    );
    assert_eq!(again, items[0]);
    let (_, err) = s.fails([
        "--lua-dir",
        "/nonexistent",
        "build",
        "--no-install",
        "cmulti",
    ]);
    assert!(err.contains("no Lua 5.x interpreter found"), "{err}");
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn external_library_through_foo_dir_and_a_clear_miss_without() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    // Without FOO_DIR: the error names the header, where it looked, and the
    // way out; nothing is admitted.
    let (_, err) = s.fails([
        "--only-server",
        &repo.server.base,
        "build",
        "--no-install",
        "cextlib",
    ]);
    assert!(err.contains("Could not find header file for FOO"), "{err}");
    assert!(err.contains("No file foo.h in /usr/local/include"), "{err}");
    assert!(err.contains("FOO_DIR"), "{err}");
    // The example is LuaRocks' (an install, whatever was run), with our name.
    assert!(
        err.contains("Example: rockstore install cextlib FOO_DIR=/usr/local"),
        "{err}"
    );
    store_is_clean(&s);
    // With FOO_INCDIR given, that directory is named once.
    let (_, err) = s.fails([
        "--only-server",
        &repo.server.base,
        "build",
        "--no-install",
        "cextlib",
        "FOO_INCDIR=/nowhere/include",
    ]);
    assert_eq!(
        err.matches("No file foo.h in /nowhere/include").count(),
        1,
        "{err}"
    );

    let prefix = s.dir("foo-prefix");
    std::fs::create_dir_all(prefix.join("include")).expect("inc");
    std::fs::create_dir_all(prefix.join("lib")).expect("lib");
    let src = crate::support::project_dir().join("integration/rocks/foolib");
    std::fs::copy(src.join("foo.h"), prefix.join("include/foo.h")).expect("header");
    let out = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(prefix.join("lib/libfoo.so"))
        .arg(src.join("foo.c"))
        .output()
        .expect("gcc");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let foo_dir = format!("FOO_DIR={}", prefix.display());
    let item = build(&s, &repo, &["cextlib", &foo_dir]);
    assert_eq!(
        lua_eval("lua5.4", &[&item], "print(require 'cextlib'.magic())"),
        "4242"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn system_openssl_found_in_multiarch_dirs() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    if !Path::new("/usr/include/openssl/ssl.h").exists() {
        skip_or_fail("libssl-dev (apt-get install libssl-dev)");
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let item = build(&s, &repo, &["cssl"]);
    let version = lua_eval("lua5.4", &[&item], "print(require 'cssl'.version())");
    assert!(version.starts_with("OpenSSL"), "{version}");
    // Shaped like luasec: `install.lib` names the linked module again.
    let util = lua_eval("lua5.4", &[&item], "print(require 'cssl.util'.shaped_like)");
    assert_eq!(util, "luasec");
    // And it installs into a tree, where real Lua loads it.
    let tree = s.tmp.path().join("tree");
    let tree_arg = tree.display().to_string();
    s.ok([
        "--only-server",
        &repo.server.base,
        "--lua-version",
        "5.4",
        "--tree",
        &tree_arg,
        "install",
        "cssl",
    ]);
    let out = s
        .program("lua5.4")
        .env("LUA_CPATH", tree.join("lib/lua/5.4/?.so"))
        .env("LUA_PATH", tree.join("share/lua/5.4/?.lua"))
        .args([
            "-e",
            "print(require 'cssl'.version(), require 'cssl.util'.shaped_like)",
        ])
        .output()
        .expect("lua5.4");
    let printed = text(&out.stdout);
    assert!(
        printed.starts_with("OpenSSL") && printed.contains("luasec"),
        "{printed}{}",
        text(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_gcc, has_make, has_cmake)),
    ignore = "needs lua5.4, gcc, make, cmake"
)]
fn make_cmake_and_command_backends() {
    if !need(&["lua5.4", "gcc", "make", "cmake"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    for (rock, expected) in [("mkrock", "built by make"), ("cmrock", "built by cmake")] {
        let item = build(&s, &repo, &[rock]);
        assert_eq!(
            lua_eval(
                "lua5.4",
                &[&item],
                &format!("print(require '{rock}'.hello())")
            ),
            expected
        );
    }
    let item = build(&s, &repo, &["cmdrock"]);
    assert_eq!(
        lua_eval("lua5.4", &[&item], "print(require 'cmdrock'.how)"),
        "built by command"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn src_rock_binary_rock_and_git_source() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let item = build(&s, &repo, &[&repo.url("cmulti-1.0-1.src.rock")]);
    assert_eq!(
        lua_eval("lua5.4", &[&item], "print(require 'cmulti'.answer())"),
        "42"
    );
    // A binary rock installs without building: no compiler at all.
    let out = s
        .cmd(["build", "--no-install", &repo.url("binrock-1.0-1.all.rock")])
        .env("CC", "/nonexistent/cc")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let item = PathBuf::from(text(&out.stdout).lines().last().expect("path"));
    assert_eq!(
        lua_eval("lua5.4", &[&item], "print(require 'binrock'.from)"),
        "binary rock"
    );
    assert!(item.join("rock_manifest").exists());
    if repo.has_git {
        let spec = repo.dir.join("gitrock-1.0-1.rockspec");
        let item = build(&s, &repo, &[&spec.display().to_string()]);
        assert_eq!(
            lua_eval("lua5.4", &[&item], "print(require 'gitrock'.from)"),
            "git"
        );
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn building_a_recipe_twice_compiles_and_downloads_nothing() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let log = s.tmp.path().join("cc.log");
    let wrapper = s.tmp.path().join("cc-wrapper");
    crate::support::logging_cc(&wrapper, &log);
    let run = || {
        let out = s
            .cmd([
                "--only-server",
                &repo.server.base,
                "build",
                "--no-install",
                "cmulti",
            ])
            .env("CC", &wrapper)
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", text(&out.stderr));
        (
            PathBuf::from(text(&out.stdout).lines().last().expect("path")),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    };
    let (first, _) = run();
    let compiles = std::fs::read_to_string(&log)
        .expect("compiler ran")
        .lines()
        .count();
    assert!(compiles >= 3, "two sources and a link: {compiles} calls");
    assert!(!repo.server.requests().is_empty());
    repo.server.clear();
    let (second, stderr) = run();
    assert_eq!(first, second, "same item");
    assert_eq!(
        std::fs::read_to_string(&log).expect("log").lines().count(),
        compiles,
        "no compiler call the second time"
    );
    assert_eq!(repo.server.requests(), Vec::<String>::new(), "no download");
    assert!(stderr.contains("already built"), "{stderr}");
}

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
fn search_lists_like_luarocks() {
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let ours = s.ok([
        "search",
        "pure",
        "--porcelain",
        "--lua-version",
        "5.4",
        "--only-server",
        &repo.server.base,
    ]);
    assert_eq!(
        ours.lines().collect::<Vec<_>>(),
        [
            format!("purelua\t2.0-1\trockspec\t{}", repo.server.base),
            format!("purelua\t1.0-1\trockspec\t{}", repo.server.base),
        ]
    );
    if !need(&["luarocks"]) {
        return;
    }
    let config = s.tmp.path().join("lr-config.lua");
    std::fs::write(&config, "").expect("config");
    let theirs = s
        .program("luarocks")
        .env("LUAROCKS_CONFIG", &config)
        .args(["--lua-version", "5.4", "--only-server", &repo.server.base])
        .args(["search", "pure", "--porcelain"])
        .output()
        .expect("luarocks");
    assert!(theirs.status.success(), "{}", text(&theirs.stderr));
    assert_eq!(ours, text(&theirs.stdout));
    // The human-readable listing too, for a query matching several rocks.
    for query in [&["rock"][..], &["--all"], &["purelua", "1.0"]] {
        let mut ours = s.cmd([
            "--lua-version",
            "5.4",
            "--only-server",
            &repo.server.base,
            "search",
        ]);
        let ours = text(&ours.args(query).output().expect("ours").stdout);
        let theirs = s
            .program("luarocks")
            .env("LUAROCKS_CONFIG", &config)
            .args([
                "--lua-version",
                "5.4",
                "--only-server",
                &repo.server.base,
                "search",
            ])
            .args(query)
            .output()
            .expect("luarocks");
        assert_eq!(ours, text(&theirs.stdout), "search {query:?}");
    }
    let all = s.ok(["search", "--all", "--only-server", &repo.server.base]);
    assert!(all.contains("binrock\n   1.0-1 (all)"), "{all}");
}

/// A tarball with one raw entry (path bytes as given, bypassing the tar
/// crate's own checks) besides a normal file.
fn hostile_tarball(top: &str, entry: &[u8], kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut tar = tar::Builder::new(enc);
        let mut ok = tar::Header::new_gnu();
        ok.set_size(2);
        ok.set_mode(0o644);
        ok.set_cksum();
        tar.append_data(&mut ok, format!("{top}/ok.lua"), &b"--"[..])
            .expect("entry");
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..entry.len()].copy_from_slice(entry);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        if let Some(target) = link {
            h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            h.set_size(0);
        } else {
            h.set_size(4);
        }
        h.set_cksum();
        let data: &[u8] = if link.is_some() { b"" } else { b"evil" };
        tar.append(&h, data).expect("raw entry");
        tar.into_inner().expect("tar").finish().expect("gz");
    }
    out
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_nothing() {
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let base = repo.server.base.clone();
    let spec = |name: &str, url: &str, md5: Option<&str>| -> String {
        let path = s.dir("specs").join(format!("{name}-1.0-1.rockspec"));
        let md5 = md5.map(|m| format!(", md5 = \"{m}\"")).unwrap_or_default();
        std::fs::write(
            &path,
            format!(
                "package = \"{name}\"\nversion = \"1.0-1\"\nsource = {{ url = \"{url}\"{md5} }}\n\
                 build = {{ type = \"builtin\", modules = {{ ok = \"ok.lua\" }} }}\n"
            ),
        )
        .expect("spec");
        path.display().to_string()
    };
    let good = std::fs::read(repo.dir.join("purelua-1.0.tar.gz")).expect("tarball");
    std::fs::write(repo.dir.join("trunc-1.0.tar.gz"), &good[..good.len() / 2]).expect("trunc");
    for (name, entry, kind, link) in [
        (
            "dotdot",
            &b"dotdot-1.0/../../escaped.lua"[..],
            tar::EntryType::Regular,
            None,
        ),
        (
            "absolute",
            &b"/tmp/rockstore-absolute.lua"[..],
            tar::EntryType::Regular,
            None,
        ),
        (
            "linkout",
            &b"linkout-1.0/out"[..],
            tar::EntryType::Symlink,
            Some("../../../../etc"),
        ),
    ] {
        let top = format!("{name}-1.0");
        std::fs::write(
            repo.dir.join(format!("{top}.tar.gz")),
            hostile_tarball(&top, entry, kind, link),
        )
        .expect("hostile");
    }
    // Sanity: the unmodified tarball builds, so each failure below is the
    // one case's fault.
    let fine = spec("fine", &format!("{base}/purelua-1.0.tar.gz"), None);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--only-server".into(),
                format!("{base}/nothing"),
                "build".into(),
                "--no-install".into(),
                "purelua".into(),
            ],
            "no manifest found",
        ),
        (
            vec![
                "--only-server".into(),
                format!("{base}/status/503"),
                "build".into(),
                "--no-install".into(),
                "purelua".into(),
            ],
            "HTTP 503",
        ),
        (
            vec![
                "--timeout".into(),
                "1".into(),
                "--only-server".into(),
                format!("{base}/hang"),
                "build".into(),
                "--no-install".into(),
                "purelua".into(),
            ],
            "did not answer in full within 1 s",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("trunc", &format!("{base}/trunc-1.0.tar.gz"), None),
            ],
            "corrupt or truncated",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec(
                    "badsum",
                    &format!("{base}/purelua-1.0.tar.gz"),
                    Some("0123456789abcdef0123456789abcdef"),
                ),
            ],
            "MD5 check for purelua-1.0.tar.gz has failed",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("dotdot", &format!("{base}/dotdot-1.0.tar.gz"), None),
            ],
            "outside the unpack directory",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("absolute", &format!("{base}/absolute-1.0.tar.gz"), None),
            ],
            "outside the unpack directory",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("linkout", &format!("{base}/linkout-1.0.tar.gz"), None),
            ],
            "points to `../../../../etc`",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("missing", &format!("{base}/missing-1.0.tar.gz"), None),
            ],
            "was not found (404)",
        ),
        (
            vec![
                "--only-server".into(),
                base.clone(),
                "build".into(),
                "--no-install".into(),
                "cbroken".into(),
            ],
            "compiling cbroken.c",
        ),
        (
            vec![
                "--only-server".into(),
                base.clone(),
                "--lua-version".into(),
                "5.4".into(),
                "build".into(),
                "--no-install".into(),
                "lua".into(),
            ],
            "Rock lua 5.4-1 is already provided by VM",
        ),
        (
            vec![
                "--only-server".into(),
                base.clone(),
                "build".into(),
                "--no-install".into(),
                "nosuchrock".into(),
            ],
            "No results matching query were found for Lua",
        ),
    ];
    for (args, expected) in cases {
        let (_, err) = s.fails(&args);
        assert!(
            err.contains(expected),
            "{args:?}: expected `{expected}` in:\n{err}"
        );
        store_is_clean(&s);
    }
    assert!(!Path::new("/tmp/rockstore-absolute.lua").exists());
    assert!(!s.tmp.path().join("escaped.lua").exists());
    // The same build with a good archive works.
    let fine_spec = std::fs::read_to_string(&fine)
        .expect("spec")
        .replace("ok.lua", "src/purelua/util.lua");
    std::fs::write(&fine, fine_spec).expect("spec");
    s.ok(["build", "--no-install", &fine]);
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn every_archive_kind_single_files_and_the_3_0_source_dir_fallback() {
    if !need(&["lua5.4"]) {
        return;
    }
    use std::io::Write;
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let src = crate::support::project_dir().join("integration/rocks/purelua-1.0");
    let tar_gz = crate::rocks_server::tarball(&src, "kinds-1.0");
    let mut plain_tar = Vec::new();
    flate2::read::GzDecoder::new(tar_gz.as_slice())
        .read_to_end(&mut plain_tar)
        .expect("gunzip");
    let mut bz2 = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz2.write_all(&plain_tar).expect("bz2");
    let bz2 = bz2.finish().expect("bz2");
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut plain_tar.as_slice(), &mut xz).expect("xz");
    let files: Vec<(String, Vec<u8>)> = ["src/purelua/init.lua", "src/purelua/util.lua"]
        .iter()
        .map(|f| {
            (
                format!("kinds-1.0/{f}"),
                std::fs::read(src.join(f)).expect("read"),
            )
        })
        .collect();
    let zip = crate::rocks_server::zip_files(&files);
    for (ext, bytes) in [
        ("tar.gz", &tar_gz),
        ("tgz", &tar_gz),
        ("tar.bz2", &bz2),
        ("tar.xz", &xz),
        ("tar", &plain_tar),
        ("zip", &zip),
    ] {
        std::fs::write(repo.dir.join(format!("kinds-1.0.{ext}")), bytes).expect("archive");
    }
    let specs = s.dir("kind-specs");
    let write_spec = |file: &str, body: &str| -> String {
        let path = specs.join(file);
        std::fs::write(&path, body).expect("spec");
        path.display().to_string()
    };
    let base = &repo.server.base;
    let mut items = Vec::new();
    for ext in ["tar.gz", "tgz", "tar.bz2", "tar.xz", "tar", "zip"] {
        let spec = write_spec(
            "kinds-1.0-1.rockspec",
            &format!(
                "package = 'kinds'\nversion = '1.0-1'\n\
                 source = {{ url = '{base}/kinds-1.0.{ext}', dir = 'kinds-1.0' }}\n\
                 build = {{ type = 'builtin', modules = {{ purelua = 'src/purelua/init.lua', ['purelua.util'] = 'src/purelua/util.lua' }} }}\n"
            ),
        );
        let item = PathBuf::from(
            s.ok(["build", "--no-install", &spec])
                .lines()
                .last()
                .expect("path"),
        );
        assert_eq!(
            lua_eval("lua5.4", &[&item], "print(require 'purelua'.greet('k'))"),
            "hello, k",
            "{ext}"
        );
        items.push(item);
    }
    // A single .lua file as the source: source.dir is `.`.
    std::fs::copy(
        src.join("src/purelua/util.lua"),
        repo.dir.join("single.lua"),
    )
    .expect("copy");
    let spec = write_spec(
        "single-1.0-1.rockspec",
        &format!(
            "package = 'single'\nversion = '1.0-1'\nsource = {{ url = '{base}/single.lua' }}\n\
             build = {{ type = 'builtin', modules = {{ single = 'single.lua' }} }}\n"
        ),
    );
    let item = PathBuf::from(
        s.ok(["build", "--no-install", &spec])
            .lines()
            .last()
            .expect("path"),
    );
    assert_eq!(
        lua_eval("lua5.4", &[&item], "print(require 'single'.greet('s'))"),
        "hello, s"
    );
    // Format 3.0: the archive's one directory is used when the deduced
    // name (here `other-name`) is absent; 1.0 refuses, as LuaRocks does.
    std::fs::write(repo.dir.join("other-name.tar.gz"), &tar_gz).expect("copy");
    for (format, works) in [("rockspec_format = '3.0'\n", true), ("", false)] {
        let spec = write_spec(
            "fallback-1.0-1.rockspec",
            &format!(
                "{format}package = 'fallback'\nversion = '1.0-1'\nsource = {{ url = '{base}/other-name.tar.gz' }}\n\
                 build = {{ type = 'builtin', modules = {{ fallback = 'src/purelua/util.lua' }} }}\n"
            ),
        );
        if works {
            s.ok(["build", "--no-install", &spec]);
        } else {
            let (_, err) = s.fails(["build", "--no-install", &spec]);
            assert!(
                err.contains("Directory other-name not found inside archive other-name.tar.gz"),
                "{err}"
            );
        }
    }
}

#[test]
fn servers_json_fallback_local_directories_and_garbage() {
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    // A server with only manifest-5.4.json.
    let json_dir = repo.dir.join("jsononly");
    std::fs::create_dir_all(&json_dir).expect("dir");
    std::fs::write(
        json_dir.join("manifest-5.4.json"),
        r#"{"repository":{"jrock":{"1.0-1":[{"arch":"rockspec"}],"1.10-1":[{"arch":"rockspec"},{"arch":"src"}]}},"commands":{},"modules":{}}"#,
    )
    .expect("json");
    let out = s.ok([
        "--lua-version",
        "5.4",
        "--only-server",
        &format!("{}/jsononly", repo.server.base),
        "search",
        "jrock",
        "--porcelain",
    ]);
    let versions: Vec<&str> = out
        .lines()
        .map(|l| l.split('\t').nth(1).expect("ver"))
        .collect();
    assert_eq!(versions, ["1.10-1", "1.10-1", "1.0-1"]);
    // A plain directory is a server too.
    let out = s.ok([
        "--lua-version",
        "5.4",
        "--only-server",
        &repo.dir.display().to_string(),
        "search",
        "purelua",
        "--porcelain",
    ]);
    assert_eq!(out.lines().count(), 2, "{out}");
    // Garbage where a manifest should be.
    let garbage = repo.dir.join("garbage");
    std::fs::create_dir_all(&garbage).expect("dir");
    std::fs::write(garbage.join("manifest-5.4"), "<html>teapot</html>").expect("garbage");
    let (_, err) = s.fails([
        "--lua-version",
        "5.4",
        "--only-server",
        &format!("{}/garbage", repo.server.base),
        "search",
        "x",
    ]);
    assert!(err.contains("not with a rocks manifest"), "{err}");
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
fn search_all_leaves_out_binary_rocks_for_other_machines_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let server = s.dir("server");
    std::fs::write(
        server.join("manifest-5.4"),
        "commands = {}\nmodules = {}\nrepository = {\n\
         foo = {\n\
           [\"1.0-1\"] = { { arch = \"rockspec\" }, { arch = \"src\" }, { arch = \"win32-x86\" },\n\
                         { arch = \"linux-x86_64\" }, { arch = \"macosx-x86_64\" } },\n\
           [\"0.9-1\"] = { { arch = \"win32-x86\" } },\n\
         },\n\
         bar = { [\"2.0-1\"] = { { arch = \"all\" } } },\n}\n",
    )
    .expect("manifest");
    let server = server.display().to_string();
    for extra in [&["--all"][..], &["foo", "--porcelain"][..]] {
        let args: Vec<&str> = ["--lua-version", "5.4", "--only-server", &server, "search"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let ours = s.ok(&args);
        let theirs = s
            .program("luarocks")
            .args(&args)
            .output()
            .expect("luarocks");
        assert!(theirs.status.success(), "{}", text(&theirs.stderr));
        assert_eq!(ours, text(&theirs.stdout), "search {extra:?}");
        assert!(!ours.contains("win32"), "{ours}");
    }
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
fn dev_asks_every_servers_dev_tree_first_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut asked = Vec::new();
    for side in ["ours", "theirs"] {
        repo.server.clear();
        // Nothing is served under /dev: both ask there first, then the
        // server itself, and find the rock.
        let out = ours_or_luarocks(&s, side)
            .args([
                "--dev",
                "--server",
                &repo.server.base,
                "search",
                "purelua",
                "--porcelain",
            ])
            .output()
            .expect("search");
        assert!(
            text(&out.stdout).contains("purelua\t2.0-1"),
            "{side}: {}",
            text(&out.stdout)
        );
        asked.push(repo.server.requests());
    }
    assert!(asked[0][0].starts_with("/dev/manifest"), "{:?}", asked[0]);
    // rockstore also tries the JSON manifest luarocks.org serves; 3.8 does not.
    asked[0].retain(|p| !p.ends_with(".json"));
    assert_eq!(asked[0], asked[1], "the servers asked, in order");
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn only_sources_restricts_source_downloads_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    // LuaRocks compares the prefix with the URL after `protocol://`.
    let here = repo.server.base.trim_start_matches("http://").to_owned();
    for side in ["ours", "theirs"] {
        let run = |only: &str, tree: &str| {
            let mut cmd = ours_or_luarocks(&s, side);
            cmd.args(["--only-server", &repo.server.base])
                .arg(format!("--only-sources={only}"))
                .arg("--tree")
                .arg(s.tmp.path().join(format!("{side}-{tree}")))
                .args(["build", "purelua", "1.0"])
                .output()
                .expect("build")
        };
        let refused = run("example.org/", "refused");
        assert!(!refused.status.success(), "{side}");
        assert!(
            text(&refused.stderr).contains("-- only downloading from example.org/"),
            "{side}: {}",
            text(&refused.stderr)
        );
        let none = run("", "none");
        assert!(
            text(&none.stderr).contains("download from remote servers disabled"),
            "{side}: {}",
            text(&none.stderr)
        );
        let allowed = run(&here, "allowed");
        assert!(
            allowed.status.success(),
            "{side}: {}",
            text(&allowed.stderr)
        );
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

/// `build --pack-binary-rock --sign` writes `<rock>.asc` with gpg, as
/// LuaRocks does; the signature verifies against the rock; `--sign` alone
/// is refused with LuaRocks' words. The key lives in the test's own
/// GNUPGHOME.
#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_luarocks, has_gpg)),
    ignore = "needs lua5.4, luarocks, gpg"
)]
fn build_sign_signs_the_packed_rock_with_gpg_as_luarocks() {
    if !need(&["lua5.4", "luarocks", "gpg"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let gnupg = s.dir("gnupg");
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let gpg = |args: &[&str]| {
        s.program("gpg")
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg")
    };
    let made = gpg(&[
        "--quick-gen-key",
        "Rock Signer <signer@example.invalid>",
        "default",
        "default",
        "never",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let mut signed = Vec::new();
    for side in ["ours", "theirs"] {
        let work = s.dir(&format!("sign-{side}"));
        let out = ours_or_luarocks(&s, side)
            .env("GNUPGHOME", &gnupg)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(s.tmp.path().join(format!("tree-{side}")))
            .args(["build", "purelua", "1.0-1", "--pack-binary-rock", "--sign"])
            .current_dir(&work)
            .output()
            .expect("build --sign");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let mut files: Vec<String> = std::fs::read_dir(&work)
            .expect("work")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let rock = work.join("purelua-1.0-1.all.rock");
        let out = s
            .program("gpg")
            .env("GNUPGHOME", &gnupg)
            .arg("--verify")
            .arg(work.join("purelua-1.0-1.all.rock.asc"))
            .arg(&rock)
            .output()
            .expect("gpg --verify");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        signed.push(files);
    }
    assert_eq!(signed[0], signed[1]);
    assert_eq!(
        signed[0],
        ["purelua-1.0-1.all.rock", "purelua-1.0-1.all.rock.asc"]
    );
    // `pack --sign` of an installed rock.
    let tree = s.tmp.path().join("tree-pack");
    let work = s.dir("pack-sign");
    for args in [
        &["install", "purelua", "1.0-1"][..],
        &["pack", "--sign", "purelua", "1.0-1"],
    ] {
        let out = ours_or_luarocks(&s, "ours")
            .env("GNUPGHOME", &gnupg)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(&tree)
            .args(args)
            .current_dir(&work)
            .output()
            .expect("pack --sign");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let packed = std::fs::read_dir(&work)
        .expect("work")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "rock"))
        .expect("a rock");
    let mut sig = packed.clone().into_os_string();
    sig.push(".asc");
    let out = s
        .program("gpg")
        .env("GNUPGHOME", &gnupg)
        .arg("--verify")
        .arg(&sig)
        .arg(&packed)
        .output()
        .expect("gpg --verify");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ours_or_luarocks(&s, "ours")
        .args([
            "--only-server",
            &repo.server.base,
            "build",
            "purelua",
            "--sign",
        ])
        .output()
        .expect("build --sign alone");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--sign is meant to be used only with --pack-binary-rock"),
        "{}",
        text(&out.stderr)
    );
    // --verify: a rockspec signed on the server installs; one with no
    // signature, a signature of other bytes, or a signed rock with
    // unsigned dependencies is refused before anything is installed, by
    // both tools.
    // `FILE.asc`, as `luarocks --sign` writes it.
    let sign = |file: &Path| {
        let signed = gpg(&[
            "--armor",
            "--output",
            &format!("{}.asc", file.display()),
            "--detach-sign",
            &file.display().to_string(),
        ]);
        assert!(signed.status.success(), "{}", text(&signed.stderr));
    };
    let spec = repo.dir.join("purelua-1.0-1.rockspec");
    sign(&spec);
    std::fs::copy(
        format!("{}.asc", spec.display()),
        repo.dir.join("dmdep-1.0-1.rockspec.asc"),
    )
    .expect("a signature of other bytes");
    // appx is signed, its dependencies are not: they are checked too.
    sign(&repo.dir.join("appx-1.0-1.rockspec"));
    for (rock, good) in [("purelua", true), ("dmdep", false), ("appx", false)] {
        for side in ["ours", "theirs"] {
            let tree = s.tmp.path().join(format!("verify-{rock}-{side}"));
            let out = ours_or_luarocks(&s, side)
                .env("GNUPGHOME", &gnupg)
                .args(["--only-server", &repo.server.base, "--tree"])
                .arg(&tree)
                .args(["install", "--verify", rock])
                .args(if rock == "purelua" {
                    &["1.0-1"][..]
                } else {
                    &[]
                })
                .output()
                .expect("install --verify");
            assert_eq!(
                out.status.success(),
                good,
                "{side} {rock}: {}",
                text(&out.stderr)
            );
            let installed = tree.join("lib/luarocks/rocks-5.4").join(rock).is_dir();
            assert_eq!(installed, good, "{side} {rock}");
            if side == "ours" && !good {
                assert!(
                    text(&out.stderr).contains("signature not verified"),
                    "{}",
                    text(&out.stderr)
                );
            }
        }
    }
    let _ = s
        .program("gpgconf")
        .env("GNUPGHOME", &gnupg)
        .args(["--kill", "gpg-agent"])
        .status();
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

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn admin_make_manifest_writes_what_luarocks_admin_writes() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut dirs = Vec::new();
    for side in ["ours", "theirs"] {
        let dir = s.dir(&format!("server-{side}"));
        for entry in std::fs::read_dir(&repo.dir).expect("repo").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // The rock files themselves; the manifests are to be made.
            if name.ends_with(".rockspec") || name.ends_with(".rock") {
                std::fs::copy(entry.path(), dir.join(&name)).expect("copy");
            }
        }
        let out = if side == "ours" {
            s.bare_cmd()
                .args(["admin", "make-manifest"])
                .arg(&dir)
                .output()
                .expect("make-manifest")
        } else {
            s.program("luarocks-admin")
                .args(["--lua-version", "5.4", "make_manifest"])
                .arg(&dir)
                .output()
                .expect("luarocks-admin")
        };
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        dirs.push(dir);
    }
    // The repository tables agree (and, for rockspecs alone, the bytes:
    // checked by hand). LuaRocks also fills `modules`/`commands` from the
    // binary rocks' rock_manifest; nothing reads them from a server's
    // manifest, so rockstore leaves them empty: the one difference.
    for file in ["manifest", "manifest-5.1", "manifest-5.3", "manifest-5.4"] {
        let read = |d: &Path| {
            let bytes = std::fs::read(d.join(file)).expect(file);
            let manifest =
                rockstore::manifest::RepositoryManifest::from_bytes(file, &bytes).expect("reads");
            manifest
                .repository
                .into_iter()
                .map(|(name, versions)| {
                    let versions: Vec<(String, Vec<String>)> = versions
                        .into_iter()
                        .map(|(v, e)| {
                            let mut arches = e.arches;
                            arches.sort();
                            (v, arches)
                        })
                        .collect();
                    (name, versions)
                })
                .collect::<Vec<_>>()
        };
        let ours = read(&dirs[0]);
        assert!(!ours.is_empty(), "{file}");
        assert_eq!(ours, read(&dirs[1]), "{file}");
    }
    // The index.html, byte for byte.
    let index = |d: &Path| std::fs::read_to_string(d.join("index.html")).expect("index.html");
    let (ours, theirs) = (index(&dirs[0]), index(&dirs[1]));
    let first_difference = ours.lines().zip(theirs.lines()).find(|(a, b)| a != b);
    assert_eq!(ours, theirs, "index.html: {first_difference:?}");
    assert!(ours.contains("External dependencies:</b> foo"), "{ours}");
}

/// `admin add` to a local server directory leaves what `luarocks-admin add
/// --server file://…` leaves (the files, `manifest`, `manifest-5.x` and
/// their zips); `admin remove` takes files out again, where LuaRocks
/// refuses anything but rsync.
#[test]
#[cfg_attr(not(has_luarocks), ignore = "needs luarocks")]
fn admin_add_and_remove_update_a_local_server_as_luarocks_admin() {
    if !need(&["luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let files = [
        "purelua-1.0-1.rockspec",
        "cmulti-1.0-1.src.rock",
        "binrock-1.0-1.all.rock",
    ];
    let mut seen = Vec::new();
    for side in ["ours", "theirs"] {
        let server = s.dir(&format!("srv-{side}"));
        let home = s.dir(&format!("home-{side}"));
        // LuaRocks 3.8 copies through its cache and fails when the cache
        // directory is missing (recorded, not copied).
        let cache = home
            .join(".cache/luarocks")
            .join(server.display().to_string().replace('/', "_"));
        std::fs::create_dir_all(&cache).expect("cache");
        let mut cmd = if side == "ours" {
            let mut c = s.cmd::<[&str; 0], &str>([]);
            c.arg("admin");
            c
        } else {
            s.program("luarocks-admin")
        };
        let out = cmd
            .env("HOME", &home)
            .args(["add", "--no-refresh", "--server"])
            .arg(format!("file://{}", server.display()))
            .args(files.iter().map(|f| repo.dir.join(f)))
            .output()
            .expect("add");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let mut listing: Vec<(String, String)> = std::fs::read_dir(&server)
            .expect("server")
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let bytes = std::fs::read(e.path()).expect("read");
                let content = if name.ends_with(".zip") {
                    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
                    let mut inner = zip.by_index(0).expect("entry");
                    let mut text = format!("{}:", inner.name());
                    inner.read_to_string(&mut text).expect("unzip");
                    text
                } else {
                    text(&bytes)
                };
                (name, content)
            })
            .collect();
        listing.sort();
        seen.push(listing);
        let said = text(&out.stdout);
        assert_eq!(said.matches("Copying file").count(), 3, "{side}: {said}");
        assert!(said.contains("Updating manifest..."), "{side}: {said}");
    }
    assert_eq!(
        seen[0], seen[1],
        "the server directory: ours, then luarocks-admin's"
    );
    assert!(seen[0].iter().any(|(n, _)| n == "manifest-5.4.zip"));

    let server = s.tmp.path().join("srv-ours");
    let out = s
        .cmd(["admin", "remove", "--server"])
        .arg(&server)
        .arg("purelua-1.0-1.rockspec")
        .output()
        .expect("remove");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!server.join("purelua-1.0-1.rockspec").exists());
    let manifest = std::fs::read_to_string(server.join("manifest-5.4")).expect("manifest");
    assert!(
        !manifest.contains("purelua") && manifest.contains("cmulti"),
        "{manifest}"
    );
    let out = s
        .program("luarocks-admin")
        .args(["remove", "--server"])
        .arg(format!(
            "file://{}",
            s.tmp.path().join("srv-theirs").display()
        ))
        .arg("purelua-1.0-1.rockspec")
        .output()
        .expect("luarocks-admin remove");
    assert!(!out.status.success(), "LuaRocks removes only over rsync");
    let out = s
        .cmd(["admin", "add", "--server", "https://example.invalid/rocks"])
        .arg(repo.dir.join("purelua-1.0-1.rockspec"))
        .output()
        .expect("add remote");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("only a local rocks server directory"));
}

/// `admin refresh-cache` downloads a server's manifest anew: a rock the
/// server gained within the manifest's cache time is found after it.
#[test]
fn admin_refresh_cache_fetches_the_manifest_anew() {
    let s = Sandbox::new();
    let root = s.dir("fresh-repo");
    let server = crate::rocks_server::HttpServer::start(root.clone());
    let manifest = |names: &[&str]| {
        let entries: Vec<(String, String, String)> = names
            .iter()
            .map(|n| ((*n).to_owned(), "1.0-1".to_owned(), "rockspec".to_owned()))
            .collect();
        crate::rocks_server::render_manifest(&entries)
    };
    std::fs::write(root.join("manifest-5.4"), manifest(&["oldrock"])).expect("manifest");
    let search = || {
        let out = s
            .cmd([
                "--lua-version",
                "5.4",
                "--only-server",
                &server.base,
                "search",
                "rock",
                "--porcelain",
            ])
            .output()
            .expect("search");
        text(&out.stdout)
    };
    assert!(search().contains("oldrock"));
    std::fs::write(root.join("manifest-5.4"), manifest(&["oldrock", "newrock"])).expect("manifest");
    assert!(
        !search().contains("newrock"),
        "the cached manifest is used for a while"
    );
    let out = s
        .cmd([
            "--lua-version",
            "5.4",
            "--only-server",
            &server.base,
            "admin",
            "refresh-cache",
        ])
        .output()
        .expect("refresh");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Refreshing cache"));
    assert!(search().contains("newrock"), "after the refresh");
}
