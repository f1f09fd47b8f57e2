//! The README's quick start runs as written (issue 28): its commands, but
//! the prerequisites' `apt-get` and `cargo build` lines, run through `sh`
//! with `rockstore` on PATH, on a machine whose only rocks server is a
//! loopback one named in LuaRocks' config, as the README says to point at
//! one. The store is the sandbox's (`ROCKSTORE_STORE`), never the machine's.

use std::path::Path;

use crate::rocks_server::{render_manifest, tarball, HttpServer};
use crate::support::{bin, need, project_dir, text, Sandbox};

/// The quick start's shell lines, prerequisites left out.
fn quick_start() -> Vec<String> {
    let readme = std::fs::read_to_string(project_dir().join("README.md")).expect("README");
    let section = readme
        .split("## Quick start")
        .nth(1)
        .expect("a quick start section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its shell block");
    block
        .lines()
        .filter(|l| !l.starts_with("sudo apt-get") && !l.starts_with("cargo build"))
        .map(str::to_owned)
        .collect()
}

/// A rocks server offering the two pure-Lua rocks the quick start names.
fn server(root: &Path) -> HttpServer {
    let dir = root.join("rocks");
    std::fs::create_dir_all(&dir).expect("rocks dir");
    let server = HttpServer::start(dir.clone());
    let rocks = [
        (
            "inspect",
            "3.1.3",
            "return function(t) local s = {} for _, v in ipairs(t) do s[#s + 1] = tostring(v) end \
             return '{ ' .. table.concat(s, ', ') .. ' }' end\n",
        ),
        ("argparse", "0.7.1", "return { version = '0.7.1' }\n"),
    ];
    let mut entries = Vec::new();
    for (name, version, code) in rocks {
        let src = root.join(format!("src-{name}"));
        std::fs::create_dir_all(&src).expect("src");
        std::fs::write(src.join(format!("{name}.lua")), code).expect("module");
        let top = format!("{name}-{version}");
        std::fs::write(dir.join(format!("{top}.tar.gz")), tarball(&src, &top)).expect("tarball");
        std::fs::write(
            dir.join(format!("{top}-1.rockspec")),
            format!(
                "package = '{name}'\nversion = '{version}-1'\n\
                 source = {{ url = '{base}/{top}.tar.gz', dir = '{top}' }}\n\
                 description = {{ summary = 'x', license = 'MIT' }}\n\
                 dependencies = {{ 'lua >= 5.1' }}\n\
                 build = {{ type = 'builtin', modules = {{ {name} = '{name}.lua' }} }}\n",
                base = server.base
            ),
        )
        .expect("rockspec");
        entries.push((
            name.to_owned(),
            format!("{version}-1"),
            "rockspec".to_owned(),
        ));
    }
    for v in ["5.1", "5.4"] {
        std::fs::write(dir.join(format!("manifest-{v}")), render_manifest(&entries))
            .expect("manifest");
    }
    server
}

/// Runs the quick start as `user` (none: this process's user, root under
/// CI) with its own HOME and store, and checks what it printed.
fn run_quick_start(user: Option<&str>) {
    let s = Sandbox::new();
    let server = server(s.tmp.path());
    let lines = quick_start();
    assert!(
        lines.iter().any(|l| l.contains("rollback")),
        "the quick start shows a rollback: {lines:?}"
    );
    // Pointing at the local server as the README says: LuaRocks' config.
    for v in ["5.1", "5.4"] {
        s.system_config(v, &format!("rocks_servers = {{ \"{}/\" }}\n", server.base));
    }
    let home = s
        .tmp
        .path()
        .join(user.map_or("home".to_owned(), |u| format!("home-{u}")));
    let work = home.join("work");
    std::fs::create_dir_all(&work).expect("work");
    let dir = Path::new(bin()).parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -e\n{}\n", lines.join("\n"));
    let mut cmd = s.program(match user {
        Some(_) => "setpriv",
        None => "sh",
    });
    if let Some(u) = user {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(s.tmp.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        crate::shared::chown_tree(&home, u);
        cmd.args([
            &format!("--reuid={u}"),
            &format!("--regid={u}"),
            "--init-groups",
            "--",
            "sh",
        ]);
    }
    let out = cmd
        .env("PATH", path)
        .env("HOME", &home)
        .env("ROCKSTORE_STORE", home.join("store"))
        .current_dir(&work)
        .args(["-c", &script])
        .output()
        .expect("sh");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{script}\n{stdout}\n{stderr}");
    assert!(stdout.contains("{ 1, 2 }\ttrue"), "{stdout}");
    // After the rollback the list names inspect alone.
    let listed = stdout
        .rsplit("Rocks installed for Lua 5.4")
        .next()
        .unwrap_or_default();
    assert!(
        listed.contains("inspect") && !listed.contains("argparse"),
        "{stdout}"
    );
    assert!(
        stderr.contains("rollback` undoes it"),
        "the second install says what undoes it: {stderr}"
    );
}

#[test]
fn the_quick_start_runs_as_written_against_a_local_rocks_server() {
    if need(&["lua5.4"]) {
        run_quick_start(None);
    }
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn the_quick_start_runs_as_written_as_a_user() {
    if crate::shared::ready() {
        run_quick_start(Some("rs-alice"));
    }
}
