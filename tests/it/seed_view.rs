//! The seed stack from a cache's LuaRocks view: rockstore builds
//! `luasocket` (C), `copas`, `lualogging` and `luamqtt` (the self-written
//! stand-ins of `integration/seed/`, served here), pushes them with
//! `copy --luarocks-view` to nginx, and stock Debian `luarocks` (3.8)
//! installs all four from the view with 0 compiler runs; `lua5.4` loads
//! them from its tree.

use std::path::{Path, PathBuf};

use crate::cache::nginx_engine;
use crate::rocks_server::{render_manifest, tarball, HttpServer};
use crate::support::{need, project_dir, text, Sandbox};

const SEED: [(&str, &str); 4] = [
    ("luasocket", "3.1.0"),
    ("copas", "4.7.0"),
    ("lualogging", "1.8.2"),
    ("luamqtt", "3.4.3"),
];

/// The seed stand-ins as a rocks server: tarballs, rockspecs, manifest.
fn seed_server(root: &Path) -> HttpServer {
    let dir = root.join("seed-repo");
    std::fs::create_dir_all(&dir).expect("repo");
    let server = HttpServer::start(dir.clone());
    let fixtures = project_dir().join("integration/seed");
    let mut entries = Vec::new();
    for (name, version) in SEED {
        let top = format!("{name}-{version}");
        std::fs::write(
            dir.join(format!("{top}.tar.gz")),
            tarball(&fixtures.join(&top), &top),
        )
        .expect("tarball");
        let spec = format!("{top}-1.rockspec");
        let text = std::fs::read_to_string(fixtures.join("specs").join(&spec)).expect("spec");
        std::fs::write(dir.join(&spec), text.replace("@BASE@", &server.base)).expect("spec");
        entries.push((
            name.to_owned(),
            format!("{version}-1"),
            "rockspec".to_owned(),
        ));
    }
    std::fs::write(dir.join("manifest-5.4"), render_manifest(&entries)).expect("manifest");
    server
}

fn counting_cc(dir: &Path) -> PathBuf {
    let cc = dir.join("count-cc");
    std::fs::write(
        &cc,
        "#!/bin/sh\necho \"$@\" >> \"${CC_LOG:-/dev/null}\"\nexec gcc \"$@\"\n",
    )
    .expect("cc");
    std::fs::set_permissions(&cc, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    cc
}

fn compiles(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.contains(" -c ")).count())
        .unwrap_or(0)
}

#[test]
fn stock_luarocks_installs_the_seed_stack_from_the_view_with_no_compiler() {
    if !need(&["lua5.4", "gcc", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let Some(engine) = nginx_engine(s.tmp.path()) else {
        return;
    };
    let server = seed_server(s.tmp.path());
    let cc = counting_cc(s.tmp.path());
    let ours_log = s.tmp.path().join("rockstore-cc.log");
    let rockstore = |args: &[&str]| {
        let mut cmd = s.bare_cmd();
        cmd.env("CC_LOG", &ours_log)
            .arg("--store")
            .arg(s.tmp.path().join("store"))
            .arg("--tree")
            .arg(s.tmp.path().join("tree"))
            .args(["--only-server", &server.base, "--lua-version", "5.4"])
            .args(args);
        if args.first() == Some(&"install") {
            cmd.arg(format!("CC={}", cc.display()));
        }
        let out = cmd.output().expect("rockstore");
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "rockstore {args:?}:\n{said}");
        said
    };
    for (name, _) in SEED {
        rockstore(&["install", name]);
    }
    assert!(
        compiles(&ours_log) >= 2,
        "luasocket's two C files were built"
    );
    let key = crate::cache::view_key(&s).display().to_string();
    let said = rockstore(&[
        "copy",
        "--to",
        &engine.url,
        "--luarocks-view",
        "--secret-key-file",
        &key,
    ]);
    assert!(said.contains("LuaRocks view: 4 rock(s) written"), "{said}");

    // Stock LuaRocks: its own config naming the counting compiler.
    let platform = format!("linux-{}", std::env::consts::ARCH);
    let lr_log = s.tmp.path().join("luarocks-cc.log");
    let config = s.tmp.path().join("luarocks-config.lua");
    std::fs::write(
        &config,
        format!("variables = {{ CC = {:?} }}\n", cc.display().to_string()),
    )
    .expect("config");
    let tree = s.tmp.path().join("lr-tree");
    let view = format!("{}/luarocks/5.4/{platform}", engine.url);
    let luarocks = |args: &[&str]| {
        let out = s
            .program("luarocks")
            .env("LUAROCKS_CONFIG", &config)
            .env("CC_LOG", &lr_log)
            .args(["--lua-version", "5.4", "--only-server", &view, "--tree"])
            .arg(&tree)
            .args(args)
            .output()
            .expect("luarocks");
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "luarocks {args:?}:\n{said}");
        said
    };
    assert_eq!(
        luarocks(&["config", "variables.CC"]).trim(),
        cc.display().to_string()
    );
    let said = luarocks(&["install", "luasocket"]);
    assert!(
        said.contains(&format!("luasocket-3.1.0-1.{platform}.rock")),
        "the binary rock: {said}"
    );
    for name in ["copas", "lualogging", "luamqtt"] {
        luarocks(&["install", name]);
    }
    assert_eq!(compiles(&lr_log), 0, "luarocks ran the compiler");
    let listed = luarocks(&["list", "--porcelain"]);
    for (name, version) in SEED {
        assert!(listed.contains(&format!("{name}\t{version}-1")), "{listed}");
    }
    let path = luarocks(&["path"]);
    let out = s
        .program("sh")
        .args([
            "-c",
            &format!("{path}\nexec lua5.4 -e \"$0\""),
            "local m = require('mqtt'); local log = require('logging.console')(); \
             print(require('socket.core')._VERSION, require('mime.core').dot(1), \
             require('copas')._VERSION, m.protocol.CONNECT, log:log('INFO', 'up'))",
        ])
        .output()
        .expect("lua");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "LuaSocket 3.1.0 (stand-in)\t2\tCopas 4.7.0 (stand-in)\t1\tINFO up"
    );
}
