//! Hostile rockspecs: each must end in a clear error, quickly, with no
//! crash and no hang — whatever the file tries.

use std::time::{Duration, Instant};

use crate::support::{text, Sandbox};

const HEAD: &str =
    "package = 'evil'\nversion = '1.0-1'\nsource = { url = 'x' }\nbuild = { type = 'none' }\n";

/// (what, rockspec body, text the error must contain)
const CASES: &[(&str, &str, &str)] = &[
    ("endless loop", "while true do end", "instructions"),
    (
        "endless recursion",
        "local function f() return f() end f()",
        "instructions",
    ),
    (
        "deep recursion",
        "local function f() return 1 + f() end f()",
        "memory limit",
    ),
    (
        "gigabyte string",
        "local s = ('x'):rep(1024 * 1024 * 1024)",
        "memory limit",
    ),
    (
        "doubling string",
        "local s = 'x' for i = 1, 40 do s = s .. s end",
        "memory limit",
    ),
    (
        "huge table",
        "local t = {} for i = 1, 1e9 do t[i] = i end",
        "limit",
    ),
    (
        "catastrophic pattern",
        "local s = ('a'):rep(5000) s:find(('a-'):rep(20) .. 'b')",
        "too costly",
    ),
    (
        "os.execute",
        "os.execute('touch /tmp/rockstore-pwned')",
        "global 'os'",
    ),
    ("io.open", "io.open('/etc/passwd')", "global 'io'"),
    ("require", "require('os')", "global 'require'"),
    ("load", "load('return 1')()", "global 'load'"),
    ("dofile", "dofile('/etc/passwd')", "global 'dofile'"),
    ("string.dump", "local d = (''):dump()", "method 'dump'"),
    (
        "getmetatable escape",
        "local mt = getmetatable('')",
        "global 'getmetatable'",
    ),
    ("syntax error", "build = {", "syntax error"),
    (
        "wrong field type",
        "description = 'text'",
        "description: expected a table",
    ),
    ("error object", "error({})", "error running"),
];

#[test]
fn hostile_rockspecs_fail_fast_and_clearly() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("evil");
    for (what, body, expected) in CASES {
        let file = dir.join("evil-1.0-1.rockspec");
        std::fs::write(&file, format!("{HEAD}{body}\n")).expect("write");
        let started = Instant::now();
        let out = sandbox
            .bare_cmd()
            .arg("rockspec")
            .arg(&file)
            .output()
            .expect("run");
        let elapsed = started.elapsed();
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: expected a clean failure, got {:?}\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains(expected),
            "{what}: expected {expected:?} in:\n{stderr}"
        );
        assert!(elapsed < Duration::from_secs(1), "{what}: took {elapsed:?}");
    }
    assert!(!std::path::Path::new("/tmp/rockstore-pwned").exists());
}

#[test]
fn bytecode_is_refused() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("bc");
    let src = dir.join("x.lua");
    std::fs::write(&src, HEAD).expect("write");
    let compiled = dir.join("evil-1.0-1.rockspec");
    match std::process::Command::new("luac5.4")
        .arg("-o")
        .arg(&compiled)
        .arg(&src)
        .status()
    {
        Ok(status) => assert!(status.success(), "luac5.4 failed"),
        // Every precompiled chunk starts with ESC "Lua"; that is what is refused.
        Err(_) => std::fs::write(&compiled, b"\x1bLuaT\x00\x19\x93\r\n\x1a\n").expect("write"),
    }
    let out = sandbox
        .bare_cmd()
        .arg("rockspec")
        .arg(&compiled)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("precompiled"),
        "{}",
        text(&out.stderr)
    );
}
