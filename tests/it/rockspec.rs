//! Rockspec loading, differential against Debian's LuaRocks: every fixture
//! under `integration/rockspecs/` is loaded by LuaRocks' own loader (through
//! `integration/oracle/rockspec_json.lua`) and by `rockstore rockspec
//! --json`; both must accept it with equal JSON, or both refuse it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::support::{luarocks_oracle, project_dir, text, Sandbox};

fn fixtures() -> Vec<PathBuf> {
    let dir = project_dir().join("integration/rockspecs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rockspec"))
        .collect();
    files.sort();
    files
}

/// Numbers compare by value: LuaRocks prints `4` where serde prints `4.0`.
fn normalise(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Number(n) => n.as_f64().map_or(J::Null, |f| J::String(format!("{f}"))),
        J::Array(a) => J::Array(a.into_iter().map(normalise).collect()),
        J::Object(o) => J::Object(o.into_iter().map(|(k, v)| (k, normalise(v))).collect()),
        other => other,
    }
}

#[test]
fn rockspecs_load_exactly_as_luarocks_loads_them() {
    let Some(mut oracle) = luarocks_oracle() else {
        return;
    };
    let sandbox = Sandbox::new();
    let config = sandbox.dir("cfg").join("config.lua");
    std::fs::write(&config, "").expect("config");
    let files = fixtures();
    assert!(files.len() >= 55, "fixtures went missing: {}", files.len());
    let out = oracle
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sandbox.dir("home"))
        .env("LUAROCKS_CONFIG", &config)
        // Nor the machine's /etc/luarocks.
        .env("LUAROCKS_SYSCONFDIR", sandbox.dir("etc"))
        .arg(project_dir().join("integration/oracle/rockspec_json.lua"))
        .args(&files)
        .output()
        .expect("run the LuaRocks oracle");
    assert!(out.status.success(), "oracle failed: {}", text(&out.stderr));
    let mut verdicts: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for line in text(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("oracle JSON");
        verdicts.insert(v["file"].as_str().expect("file").to_owned(), v);
    }
    assert_eq!(verdicts.len(), files.len());

    let (mut accepted, mut refused, mut mismatches) = (0, 0, Vec::new());
    for file in &files {
        let verdict = &verdicts[&file.display().to_string()];
        let ours = sandbox
            .bare_cmd()
            .arg("rockspec")
            .arg(file)
            .arg("--json")
            .output()
            .expect("run");
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        match (verdict.get("ok"), ours.status.success()) {
            (Some(expected), true) => {
                accepted += 1;
                let got: serde_json::Value =
                    serde_json::from_slice(&ours.stdout).expect("our JSON");
                if normalise(got.clone()) != normalise(expected.clone()) {
                    mismatches.push(format!(
                        "{name}:\n  luarocks: {expected}\n  rockstore: {got}"
                    ));
                }
            }
            (None, false) => {
                refused += 1;
                let stderr = text(&ours.stderr);
                assert!(
                    stderr.starts_with("Error: "),
                    "{name}: unclear error: {stderr}"
                );
            }
            (Some(_), false) => mismatches.push(format!(
                "{name}: luarocks accepts, rockstore refuses: {}",
                text(&ours.stderr)
            )),
            (None, true) => mismatches.push(format!(
                "{name}: luarocks refuses ({}), rockstore accepts",
                verdict["error"]
            )),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} differences:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(
        accepted >= 40 && refused >= 12,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn platform_flag_selects_other_overrides() {
    let sandbox = Sandbox::new();
    let file = project_dir().join("integration/rockspecs/depmerge-1.0-1.rockspec");
    let deps = |platform: &str| -> Vec<String> {
        let out = sandbox
            .bare_cmd()
            .args(["rockspec", "--json", "--platform", platform])
            .arg(&file)
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["dependencies"]
            .as_array()
            .expect("list")
            .iter()
            .map(|d| d["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(deps("linux"), ["c", "e", "f"]);
    assert_eq!(deps("freebsd"), ["d", "e", "f"]);
    assert_eq!(deps("windows"), ["w", "b"]);
}

#[test]
fn lint_accepts_good_rockspecs_and_names_what_is_wrong() {
    let sandbox = Sandbox::new();
    let good = project_dir().join("integration/rockspecs/described-2.1-3.rockspec");
    let out = sandbox
        .bare_cmd()
        .arg("lint")
        .arg(&good)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));

    let dir = sandbox.dir("specs");
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        p
    };
    let cases = [
        (
            write("nolicense-1.0-1.rockspec", "package='nolicense' version='1.0-1' source={url='x'} build={type='none'}"),
            "description.license",
        ),
        (
            write(
                "badmod-1.0-1.rockspec",
                "package='badmod' version='1.0-1' description={license='MIT'} source={url='x'} build={type='builtin', modules={m=true}}",
            ),
            "build.modules.m: expected a .lua file, a C source, or a table with sources",
        ),
        (
            write(
                "notype-1.0-1.rockspec",
                "package='notype' version='1.0-1' description={license='MIT'} source={url='x'} build={}",
            ),
            "build.type",
        ),
        (
            write(
                "badvar-1.0-1.rockspec",
                "package='badvar' version='1.0-1' description={license='MIT'} source={url='x'} build={type='make', build_variables={CFLAGS={}}}",
            ),
            "build.build_variables.CFLAGS: expected a string",
        ),
        (write("unknown-1.0-1.rockspec", "package='unknown' version='1.0-1' source={url='x'} build={} foo=1"), "foo: unknown field"),
    ];
    for (file, expected) in cases {
        let out = sandbox
            .bare_cmd()
            .arg("lint")
            .arg(&file)
            .output()
            .expect("run");
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{} should fail lint", file.display());
        assert!(
            stderr.contains(expected),
            "{}: expected {expected:?} in\n{stderr}",
            file.display()
        );
    }
}

/// `new_version` against Debian's `luarocks new_version`, row by row, each
/// in its own directory, over the fixture server: the same exit code,
/// stdout, stderr and rockspec bytes.
#[test]
#[cfg_attr(not(has_luarocks), ignore = "needs luarocks")]
fn new_version_writes_what_luarocks_new_version_writes() {
    if !crate::support::need(&["luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let spec = std::fs::read(repo.dir.join("purelua-1.0-1.rockspec")).expect("spec");
    let rows: &[(&str, &[&str], &str)] = &[
        (
            "the next revision",
            &["purelua-1.0-1.rockspec"],
            "purelua-1.0-2.rockspec",
        ),
        (
            "a new version whose source exists: its md5",
            &["purelua-1.0-1.rockspec", "2.0"],
            "purelua-2.0-1.rockspec",
        ),
        (
            "a new version whose guessed URL does not answer",
            &["purelua-1.0-1.rockspec", "3.0"],
            "purelua-3.0-1.rockspec",
        ),
        (
            "by name, with a tag and a revision, into --dir",
            &["purelua", "2.1-3", "--tag", "v2.1", "--dir", "out"],
            "out/purelua-2.1-3.rockspec",
        ),
        (
            "the tag gives the version",
            &["purelua-1.0-1.rockspec", "--tag", "v2.0"],
            "purelua-2.0-1.rockspec",
        ),
        (
            "a new URL",
            &[
                "purelua-1.0-1.rockspec",
                "2.0",
                &format!("{}/purelua-2.0.tar.gz", repo.server.base),
            ],
            "purelua-2.0-1.rockspec",
        ),
    ];
    for (n, (what, args, written)) in rows.iter().enumerate() {
        let mut seen = Vec::new();
        for side in ["ours", "theirs"] {
            let dir = s.dir(&format!("nv-{n}-{side}"));
            std::fs::write(dir.join("purelua-1.0-1.rockspec"), &spec).expect("copy");
            let mut cmd = if side == "ours" {
                s.cmd::<[&str; 0], &str>([])
            } else {
                s.program("luarocks")
            };
            let out = cmd
                .args(["--only-server", &repo.server.base])
                .arg("new_version")
                .args(*args)
                .current_dir(&dir)
                .output()
                .expect("run");
            let file = std::fs::read(dir.join(written)).unwrap_or_default();
            seen.push((
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr),
                text(&file),
            ));
        }
        assert_eq!(seen[0], seen[1], "{what}: ours, then luarocks'");
        assert!(!seen[0].3.is_empty(), "{what}: a rockspec was written");
        let said = format!("{}{}{}", seen[0].1, seen[0].2, seen[0].3);
        let expected = match n {
            0 => "version = \"1.0-2\"",
            1 | 5 => "Updating MD5 checksum",
            2 => "url = \"http://127.0.0.1",
            3 => "tag = \"v2.1\"",
            _ => "version = \"2.0-1\"",
        };
        assert!(said.contains(expected), "{what}: {said}");
    }
}

/// `write_rockspec` against Debian's `luarocks write_rockspec`, row by
/// row, each tool in its own copy of the project: the same exit code,
/// stdout, stderr (the program's name aside) and template bytes.
#[test]
#[cfg_attr(not(all(has_luarocks, has_git)), ignore = "needs luarocks, git")]
fn write_rockspec_writes_the_template_luarocks_writes() {
    if !crate::support::need(&["luarocks", "git"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let project = |root: &std::path::Path, remote: Option<&str>| {
        for d in ["src/myproj", "bin", "doc", "tests"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::write(
            root.join("README.md"),
            "# myproj\n\n[![badge](x)](y)\n\nA small library that does things for you. It is long enough to be cut at its first sentence, which LuaRocks does.\n\nMore.\n",
        )
        .expect("readme");
        std::fs::write(root.join("src/myproj/init.lua"), "return {}\n").expect("init");
        std::fs::write(root.join("src/myproj/util.lua"), "return 1\n").expect("util");
        std::fs::write(
            root.join("src/core.c"),
            "#include <lua.h>\nint luaopen_myproj_core(lua_State *L) { return 0; }\n",
        )
        .expect("c");
        std::fs::write(root.join("src/plain.c"), "int x;\n").expect("c");
        std::fs::write(root.join("bin/mycmd"), "#!/usr/bin/env lua\n").expect("bin");
        if let Some(remote) = remote {
            for args in [
                &["init", "-q", "."][..],
                &["remote", "add", "origin", remote][..],
            ] {
                let out = std::process::Command::new("git")
                    .args(args)
                    .current_dir(root)
                    .output()
                    .expect("git");
                assert!(out.status.success());
            }
        }
    };
    let archive = format!("{}/purelua-1.0.tar.gz", repo.server.base);
    let rows: &[(&str, Option<&str>, &[&str])] = &[
        (
            "a git project from github, with libraries",
            Some("https://github.com/me/myproj.git"),
            &["--lua-versions", "5.1,5.2", "--lib", "ssl,crypto"],
        ),
        (
            "an ssh remote, every field given",
            Some("git@gitlab.com:me/myproj.git"),
            &[
                "--license",
                "MIT",
                "--summary",
                "S",
                "--detailed",
                "D",
                "--homepage",
                "H",
                "--rockspec-format",
                "3.0",
                "--tag",
                "v1.2",
                "--lua-versions",
                "5.4",
            ],
        ),
        ("no remote, no Lua versions", None, &[]),
        ("a name and a location", None, &["myname", "."]),
        (
            "an archive URL",
            None,
            &[&archive, "--lua-versions", "5.3,5.4"],
        ),
        ("a location without a name", None, &["elsewhere"]),
    ];
    // One tool's `write_rockspec ARGS` in `dir`: what it said, and each
    // rockspec there (its name, then its text).
    let write_rockspec_in = |side: &str, dir: &std::path::Path, args: &[&str]| {
        let mut cmd = if side == "ours" {
            s.cmd::<[&str; 0], &str>([])
        } else {
            s.program("luarocks")
        };
        let out = cmd
            .arg("write_rockspec")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run");
        let mut written: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "rockspec"))
            .map(|e| {
                format!(
                    "{}\n{}",
                    e.file_name().to_string_lossy(),
                    std::fs::read_to_string(e.path()).expect("read")
                )
            })
            .collect();
        written.sort();
        (out, written)
    };
    for (n, (what, remote, args)) in rows.iter().enumerate() {
        let mut seen = Vec::new();
        for side in ["ours", "theirs"] {
            let dir = s.dir(&format!("wr-{n}-{side}/myproj"));
            project(&dir, *remote);
            let (out, written) = write_rockspec_in(side, &dir, args);
            let base = dir.display().to_string();
            let norm = |t: String| {
                t.replace(&base, "DIR")
                    .replace("'/usr/bin/luarocks help", "'PROGRAM help")
                    .replace("'rockstore help", "'PROGRAM help")
                    .replace("Error: ", "error: ")
                    // LuaRocks opens an error with a blank line.
                    .trim_start()
                    .to_owned()
            };
            seen.push((
                out.status.code(),
                norm(text(&out.stdout)),
                norm(text(&out.stderr)),
                written.join("\n"),
            ));
        }
        assert_eq!(seen[0], seen[1], "{what}: ours, then luarocks'");
        if n != 5 {
            assert!(!seen[0].3.is_empty(), "{what}: a template was written");
        }
    }
    // A git URL: both clone it (at the tag, with --tag) and read the
    // checkout. Compared: exit code, stdout and the template; stderr holds
    // git's own chatter on LuaRocks' side. LuaRocks 3.8 writes a git+file
    // URL's path alone (its git_file fetcher strips the protocol from the
    // rockspec it is filling); rockstore keeps the URL, which `build` can
    // fetch.
    let git_repo = s.tmp.path().join("gitrock.git");
    let git_url = format!("git+file://{}", git_repo.display());
    for args in [
        &[git_url.as_str(), "--lua-versions", "5.4"][..],
        &["--tag", "v1.0", git_url.as_str(), "--lua-versions", "5.4"],
    ] {
        let mut seen = Vec::new();
        for side in ["ours", "theirs"] {
            let dir = s.dir(&format!("wr-git-{}-{side}", args.len()));
            let (out, written) = write_rockspec_in(side, &dir, args);
            let written: Vec<String> = written
                .iter()
                .map(|t| {
                    t.replace(
                        &format!("url = \"{}\"", git_repo.display()),
                        &format!("url = \"{git_url}\""),
                    )
                })
                .collect();
            seen.push((
                out.status.code(),
                text(&out.stdout).replace(&dir.display().to_string(), "DIR"),
                written,
            ));
        }
        assert_eq!(seen[0], seen[1], "{args:?}: ours, then luarocks'");
        assert!(
            seen[0]
                .2
                .first()
                .is_some_and(|t| t.contains("gitrock = \"gitrock.lua\"")),
            "{:?}",
            seen[0]
        );
    }
}
