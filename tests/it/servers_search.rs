//! Reading rocks servers: `search` as LuaRocks lists it, the JSON and
//! local-directory fallbacks, `--dev` and `--only-sources`.

use crate::rocks_server::Repo;
use crate::support::{need, ours_or_luarocks, text, Sandbox};

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
