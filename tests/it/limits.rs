//! Inputs that used to eat the machine or leak (issue 24, items 3, 6 and
//! 10), through the real binary: Lua values that share one large string
//! (a rockspec, a server's manifest, an install from a server) refused
//! under 250 MiB peak with an error naming the file; a 300 MB rockspec
//! refused before it is read; a manifest of 600,000 `modules` entries
//! read; a local source file keeping its mode bits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::rocks_server::{render_manifest, HttpServer};
use crate::support::{need, text, Sandbox};

/// Runs `cmd` under GNU time; its output and peak resident memory in KiB.
fn peak(cmd: Command, scratch: &Path) -> (Output, u64) {
    let report = scratch.join("time.out");
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
        .collect();
    let mut timed = Command::new("/usr/bin/time");
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(program)
        .args(args);
    timed.env_clear();
    for (k, v) in envs {
        if let Some(v) = v {
            timed.env(k, v);
        }
    }
    let out = timed.output().expect("time");
    let kib = std::fs::read_to_string(&report)
        .expect("time's report")
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("peak in KiB");
    (out, kib)
}

const LIMIT_KIB: u64 = 250 * 1024;

/// Asserts `cmd` fails, naming `file`, under 250 MiB.
fn refused_lean(cmd: Command, scratch: &Path, file: &str, case: &str) -> String {
    let (out, kib) = peak(cmd, scratch);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{case}: accepted");
    assert!(err.contains(file), "{case}: the error names {file}: {err}");
    assert!(
        kib < LIMIT_KIB,
        "{case}: peaked at {} MiB: {err}",
        kib / 1024
    );
    err
}

/// Rockspec text whose `build` value refers to one 1 MB string (or one
/// table) far more often than it can be copied.
fn hostile_rockspecs(name: &str) -> Vec<(&'static str, String)> {
    let head = format!(
        "package = '{name}'\nversion = '1.0-1'\nsource = {{ url = 'http://127.0.0.1:9/x.tar.gz' }}\n"
    );
    vec![
        (
            "one string, 20,000 references",
            format!(
                "{head}local s = ('x'):rep(1e6)\nlocal t = {{}}\nfor i = 1, 20000 do t[i] = s end\nbuild = {{ type = 'builtin', modules = {{}}, extra = t }}\n"
            ),
        ),
        (
            "2,000 concatenations",
            format!(
                "{head}local s = ('x'):rep(1e6)\nlocal t = {{}}\nfor i = 1, 2000 do t[i] = s .. i end\nbuild = {{ type = 'builtin', modules = {{}}, extra = t }}\n"
            ),
        ),
        (
            "one table, shared 2^40 ways",
            format!(
                "{head}local t = {{ ('x'):rep(1000) }}\nfor i = 1, 40 do t = {{ t, t }} end\nbuild = {{ type = 'builtin', modules = {{}}, extra = t }}\n"
            ),
        ),
    ]
}

#[test]
fn shared_strings_in_a_rockspec_are_refused_under_250_mib() {
    if !need(&["/usr/bin/time"]) {
        return;
    }
    let s = Sandbox::new();
    for (case, spec) in hostile_rockspecs("evil") {
        let file = s.tmp.path().join("evil-1.0-1.rockspec");
        std::fs::write(&file, spec).expect("rockspec");
        let mut cmd = s.bare_cmd();
        cmd.arg("rockspec").arg(&file);
        let err = refused_lean(cmd, s.tmp.path(), "evil-1.0-1.rockspec", case);
        assert!(err.contains("limit"), "{case}: {err}");
    }
}

/// A rocks server serving `files`.
fn serve(s: &Sandbox, files: &[(&str, String)]) -> HttpServer {
    let dir = s.dir("served");
    for (name, body) in files {
        std::fs::write(dir.join(name), body).expect("served file");
    }
    HttpServer::start(dir)
}

#[test]
fn shared_strings_in_a_servers_manifest_or_rockspec_are_refused_under_250_mib() {
    if !need(&["/usr/bin/time"]) {
        return;
    }
    let s = Sandbox::new();
    // The server's manifest itself.
    let manifest = "local s = ('x'):rep(1e6)\nlocal m = {}\nfor i = 1, 20000 do m['m' .. i] = s end\n\
                    modules = m\nrepository = { evil = { ['1.0-1'] = { { arch = 'rockspec' } } } }\n";
    let server = serve(&s, &[("manifest-5.4", manifest.to_owned())]);
    let mut cmd = s.cmd(["--lua-version", "5.4", "--only-server", &server.base]);
    cmd.args(["search", "evil"]);
    refused_lean(cmd, s.tmp.path(), "manifest", "a server's manifest");
    // A plain manifest, and a rockspec that shares.
    for (case, spec) in hostile_rockspecs("evil") {
        let manifest = render_manifest(&[("evil".into(), "1.0-1".into(), "rockspec".into())]);
        let s = Sandbox::new();
        let server = serve(
            &s,
            &[("manifest-5.4", manifest), ("evil-1.0-1.rockspec", spec)],
        );
        let tree = s.tmp.path().join("tree");
        let mut cmd = s.cmd(["--lua-version", "5.4", "--only-server", &server.base]);
        cmd.arg("--tree").arg(&tree).args(["install", "evil"]);
        refused_lean(cmd, s.tmp.path(), "evil-1.0-1.rockspec", case);
    }
}

