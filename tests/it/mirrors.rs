//! Mirror groups in `rocks_servers` (issue 28), as Debian's LuaRocks 3.8
//! uses them: each group's manifest comes from its first mirror that
//! loads, each failure warned; a file the answering mirror lacks is fetched
//! from the mirrors after it.

use std::path::Path;
use std::process::Output;

use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

/// A group of three mirrors: one answering 503, one with the manifest but
/// no files, then the full repository.
fn config(s: &Sandbox, repo: &Repo) -> String {
    let partial = repo.dir.join("partial");
    std::fs::create_dir_all(&partial).expect("partial");
    std::fs::copy(repo.dir.join("manifest-5.4"), partial.join("manifest-5.4")).expect("manifest");
    let base = &repo.server.base;
    s.system_config(
        "5.4",
        &format!("rocks_servers = {{ {{ '{base}/status/503', '{base}/partial', '{base}' }} }}\n"),
    );
    base.clone()
}

fn run_luarocks(s: &Sandbox, tree: &Path, args: &[&str]) -> Output {
    s.program("luarocks")
        .args(["--lua-version", "5.4", "--tree"])
        .arg(tree)
        .args(args)
        .output()
        .expect("luarocks")
}

fn run_ours(s: &Sandbox, tree: &Path, args: &[&str]) -> Output {
    s.cmd(["--lua-version", "5.4", "--tree"])
        .arg(tree)
        .args(args)
        .output()
        .expect("rockstore")
}

#[test]
fn every_mirror_of_a_group_is_tried_in_luarocks_order_with_its_warnings() {
    if !need(&["luarocks", "lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let base = config(&s, &repo);
    let t1 = s.tmp.path().join("t1");
    let t2 = s.tmp.path().join("t2");
    let theirs = run_luarocks(&s, &t1, &["install", "purelua", "1.0-1"]);
    let ours = run_ours(&s, &t2, &["install", "purelua", "1.0-1"]);
    for (who, out) in [("luarocks", &theirs), ("rockstore", &ours)] {
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        // The warnings, in LuaRocks' order: the 503 mirror's manifest, then
        // the rockspec the answering mirror lacks, from the next mirror.
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("Warning: Failed"))
            .collect();
        assert_eq!(warnings.len(), 2, "{who}: {stderr}");
        assert!(
            warnings[0].starts_with("Warning: Failed searching manifest: ")
                && warnings[0].contains(&format!("{base}/status/503/manifest-5.4")),
            "{who}: {stderr}"
        );
        assert_eq!(
            warnings[1],
            format!(
                "Warning: Failed downloading. Attempting mirror at {base}/purelua-1.0-1.rockspec"
            ),
            "{who}"
        );
        assert!(
            text(&out.stdout).contains("purelua 1.0-1 is now installed"),
            "{who}: {}",
            text(&out.stdout)
        );
    }
    // Both trees load the rock.
    for t in [&t1, &t2] {
        let code = format!(
            "package.path='{t}/share/lua/5.4/?.lua;{t}/share/lua/5.4/?/init.lua;'..package.path print(require('purelua').version)",
            t = t.display()
        );
        let out = s
            .program("lua5.4")
            .args(["-e", &code])
            .output()
            .expect("lua");
        assert_eq!(text(&out.stdout).trim(), "1.0", "{}", text(&out.stderr));
    }
    // The server saw each mirror asked in that order.
    let asked: Vec<String> = repo
        .server
        .requests()
        .into_iter()
        .filter(|p| p.contains("manifest-5.4") || p.ends_with(".rockspec"))
        .collect();
    assert!(
        asked.iter().any(|p| p.starts_with("/status/503/"))
            && asked.iter().any(|p| p == "/partial/purelua-1.0-1.rockspec")
            && asked.iter().any(|p| p == "/purelua-1.0-1.rockspec"),
        "{asked:?}"
    );
}

#[test]
fn a_group_whose_every_mirror_fails_is_an_error_naming_them() {
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let base = &repo.server.base;
    s.system_config(
        "5.4",
        &format!("rocks_servers = {{ {{ '{base}/status/503', '{base}/status/502' }} }}\n"),
    );
    let out = run_ours(&s, &s.tmp.path().join("t"), &["install", "purelua"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(
        err.matches("Warning: Failed searching manifest: ").count(),
        2,
        "{err}"
    );
    assert!(err.contains("no rocks server could be read"), "{err}");
}

/// A proxy on loopback that refuses every request with 503 and records
/// the host each asked for (CONNECT for https, an absolute URL for http),
/// so the default mirrors can be tried without leaving the machine.
fn refusing_proxy() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Bounded: a few requests per mirror and manifest name.
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let target = line.split_whitespace().nth(1).unwrap_or_default();
            let host = target
                .trim_start_matches("http://")
                .split(['/', ':'])
                .next()
                .unwrap_or_default()
                .to_owned();
            let _ = tx.send(host);
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (format!("http://{addr}"), rx)
}

/// With no `rocks_servers` in any config, the installer asks LuaRocks'
/// default group, luarocks.org and its three mirrors, in order, as `config`
/// shows it (they once disagreed: `config` showed four, `install` asked
/// one). Every request goes to a refusing proxy on loopback.
#[test]
fn the_default_servers_are_luarocks_mirror_group_in_order() {
    let s = Sandbox::new();
    let (proxy, hosts) = refusing_proxy();
    let tree = s.tmp.path().join("t");
    let out = s
        .cmd(["--lua-version", "5.4", "--tree"])
        .arg(&tree)
        .args(["install", "purelua"])
        .env("HTTPS_PROXY", &proxy)
        .env("HTTP_PROXY", &proxy)
        .env("https_proxy", &proxy)
        .env("http_proxy", &proxy)
        .output()
        .expect("run");
    assert!(!out.status.success(), "nothing can answer");
    let stderr = text(&out.stderr);
    let mut asked: Vec<String> = Vec::new();
    for host in hosts.try_iter() {
        if !asked.contains(&host) {
            asked.push(host);
        }
    }
    assert_eq!(
        asked,
        [
            "luarocks.org",
            "raw.githubusercontent.com",
            "luafr.org",
            "luarocks.logiceditor.com"
        ],
        "{stderr}"
    );
    let shown = s.ok(["--lua-version", "5.4", "config", "rocks_servers"]);
    for host in &asked {
        assert!(
            shown.contains(host.as_str()),
            "config shows {host}: {shown}"
        );
    }
}
