//! A repository manifest of real size, generated deterministically: about
//! luarocks.org's `manifest-5.4` (29,913 versions of ~4,800 rocks), in the
//! text `luarocks-admin` writes. Names mix letters, digits, `-`, `_` and
//! `.`, a dozen contain `lpeg`; versions are LuaRocks' shapes (`1.2.3-1`,
//! `scm-1`, `dev-1`, `2.0rc1-2`, `0.9.10-1`, …), each with `rockspec` and
//! often `src`, `all` or a binary arch, in varying order. The search tests
//! (`tests/it/warm.rs`) and `benches/warm.rs` share it.
#![allow(dead_code)]

use std::fmt::Write;

/// The size of luarocks.org's `manifest-5.4` when the issue was filed.
pub const REAL_VERSIONS: usize = 29_913;

/// xorshift64*: deterministic, no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYLLABLES: [&str; 24] = [
    "lua", "json", "http", "net", "core", "ev", "sql", "lite", "x", "fs", "str", "ngx", "co",
    "kong", "plugin", "crypt", "term", "log", "util", "path", "test", "mq", "lz", "ui",
];

/// Names with `lpeg` in them, as the real manifest has a dozen.
const LPEG_NAMES: [&str; 12] = [
    "lpeg",
    "lpeg_patterns",
    "lpeglabel",
    "lpegrex",
    "lpeg-ext",
    "lua-lpeg-patterns",
    "lpegdebug",
    "lpeg.re",
    "lpegjson",
    "lpeg2c",
    "xlpeg",
    "lpeg-date",
];

/// Rock names: `count`, unique, sorted the way nothing depends on.
fn names(rng: &mut Rng, count: usize) -> Vec<String> {
    let mut out: std::collections::BTreeSet<String> =
        LPEG_NAMES.iter().map(|s| (*s).to_owned()).collect();
    while out.len() < count {
        let parts = 1 + rng.below(3);
        let mut name = String::new();
        for i in 0..parts {
            if i > 0 {
                name.push_str(["-", "_", "", "-", "."][rng.below(5) as usize]);
            }
            name.push_str(SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize]);
        }
        if rng.below(4) == 0 {
            let _ = write!(name, "{}", rng.below(40));
        }
        out.insert(name);
    }
    out.into_iter().collect()
}

fn version(rng: &mut Rng) -> String {
    let rev = 1 + rng.below(3);
    match rng.below(20) {
        0 => format!("scm-{rev}"),
        1 => format!("dev-{rev}"),
        2 => format!(
            "{}.{}rc{}-{rev}",
            rng.below(4),
            rng.below(10),
            1 + rng.below(3)
        ),
        3 => format!("{}.{}-{rev}", rng.below(3), rng.below(30)),
        4 => format!("{}-{rev}", 1 + rng.below(20)),
        _ => format!("{}.{}.{}-{rev}", rng.below(5), rng.below(15), rng.below(25)),
    }
}

fn arches(rng: &mut Rng) -> Vec<&'static str> {
    let mut out = vec!["rockspec"];
    if rng.below(10) < 6 {
        out.push("src");
    }
    if rng.below(20) == 0 {
        out.push("all");
    }
    if rng.below(30) == 0 {
        out.push("linux-x86_64");
    }
    if rng.below(50) == 0 {
        out.push("win32-x86");
    }
    if rng.below(2) == 0 {
        out.reverse();
    }
    out
}

/// What LuaRocks takes `v` to equal: `1.0-2` is `1-2`. A rock never
/// lists two such versions here: LuaRocks orders them by the accident of
/// its hash tables, which no other program can reproduce.
fn same_as(v: &str) -> String {
    let (main, rev) = v.rsplit_once('-').unwrap_or((v, ""));
    let mut parts: Vec<&str> = main.split('.').collect();
    while parts.len() > 1 && parts.last() == Some(&"0") {
        parts.pop();
    }
    format!("{}-{rev}", parts.join("."))
}

/// A key as `luarocks-admin` writes it: bare when an identifier.
fn key(name: &str) -> String {
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        name.to_owned()
    } else {
        format!("[\"{name}\"]")
    }
}

/// A version and its arches.
type Listed = (String, Vec<&'static str>);

/// A manifest of exactly `versions` rock versions, the same every time for
/// the same `seed`; `extra` rocks (name → versions) are listed too, as a
/// server that also carries them (their versions count in `versions`).
pub fn generate(versions: usize, seed: u64, extra: &[(&str, &[&str])]) -> String {
    let mut rng = Rng(seed | 1);
    let rocks = versions / 6;
    let mut plan: Vec<(String, Vec<Listed>)> = Vec::new();
    let mut left = versions - extra.iter().map(|(_, v)| v.len()).sum::<usize>();
    for (name, vs) in extra {
        plan.push((
            (*name).to_owned(),
            vs.iter()
                .map(|v| ((*v).to_owned(), vec!["rockspec"]))
                .collect(),
        ));
    }
    let all_names = names(&mut rng, rocks);
    for (i, name) in all_names.iter().enumerate() {
        if left == 0 || extra.iter().any(|(n, _)| n == name) {
            continue;
        }
        // Most rocks have a few versions; some have dozens.
        let want = if i + 1 == all_names.len() {
            left
        } else {
            let n = match rng.below(10) {
                0..=3 => 1 + rng.below(3),
                4..=7 => 3 + rng.below(8),
                _ => 10 + rng.below(30),
            } as usize;
            n.min(left)
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut vs = Vec::new();
        while vs.len() < want {
            let v = version(&mut rng);
            if seen.insert(same_as(&v)) {
                vs.push((v, arches(&mut rng)));
            }
        }
        left -= want;
        plan.push((name.clone(), vs));
    }
    plan.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::from("commands = {}\nmodules = {}\nrepository = {\n");
    for (name, vs) in &plan {
        let _ = writeln!(out, "   {} = {{", key(name));
        for (v, arches) in vs {
            let _ = writeln!(out, "      [\"{v}\"] = {{");
            for (i, a) in arches.iter().enumerate() {
                let comma = if i + 1 < arches.len() { "," } else { "" };
                let _ = writeln!(
                    out,
                    "         {{\n            arch = \"{a}\"\n         }}{comma}"
                );
            }
            out.push_str("      },\n");
        }
        out.push_str("   },\n");
    }
    out.push_str("}\n");
    out
}