/// A rockspec of 300 MB (sparse) is refused by its size, before a byte of
/// it is read: the peak stays far below its size.
#[test]
fn a_huge_local_rockspec_is_refused_before_it_is_read() {
    if !need(&["/usr/bin/time"]) {
        return;
    }
    let s = Sandbox::new();
    let dir = s.dir("project");
    let file = dir.join("huge-1.0-1.rockspec");
    std::fs::File::create(&file)
        .expect("create")
        .set_len(300 << 20)
        .expect("sparse 300 MB");
    for args in [&["rockspec"][..], &["lint"]] {
        let mut cmd = s.bare_cmd();
        cmd.args(args).arg(&file);
        let (out, kib) = peak(cmd, s.tmp.path());
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains("huge-1.0-1.rockspec"), "{args:?}: {err}");
        assert!(err.contains("314572800 bytes"), "{args:?}: {err}");
        assert!(kib < 64 * 1024, "{args:?}: peaked at {} MiB", kib / 1024);
    }
    let mut cmd = s.cmd(["--lua-version", "5.4", "--tree"]);
    cmd.arg(s.tmp.path().join("tree"))
        .arg("make")
        .current_dir(&dir);
    let (out, kib) = peak(cmd, s.tmp.path());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("314572800 bytes"),
        "{}",
        text(&out.stderr)
    );
    assert!(kib < 64 * 1024, "make peaked at {} MiB", kib / 1024);
}

/// A literal manifest with 600,000 `modules` entries, written in an order
/// the reader's sorted tables do not keep, is read (it took 92 s of
/// `memmove` before; `cargo bench --bench rockspec` times it).
#[test]
fn a_manifest_with_600000_modules_is_read() {
    let s = Sandbox::new();
    let mut manifest = render_manifest(&[("big".into(), "1.0-1".into(), "rockspec".into())])
        .replace("modules = {}\n", "");
    manifest.push_str("modules = {\n");
    for i in (0..600_000).rev() {
        manifest.push_str(&format!("   [\"big.m{i}\"] = {{ \"big/1.0-1\" }},\n"));
    }
    manifest.push_str("}\n");
    let server = serve(&s, &[("manifest-5.4", manifest)]);
    let out = s
        .cmd(["--lua-version", "5.4", "--only-server", &server.base])
        .args(["search", "big", "--porcelain"])
        .output()
        .expect("search");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("big\t1.0-1"),
        "{}",
        text(&out.stdout)
    );
}

/// A rockspec the user names with a `file://` source of a file only its
/// owner may read: the copy the build works on (and `unpack`'s) is as
/// private as the file.
#[test]
fn a_local_source_file_keeps_its_mode_bits() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    let dir = s.dir("work");
    let secret = dir.join("secret.lua");
    std::fs::write(&secret, "return 'only mine'\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let spec = dir.join("secret-1.0-1.rockspec");
    std::fs::write(
        &spec,
        format!(
            "package = 'secret'\nversion = '1.0-1'\nsource = {{ url = 'file://{}', dir = '.' }}\n\
             build = {{ type = 'command', build_command = 'stat -c %a secret.lua > mode.lua',\n\
             install = {{ lua = {{ mode = 'mode.lua' }} }} }}\n",
            secret.display()
        ),
    )
    .expect("rockspec");
    let out = s
        .cmd(["--lua-version", "5.4", "build", "--no-install"])
        .arg(&spec)
        .output()
        .expect("build");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let item = PathBuf::from(text(&out.stdout).lines().last().expect("item path").trim());
    let mode = std::fs::read_to_string(item.join("lua/mode.lua")).expect("mode.lua");
    assert_eq!(mode.trim(), "600", "the build's copy of the source");

    let unpacked = s.dir("unpacked");
    let out = s
        .cmd(["unpack"])
        .arg(&spec)
        .current_dir(&unpacked)
        .output()
        .expect("unpack");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let copy = unpacked.join("secret-1.0-1/secret.lua");
    let mode = std::fs::metadata(&copy).expect("copy").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "unpack's copy of the source");
}
