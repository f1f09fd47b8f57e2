//! Fetching and building rocks from a real HTTP server on 127.0.0.1, with the
//! real compiler, then loading the results in real `lua5.1`/`lua5.4`: pure
//! Lua and C rocks, external libraries, every build backend and archive
//! kind, recipes reused. Rock files, servers, bad input, signing and
//! `admin` are in `pack_unpack`, `servers_search`, `bad_sources`, `sign`
//! and `admin`; the helpers here (`build`, `lua_eval`, `store_is_clean`)
//! serve them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rocks_server::Repo;
use crate::support::{need, skip_or_fail, text, Sandbox};

/// `rockstore --only-server <repo> ARGS…`, asserting success; the item path
/// (the last line of stdout).
pub(crate) fn build(s: &Sandbox, repo: &Repo, args: &[&str]) -> PathBuf {
    let mut all = vec!["--only-server", &repo.server.base, "build", "--no-install"];
    all.extend_from_slice(args);
    let out = s.ok(all);
    PathBuf::from(out.lines().last().expect("item path line"))
}

/// Runs `lua` with the item's `lua/` and `lib/` on its paths; stdout.
pub(crate) fn lua_eval(lua: &str, items: &[&Path], code: &str) -> String {
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

pub(crate) fn store_is_clean(s: &Sandbox) {
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
