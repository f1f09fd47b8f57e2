//! Reading Lua data: rockspecs evaluated per second (the 44 valid fixture
//! rockspecs under `integration/rockspecs/`, loaded in full: sandbox,
//! schema, overrides, dependencies) and a generated repository manifest of
//! 30,000 versions (luarocks.org's shape: ~5,000 rocks, rockspec + src
//! entries). Debian's LuaRocks loading the same rockspecs, and plain
//! `lua5.4` loading the same manifest, are measured in the same run. Also:
//! the image the sandbox makes of that manifest (what `Limits::image` must
//! allow), and a tree-shaped manifest of 600,000 `modules` entries written
//! out of order (issue 24: it took 92 s).
//!
//! Run: `cargo bench --bench rockspec`.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::unwrap_used)]

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rockstore::manifest::RepositoryManifest;
use rockstore::rockspec::{LoadOptions, Platforms, Rockspec};

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn valid_fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/rockspecs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".rockspec") && !name.starts_with("bad-")
        })
        .collect();
    files.sort();
    files
}

fn generated_manifest(versions: usize) -> String {
    let mut out = String::from("commands = {}\nmodules = {}\nrepository = {\n");
    let rocks = versions / 6;
    let mut written = 0;
    for r in 0..rocks {
        let _ = writeln!(out, "   [\"rock-{r:05}\"] = {{");
        for v in 0..6 {
            if written == versions {
                break;
            }
            let _ = writeln!(
                out,
                "      [\"{}.{}.{}-1\"] = {{\n         {{\n            arch = \"rockspec\"\n         }},\n         {{\n            arch = \"src\"\n         }}\n      }},",
                r % 7,
                v,
                r % 13
            );
            written += 1;
        }
        out.push_str("   },\n");
    }
    out.push_str("}\n");
    out
}

fn lua_available() -> bool {
    Command::new("lua5.4")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Seconds reported by a Lua script that times its own work with os.clock.
fn lua_seconds(script: &str, env: &[(&str, &Path)]) -> Option<f64> {
    let mut cmd = Command::new("lua5.4");
    cmd.args(["-e", script]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        println!(
            "  (lua5.4 failed: {})",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// A tree-manifest-shaped text with `n` `modules` entries, keys in an
/// order bytewise sorting does not keep (`m9` before `m10`, descending).
fn modules_manifest(n: usize) -> String {
    let mut out = String::from(
        "commands = {}\nrepository = { big = { [\"1.0-1\"] = { { arch = \"installed\" } } } }\nmodules = {\n",
    );
    for i in (0..n).rev() {
        let _ = writeln!(out, "   [\"big.m{i}\"] = {{ \"big/1.0-1\" }},");
    }
    out.push_str("}\n");
    out
}

fn main() {
    let files = valid_fixtures();
    let sources: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    let options = LoadOptions {
        platforms: Platforms::for_system("linux"),
    };
    let rounds = 50;
    let elapsed = best_of(3, || {
        for _ in 0..rounds {
            for (path, bytes) in &sources {
                let name = path.file_name().unwrap().to_string_lossy();
                Rockspec::from_bytes(&path.display().to_string(), Some(&name), bytes, &options)
                    .unwrap();
            }
        }
    });
    let n = (rounds * sources.len()) as f64;
    let ours = n / elapsed.as_secs_f64();
    println!(
        "rockspecs: {} loads in {:.1} ms: {:.0} rockspecs/s (aim >= 2,000)",
        n,
        elapsed.as_secs_f64() * 1e3,
        ours
    );

    let tmp = tempfile::tempdir().unwrap();
    if lua_available() && Path::new("/usr/share/lua/5.4/luarocks/fetch.lua").exists() {
        let config = tmp.path().join("config.lua");
        std::fs::write(&config, "").unwrap();
        let list: Vec<String> = files
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect();
        let script = format!(
            "local cfg = require('luarocks.core.cfg') cfg.init() require('luarocks.fs').init()
             cfg.root_dir = '/nonexistent'
             local fetch = require('luarocks.fetch')
             local files = {{ {} }}
             local best = math.huge
             for _ = 1, 3 do
               local t = os.clock()
               for _ = 1, {rounds} do for _, f in ipairs(files) do assert(fetch.load_local_rockspec(f)) end end
               best = math.min(best, os.clock() - t)
             end
             print(best)",
            list.join(", ")
        );
        if let Some(secs) = lua_seconds(
            &script,
            &[("LUAROCKS_CONFIG", &config), ("HOME", tmp.path())],
        ) {
            let theirs = n / secs;
            println!("  luarocks 3.8 (lua5.4, same files, same run): {theirs:.0} rockspecs/s; rockstore is {:.2}x", ours / theirs);
        }
    } else {
        println!("  (lua5.4 or Debian's luarocks missing: no LuaRocks baseline)");
    }

    let text = generated_manifest(30_000);
    let parsed = RepositoryManifest::from_bytes("manifest-5.4", text.as_bytes()).unwrap();
    assert_eq!(parsed.version_count(), 30_000);
    let fast = best_of(5, || {
        RepositoryManifest::from_bytes("manifest-5.4", text.as_bytes()).unwrap()
    });
    let sandboxed = best_of(3, || {
        rockstore::lua::evaluate(
            "manifest",
            text.as_bytes(),
            &Default::default(),
            rockstore::lua::Limits::MANIFEST,
        )
        .unwrap()
    });
    println!(
        "manifest: 30,000 versions, {:.1} MB: {:.1} ms (aim <= 50 ms); through the sandbox: {:.1} ms",
        text.len() as f64 / 1e6,
        fast.as_secs_f64() * 1e3,
        sandboxed.as_secs_f64() * 1e3
    );
    // The image the sandbox path makes of that manifest: the smallest
    // image cap (in MiB) it passes, found by halving.
    let passes = |mib: usize| {
        rockstore::lua::evaluate(
            "manifest",
            text.as_bytes(),
            &Default::default(),
            rockstore::lua::Limits {
                image: mib << 20,
                ..rockstore::lua::Limits::MANIFEST
            },
        )
        .is_ok()
    };
    let (mut low, mut high) = (0usize, 128usize);
    while high - low > 1 {
        let mid = (low + high) / 2;
        if passes(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    println!(
        "  its image through the sandbox: {high} MiB at most (the cap: {} MiB)",
        rockstore::lua::Limits::MANIFEST.image >> 20
    );
    if lua_available() {
        let file = tmp.path().join("manifest-5.4");
        std::fs::write(&file, &text).unwrap();
        let script = format!(
            "local best = math.huge
             for _ = 1, 3 do
               local t = os.clock()
               local env = {{}}
               assert(loadfile({:?}, 't', env))()
               best = math.min(best, os.clock() - t)
             end
             print(best)",
            file.display().to_string()
        );
        if let Some(secs) = lua_seconds(&script, &[]) {
            println!(
                "  plain lua5.4 loading the same file (same run): {:.1} ms; rockstore is {:.1}x faster",
                secs * 1e3,
                secs / fast.as_secs_f64()
            );
        }
    }
    let modules = modules_manifest(600_000);
    let started = Instant::now();
    let parsed = RepositoryManifest::from_bytes("manifest-5.4", modules.as_bytes()).unwrap();
    let once = started.elapsed();
    assert!(parsed.table.get("modules").is_some());
    println!(
        "manifest: 600,000 modules entries written out of order, {:.1} MB: {:.0} ms (the audit of issue 24 measured 92 s before; aim: under 10 s)",
        modules.len() as f64 / 1e6,
        once.as_secs_f64() * 1e3
    );
}
