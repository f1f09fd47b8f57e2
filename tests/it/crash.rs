//! Kills, failpoints and concurrency: a killed install leaves the previous
//! generation whole, GC waits for an install in flight, readers never see
//! a half-switched tree. Coordinated through failpoints and FIFOs, never
//! sleeps.

use std::path::Path;
use std::process::Command;

use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

use crate::trees::{lua_ok, ok};

/// Starts `rockstore ARGS` stopped at failpoint `point`; returns the child
/// once it has said so on stderr (the rest of stderr stays readable).
fn stopped_at(
    s: &Sandbox,
    repo: &Repo,
    tree: &Path,
    args: &[&str],
    point: &str,
    resume: Option<&Path>,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
) {
    let mut cmd = s.cmd(["--only-server", &repo.server.base, "--lua-version", "5.4"]);
    cmd.arg("--tree").arg(tree).args(args);
    if let Some(fifo) = resume {
        cmd.env("ROCKSTORE_FAILPOINT_RESUME", fifo);
    }
    crate::support::stopped_at_failpoint(cmd, point)
}

fn mkfifo(path: &Path) {
    let out = Command::new("mkfifo").arg(path).output().expect("mkfifo");
    assert!(out.status.success());
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn sigkill_during_install_leaves_the_previous_generation_whole() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "upg", "1.0"]);
    // First run: the rock is admitted, the profile killed mid-admission.
    // Later runs reuse the rock, so the profile is their first admission.
    for point in ["after-ingest@2", "after-record", "before-switch"] {
        let (mut child, _err) = stopped_at(&s, &repo, &t, &["install", "upg", "2.0"], point, None);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        assert_eq!(
            lua_ok(&s, &t, "print(require('upg').v)"),
            "1.0",
            "killed at {point}"
        );
        let gens: serde_json::Value =
            serde_json::from_str(&ok(&s, &repo, &t, &["generations", "--json"])).expect("json");
        assert_eq!(
            gens.as_array().expect("array").len(),
            1,
            "killed at {point}"
        );
        s.ok(["verify"]);
    }
    // The next install completes normally.
    ok(&s, &repo, &t, &["install", "purelua"]);
    assert_eq!(
        lua_ok(
            &s,
            &t,
            "print(require('upg').v, require('purelua').version)"
        ),
        "1.0\t2.0"
    );
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn gc_waits_for_an_install_in_flight_and_frees_none_of_its_items() {
    if !need(&["lua5.4"]) {
        return;
    }
    use std::io::BufRead;
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    let fifo = s.tmp.path().join("resume");
    mkfifo(&fifo);
    // The install has admitted its rock and profile and stops before the
    // switch: nothing links them yet.
    let (mut installer, _ierr) = stopped_at(
        &s,
        &repo,
        &t,
        &["install", "purelua"],
        "before-switch",
        Some(&fifo),
    );
    let mut gc = s
        .cmd(["gc"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gc");
    let mut gc_err = std::io::BufReader::new(gc.stderr.take().expect("stderr"));
    let mut line = String::new();
    gc_err.read_line(&mut line).expect("gc stderr");
    assert!(
        line.contains("waiting for exclusive use of the store"),
        "{line}"
    );
    // Let the install finish; then GC runs and must free nothing it made.
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open fifo"),
    );
    assert!(installer.wait().expect("installer").success());
    let out = gc.wait_with_output().expect("gc output");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "",
        "GC freed items of the install in flight"
    );
    assert_eq!(lua_ok(&s, &t, "print(require('purelua').version)"), "2.0");
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn readers_never_see_a_missing_module_or_a_mixed_generation() {
    if !need(&["lua5.4"]) {
        return;
    }
    use std::io::BufRead;
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "purelua", "1.0"]);
    ok(&s, &repo, &t, &["install", "purelua", "2.0"]);
    let stop = s.tmp.path().join("stop");
    let reader_code = format!(
        r#"
local tree, stop = "{tree}", "{stop}"
local seen, n = {{}}, 0
io.write("ready\n") io.flush()
while not io.open(stop) do
  n = n + 1
  package.loaded["purelua"], package.loaded["purelua.util"] = nil, nil
  local ok, p = pcall(require, "purelua")
  if not ok then io.stderr:write("missing module: ", tostring(p), "\n") os.exit(1) end
  seen[p.version] = true
  -- One resolution of `current`, then both files from that generation.
  local gen = io.popen("readlink -f " .. tree .. "/.rockstore/current"):read("l")
  local dir = gen .. "/share/lua/5.4/purelua/"
  local a = assert(loadfile(dir .. "util.lua"))().version
  local init = assert(io.open(dir .. "init.lua")):read("a")
  if not init:find('version = "' .. a .. '"', 1, true) then
    io.stderr:write("mixed generation: util ", a, " with init ", init, "\n") os.exit(1)
  end
end
local versions = {{}}
for v in pairs(seen) do versions[#versions + 1] = v end
table.sort(versions)
print(n, table.concat(versions, ","))
"#,
        tree = t.display(),
        stop = stop.display()
    );
    let script = format!(
        "eval \"$('{}' --store '{}' --lua-version 5.4 --tree '{}' path)\" && exec lua5.4 -e \"$CODE\"",
        crate::support::bin(),
        s.store().display(),
        t.display()
    );
    let mut reader = s
        .program("sh")
        .args(["-c", &script])
        .env("CODE", &reader_code)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("reader");
    let mut out = std::io::BufReader::new(reader.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("ready");
    assert_eq!(line.trim(), "ready");
    for i in 0..60 {
        let n = if i % 2 == 0 { "1" } else { "2" };
        ok(&s, &repo, &t, &["switch-generation", n]);
    }
    std::fs::write(&stop, "").expect("stop");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("result");
    let status = reader.wait().expect("reader exit");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut reader.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(status.success(), "{err}");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    assert_eq!(
        fields.get(1),
        Some(&"1.0,2.0"),
        "the reader saw both generations: {rest}"
    );
}
