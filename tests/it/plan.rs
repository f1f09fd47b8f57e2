//! Plan, then execute: `--dry-run` plans against the installs that follow,
//! builds of independent rocks running at once (observed by a compiler
//! that records how many compilers run together), and failures and
//! SIGKILL in the middle of a parallel install leaving the tree on its
//! generation and the store verifying clean.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::rocks_server::{render_manifest, tarball, HttpServer};
use crate::support::{need, project_dir, said, text, Sandbox};

const INDEPENDENT: [&str; 6] = ["par1", "par2", "par3", "par4", "par5", "par6"];

/// The closure of `integration/parallel/`, written and served.
struct ParRepo {
    server: HttpServer,
}

impl ParRepo {
    fn new(root: &Path) -> ParRepo {
        let templates = project_dir().join("integration/parallel");
        let read = |f: &str| std::fs::read_to_string(templates.join(f)).expect("template");
        let (c, rock, top) = (
            read("par.c.in"),
            read("par.rockspec.in"),
            read("top.rockspec.in"),
        );
        let dir = root.join("par-repo");
        let src = root.join("par-src");
        std::fs::create_dir_all(&dir).expect("repo");
        let server = HttpServer::start(dir.clone());
        let mut entries = Vec::new();
        let mut write_rock = |name: &str, file: &str, body: String, spec: String| {
            let top_dir = src.join(format!("{name}-1.0"));
            std::fs::create_dir_all(&top_dir).expect("src");
            std::fs::write(top_dir.join(file), body).expect("source");
            let tar = tarball(&top_dir, &format!("{name}-1.0"));
            std::fs::write(dir.join(format!("{name}-1.0.tar.gz")), tar).expect("tarball");
            let spec = spec.replace("@NAME@", name).replace("@BASE@", &server.base);
            std::fs::write(dir.join(format!("{name}-1.0-1.rockspec")), spec).expect("spec");
            entries.push((name.to_owned(), "1.0-1".to_owned(), "rockspec".to_owned()));
        };
        for name in INDEPENDENT {
            write_rock(
                name,
                &format!("{name}.c"),
                c.replace("@NAME@", name),
                rock.clone(),
            );
        }
        // The same rock, but its C does not compile.
        write_rock(
            "parbad",
            "parbad.c",
            "#error parbad does not compile, on purpose\n".to_owned(),
            rock.clone(),
        );
        let quoted = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write_rock(
            "partop",
            "partop.lua",
            "return {}\n".to_owned(),
            top.replace("@DEPS@", &quoted(&INDEPENDENT)),
        );
        let mut bad_closure: Vec<&str> = INDEPENDENT[..3].to_vec();
        bad_closure.push("parbad");
        bad_closure.extend(&INDEPENDENT[3..]);
        write_rock(
            "partopbad",
            "partopbad.lua",
            "return {}\n".to_owned(),
            top.replace("@DEPS@", &quoted(&bad_closure)),
        );
        let manifest = render_manifest(&entries);
        std::fs::write(dir.join("manifest-5.4"), &manifest).expect("manifest");
        ParRepo { server }
    }
}

/// A `CC` that records, for each call, how many compilers were running
/// when it started. The first call waits (up to `wait_ticks` × 50 ms) for
/// a second one to start, so overlap is seen whenever the executor allows
/// it, however fast each compile is; no other call waits.
fn overlap_cc(root: &Path, wait_ticks: u32) -> (PathBuf, PathBuf) {
    let dir = root.join("cc-overlap");
    std::fs::create_dir_all(&dir).expect("cc dir");
    let cc = root.join("overlap-cc");
    let script = format!(
        r#"#!/bin/sh
d='{dir}'
touch "$d/running.$$"
if mkdir "$d/waiter" 2>/dev/null; then
  i=0
  while [ $i -lt {wait_ticks} ]; do
    [ "$(ls "$d" | grep -c '^running\.')" -ge 2 ] && break
    i=$((i+1))
    sleep 0.05
  done
fi
ls "$d" | grep -c '^running\.' >> "$d/counts"
gcc "$@"
rc=$?
rm -f "$d/running.$$"
exit $rc
"#,
        dir = dir.display()
    );
    std::fs::write(&cc, script).expect("cc");
    std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (cc, dir)
}

fn rs(s: &Sandbox, server: &str, tree: &Path) -> std::process::Command {
    let mut cmd = s.cmd(["--only-server", server, "--lua-version", "5.4"]);
    cmd.arg("--tree").arg(tree);
    cmd
}

fn most_at_once(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("counts"))
        .expect("the compiler ran")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn independent_c_rocks_build_at_once_up_to_jobs() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    // -j 1 waits 3 s for a second compiler that must not come; -j 2 up
    // to 60 s for one that must.
    for (jobs, wait_ticks) in [(1usize, 60), (2, 1200)] {
        let s = Sandbox::new();
        let repo = ParRepo::new(s.tmp.path());
        let (cc, dir) = overlap_cc(s.tmp.path(), wait_ticks);
        let tree = s.tmp.path().join("tree");
        let out = rs(&s, &repo.server.base, &tree)
            .args(["install", "partop", "-j", &jobs.to_string()])
            .env("CC", &cc)
            .output()
            .expect("run");
        assert!(out.status.success(), "-j {jobs}: {}", text(&out.stderr));
        let most = most_at_once(&dir);
        assert_eq!(
            most, jobs,
            "-j {jobs}: at most {jobs} compilers at once, and that many when allowed"
        );
        let err = said(&out);
        for name in INDEPENDENT {
            assert!(err.contains(&format!("{name} 1.0-1: built ")), "{err}");
        }
        // Every module loads.
        let listed = text(
            &rs(&s, &repo.server.base, &tree)
                .args(["list", "--porcelain"])
                .output()
                .expect("list")
                .stdout,
        );
        assert_eq!(listed.lines().count(), 7, "{listed}");
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn a_failing_build_in_a_parallel_install_leaves_the_tree_and_store_clean() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = ParRepo::new(s.tmp.path());
    let tree = s.tmp.path().join("tree");
    let ok = |args: &[&str]| {
        let out = rs(&s, &repo.server.base, &tree)
            .args(args)
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    ok(&["install", "par1"]);
    let before = ok(&["generations", "--json"]);
    let out = rs(&s, &repo.server.base, &tree)
        .args(["install", "partopbad", "-j", "2"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = said(&out);
    assert!(err.contains("parbad"), "the failure names the rock: {err}");
    assert!(
        !err.contains("partopbad 1.0-1: built"),
        "nothing after the failure is built: {err}"
    );
    assert_eq!(ok(&["generations", "--json"]), before, "no new generation");
    let listed = ok(&["list", "--porcelain"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    s.ok(["verify"]);
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn sigkill_in_the_executor_leaves_the_previous_generation() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = ParRepo::new(s.tmp.path());
    let tree = s.tmp.path().join("tree");
    let out = rs(&s, &repo.server.base, &tree)
        .args(["install", "par1"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    for point in ["executor-step-done@1", "executor-step-done@3"] {
        let mut cmd = rs(&s, &repo.server.base, &tree);
        cmd.args(["install", "partop", "-j", "2"]);
        let (mut child, _err) = crate::support::stopped_at_failpoint(cmd, point);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let gens: serde_json::Value = serde_json::from_str(&text(
            &rs(&s, &repo.server.base, &tree)
                .args(["generations", "--json"])
                .output()
                .expect("generations")
                .stdout,
        ))
        .expect("json");
        assert_eq!(gens.as_array().map(Vec::len), Some(1), "killed at {point}");
        s.ok(["verify"]);
    }
    // What the killed runs admitted is reused; the install completes.
    let out = rs(&s, &repo.server.base, &tree)
        .args(["install", "partop"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(said(&out).contains("already built"));
}

/// The plan's steps as `(name version, action kind)`.
fn plan_steps(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                format!(
                    "{} {}",
                    s["name"].as_str().unwrap_or(""),
                    s["version"].as_str().unwrap_or("")
                ),
                s["action"]["kind"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn dry_run_plans_what_the_install_then_does_and_changes_nothing() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = ParRepo::new(s.tmp.path());
    let first = s.tmp.path().join("first");
    let second = s.tmp.path().join("second");
    let dry = |tree: &Path| {
        let out = rs(&s, &repo.server.base, tree)
            .args(["install", "partop", "--dry-run", "--json"])
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("plan json")
    };
    let plan = dry(&first);
    let steps = plan_steps(&plan);
    let mut expected: Vec<(String, String)> = INDEPENDENT
        .iter()
        .map(|n| (format!("{n} 1.0-1"), "build".to_owned()))
        .collect();
    expected.push(("partop 1.0-1".into(), "build".into()));
    assert_eq!(steps, expected);
    assert_eq!(plan["requested"], serde_json::json!(["partop 1.0-1"]));
    // partop's dependencies are steps 0..6; lua is the VM's.
    let deps = plan["steps"][6]["dependencies"].as_array().expect("deps");
    assert_eq!(deps.len(), 6);
    for (i, dep) in deps.iter().enumerate() {
        assert_eq!(dep["by"]["kind"], "step");
        assert_eq!(dep["by"]["step"], i);
    }
    assert_eq!(
        plan["steps"][0]["dependencies"][0]["by"]["kind"], "provided",
        "{plan}"
    );
    assert!(!first.exists(), "a dry run creates no tree");
    assert_eq!(s.items().len(), 0, "and builds nothing");

    let out = rs(&s, &repo.server.base, &first)
        .args(["install", "partop"])
        .output()
        .expect("install");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(
        &rs(&s, &repo.server.base, &first)
            .args(["list", "--porcelain"])
            .output()
            .expect("list")
            .stdout,
    );
    let installed: Vec<String> = listed
        .lines()
        .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let mut planned: Vec<String> = steps.iter().map(|(r, _)| r.clone()).collect();
    planned.sort();
    let mut installed_sorted = installed.clone();
    installed_sorted.sort();
    assert_eq!(
        installed_sorted, planned,
        "the install did what was planned"
    );

    // Into a second tree, every step is a reuse, and the install that
    // follows builds nothing.
    let again = plan_steps(&dry(&second));
    assert!(again.iter().all(|(_, a)| a == "reuse"), "{again:?}");
    let out = rs(&s, &repo.server.base, &second)
        .args(["install", "partop"])
        .output()
        .expect("install");
    assert!(out.status.success());
    let err = said(&out);
    assert!(!err.contains(": built "), "{err}");
    assert_eq!(err.matches("already built").count(), 7, "{err}");

    // Already installed: the plan says so in text too.
    let out = rs(&s, &repo.server.base, &first)
        .args(["install", "partop", "--dry-run"])
        .output()
        .expect("dry");
    assert!(out.status.success());
    let page = text(&out.stdout);
    assert!(page.contains("0 to build, 0 to reuse"), "{page}");
}

/// Stderr with the run's variable parts named: the server, the tree, items.
fn normalized(err: &str, base: &str, tree: &Path) -> String {
    err.replace(base, "@BASE@")
        .replace(&tree.display().to_string(), "@TREE@")
        .lines()
        .map(|line| match line.split_once(": built ") {
            Some((rock, _)) => format!("{rock}: built @ITEM@\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn progress_without_a_terminal_is_one_plain_line_per_rock() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = ParRepo::new(s.tmp.path());
    let run = |tree: &Path, extra: &[&str]| {
        let out = rs(&s, &repo.server.base, tree)
            .args(["install", "partop", "-j", "1"])
            .args(extra)
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", text(&out.stderr));
        // Status on stdout, as LuaRocks prints it; on stderr only the
        // generation made (nothing to warn about).
        assert_eq!(
            normalized(&text(&out.stderr), &repo.server.base, tree),
            format!(
                "(generation 1 of @TREE@, its first, which rollback cannot undo; `rockstore --store {} --tree @TREE@ --lua-version 5.4 purge` does)\n",
                s.store().display()
            )
        );
        normalized(&text(&out.stdout), &repo.server.base, tree)
    };
    let tree = s.tmp.path().join("plain");
    let mut expected = String::new();
    for n in INDEPENDENT {
        expected.push_str(&format!(
            "partop 1.0-1 depends on {n}: installing @BASE@/{n}-1.0-1.rockspec\n"
        ));
    }
    for n in INDEPENDENT.iter().chain(&["partop"]) {
        expected.push_str(&format!("{n} 1.0-1: built @ITEM@\n"));
    }
    // Then LuaRocks' line for each rock added, dependencies first (the
    // fixtures name no license).
    let mut announced = String::new();
    for n in INDEPENDENT.iter().chain(&["partop"]) {
        announced.push_str(&format!("{n} 1.0-1 is now installed in @TREE@\n\n"));
    }
    expected.push_str(&announced);
    assert_eq!(run(&tree, &[]), expected);
    // -q: the result only. -v: each compiler line too, as LuaRocks prints.
    let quiet = s.tmp.path().join("quiet");
    assert_eq!(run(&quiet, &["-q"]), announced);
    let verbose_tree = s.tmp.path().join("verbose");
    let out = rs(&s, &repo.server.base, &verbose_tree)
        .args(["install", "partop", "-j", "1", "-v", "CFLAGS=-O1 -fPIC"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = said(&out);
    for n in INDEPENDENT {
        assert!(
            err.lines()
                .any(|l| l.contains(" -O1 -fPIC") && l.contains(&format!("-c {n}.c -o {n}.o"))),
            "{err}"
        );
    }
}

/// Runs `cmd` (a shell line) under a pseudo-terminal (`script`); returns
/// everything written to it.
fn under_pty(s: &Sandbox, line: &str, envs: &[(&str, &str)]) -> String {
    if !need(&["script"]) {
        return String::new();
    }
    let mut cmd = s.program("script");
    cmd.args(["-qec", line, "/dev/null"]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("script");
    assert!(out.status.success(), "{}", text(&out.stdout));
    text(&out.stdout)
}

fn strip_ansi(screen: &str) -> String {
    let mut out = String::new();
    let mut chars = screen.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_gcc, has_script)),
    ignore = "needs lua5.4, gcc, script"
)]
fn progress_on_a_terminal_shows_each_build_and_the_whole() {
    if !need(&["lua5.4", "gcc", "script"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = ParRepo::new(s.tmp.path());
    for (name, colour) in [("colour", true), ("no-colour", false)] {
        // The first compile waits 3 s for a second that -j 1 never
        // starts, so the bars are drawn while it compiles.
        let root = s.dir(name);
        let (cc, _) = overlap_cc(&root, 60);
        let tree = root.join("tree");
        let line = format!(
            "'{}' --store '{}' --only-server '{}' --lua-version 5.4 --tree '{}' install partop -j 1",
            crate::support::bin(),
            s.store().display(),
            repo.server.base,
            tree.display()
        );
        let cc = cc.display().to_string();
        let mut envs = vec![("CC", cc.as_str()), ("TERM", "xterm")];
        if !colour {
            envs.push(("NO_COLOR", "1"));
        }
        let screen = under_pty(&s, &line, &envs);
        let plain = strip_ansi(&screen);
        assert!(plain.contains("Installing ["), "{plain}");
        assert!(
            !plain.contains("0/0"),
            "the bar waits for the plan: {plain}"
        );
        assert!(plain.contains("/7"), "the overall count: {plain}");
        assert!(
            plain.contains("par1 1.0-1 compiling par1.c"),
            "what the build does: {plain}"
        );
        for n in INDEPENDENT {
            assert!(plain.contains(&format!("{n} 1.0-1: built ")), "{plain}");
        }
        assert!(
            plain.contains("partop 1.0-1 is now installed in"),
            "{plain}"
        );
        let sgr_colour = screen.contains("\u{1b}[32m") || screen.contains("\u{1b}[36m");
        assert_eq!(
            sgr_colour, colour,
            "colour only without NO_COLOR: {screen:?}"
        );
    }
}

/// `ARGS` by our side or Debian's luarocks on `tree`, against `base`.
fn side_run(
    s: &Sandbox,
    base: &str,
    side: &str,
    tree: &Path,
    args: &[&str],
) -> std::process::Output {
    crate::support::ours_or_luarocks(s, side)
        .args(["--only-server", base, "--tree"])
        .arg(tree)
        .args(args)
        .output()
        .expect("run")
}

/// `name version` of every rock in `tree`, as `luarocks list` (Debian's,
/// reading the tree's manifest) or our `list` sees it.
fn listing(s: &Sandbox, side: &str, base: &str, tree: &Path) -> Vec<String> {
    let out = crate::support::ours_or_luarocks(s, side)
        .args(["--only-server", base, "--tree"])
        .arg(tree)
        .args(["list", "--porcelain"])
        .output()
        .expect("list");
    let mut rocks: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    rocks.sort();
    rocks
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn a_conflict_greedy_choice_cannot_meet_is_solved_by_backtracking_and_explained() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let base = repo.server.base.clone();
    let run = |side: &str, tree: &Path, args: &[&str]| side_run(&s, &base, side, tree, args);
    // LuaRocks, greedy: btx 2.0 takes btz 2.0; bty then needs btz < 2, so
    // btz 1.0 joins it, and 2.0 stays for btx ("Will not remove"): two
    // versions of one module, and `require "btz"` serves only one of them.
    let theirs = s.tmp.path().join("theirs");
    let out = run("theirs", &theirs, &["install", "bttop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        listing(&s, "theirs", &base, &theirs),
        [
            "bttop 1.0-1",
            "btx 2.0-1",
            "bty 1.0-1",
            "btz 1.0-1",
            "btz 2.0-1"
        ]
    );
    // Ours: one version of each that meets every constraint, and why.
    let ours = s.tmp.path().join("ours");
    let out = run("ours", &ours, &["install", "bttop"]);
    let err = said(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "Chose btx 1.0-1 instead of 2.0-1: btz is needed as `btz >= 2` by btx 2.0-1 and as `btz < 2` by bty 1.0-1"
        ),
        "{err}"
    );
    assert_eq!(
        listing(&s, "ours", &base, &ours),
        ["bttop 1.0-1", "btx 1.0-1", "bty 1.0-1", "btz 1.0-1"]
    );
    // The dry run plans the same, with the explanation among its notes.
    let fresh = s.tmp.path().join("fresh");
    let out = run("ours", &fresh, &["install", "bttop", "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let steps: Vec<String> = plan_steps(&plan).into_iter().map(|(r, _)| r).collect();
    assert_eq!(
        steps,
        ["btz 1.0-1", "btx 1.0-1", "bty 1.0-1", "bttop 1.0-1"]
    );
    assert!(plan["notes"][0]
        .as_str()
        .is_some_and(|n| n.starts_with("Chose btx 1.0-1 instead of 2.0-1")));

    // What a tree already has counts too: bty keeps btz < 2, so a plain
    // `install btx` backtracks to btx 1.0 where LuaRocks installs both btz.
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(format!("has-bty-{side}"));
        let out = run(side, &tree, &["install", "bty"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = run(side, &tree, &["install", "btx"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let expected: &[&str] = if side == "ours" {
            &["btx 1.0-1", "bty 1.0-1", "btz 1.0-1"]
        } else {
            &["btx 2.0-1", "bty 1.0-1", "btz 1.0-1", "btz 2.0-1"]
        };
        assert_eq!(listing(&s, side, &base, &tree), expected, "{side}");
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn a_conflict_without_solution_is_refused_before_building_with_its_derivation() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let base = repo.server.base.clone();
    let run = |side: &str, tree: &Path, args: &[&str]| side_run(&s, &base, side, tree, args);
    // btnone needs btx >= 2 (so btz >= 2) and bty (so btz < 2).
    // LuaRocks installs it, with both btz versions side by side.
    let theirs = s.tmp.path().join("theirs");
    let out = run("theirs", &theirs, &["install", "btnone"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        listing(&s, "theirs", &base, &theirs),
        [
            "btnone 1.0-1",
            "btx 2.0-1",
            "bty 1.0-1",
            "btz 1.0-1",
            "btz 2.0-1"
        ]
    );
    let ours = s.tmp.path().join("ours");
    let out = run("ours", &ours, &["install", "btnone"]);
    assert!(!out.status.success());
    let err = said(&out);
    for part in [
        "nothing was built or changed",
        "btz is needed as `btz >= 2` by btx 2.0-1 and as `btz < 2` by bty 1.0-1",
        "btx 2.0-1 depends on btz >= 2",
        "bty 1.0-1 depends on btz < 2",
        "btnone 1.0-1 depends on btx >= 2",
    ] {
        assert!(err.contains(part), "{part:?} in: {err}");
    }
    assert!(!err.contains(": built "), "{err}");
    assert_eq!(s.items().len(), 0, "refused before anything was built");
    assert!(!ours.join("rocks").exists() || listing(&s, "ours", &base, &ours).is_empty());

    // Against what the tree keeps: bty was asked for, so `install btx 2.0`
    // has no solution; the derivation names the tree.
    let tree = s.tmp.path().join("kept");
    let out = run("ours", &tree, &["install", "bty"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = s.items();
    let out = run("ours", &tree, &["install", "btx", "2.0"]);
    assert!(!out.status.success());
    let err = said(&out);
    assert!(
        err.contains(&format!(
            "what {} keeps installed depends on bty",
            tree.display()
        )),
        "{err}"
    );
    assert!(err.contains("btx 2.0-1 depends on btz >= 2"), "{err}");
    assert_eq!(s.items(), before, "nothing built");
    assert_eq!(
        listing(&s, "ours", &base, &tree),
        ["bty 1.0-1", "btz 1.0-1"]
    );
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn build_and_make_dry_runs_print_the_plan_and_change_nothing() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = crate::rocks_server::Repo::new(s.tmp.path());
    let tree = s.tmp.path().join("tree");
    let run = |args: &[&str], dir: &Path| {
        let out = rs(&s, &repo.server.base, &tree)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let page = run(&["build", "dmtop", "--dry-run"], s.tmp.path());
    assert!(page.contains("2 to build, 0 to reuse"), "{page}");
    assert!(page.contains("1. dmdep 1.0-1 build      from "), "{page}");
    assert!(
        page.contains("needs dmdep >= 1.0: 1.0-1 (step 1)"),
        "{page}"
    );
    // make: the rockspec beside its sources, built from the directory.
    let work = s.dir("work");
    std::fs::copy(
        project_dir().join("integration/rocks/dmtop-1.0/dmtop.lua"),
        work.join("dmtop.lua"),
    )
    .expect("copy");
    std::fs::copy(
        repo.dir.join("dmtop-1.0-1.rockspec"),
        work.join("dmtop-1.0-1.rockspec"),
    )
    .expect("rockspec");
    let page = run(&["make", "--dry-run"], &work);
    assert!(
        page.contains(&format!(
            "2. dmtop 1.0-1 build      from {}",
            work.display()
        )),
        "{page}"
    );
    assert!(!tree.exists(), "nothing installed");
    assert_eq!(s.items().len(), 0, "nothing built");
}
