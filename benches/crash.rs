//! The crash benchmark: rounds of one command on one tree, each killed
//! (SIGKILL) at a failpoint of its path or at a random moment, then the
//! next command a user would run (`list`; `adopt` or `release` again after
//! those), then every reader checked for agreement (`tests/it/consistency.rs`:
//! rockstore's and Debian's `list`, the manifest, `lua5.4` loading every
//! module, no temporary name, marker or dangling link) and the store
//! verified. The commands: install (pure Lua, a C rock, `-j 2` of two
//! independent builds), remove, rollback, gc, adopt and release. Reports
//! how many trees were found inconsistent: the figure is 0.
//!
//! Run: `integration/bench/crash [ROUNDS]` (or `ROCKSTORE_CRASH_ROUNDS=300
//! cargo bench --bench crash`); `ROCKSTORE_CRASH_SEED` repeats a run.
//! Needs lua5.4, Debian's luarocks and gcc.
#![allow(
    clippy::disallowed_methods,
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used
)]

#[allow(dead_code)]
#[path = "../tests/it/consistency.rs"]
mod consistency;
#[allow(dead_code)]
#[path = "../tests/it/rocks_server.rs"]
mod rocks_server;
#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{text, Sandbox};

/// A small deterministic generator (xorshift64*), seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The failpoints on each command's path.
const SWITCH: [&str; 3] = ["switch-staged", "switch-renamed", "switch-pruned"];
const ADMIT: [&str; 6] = [
    "stage-file",
    "after-ingest",
    "after-listing",
    "after-record",
    "after-rename",
    "after-sync",
];
const INSTALL: [&str; 4] = [
    "after-backend",
    "after-realisation",
    "executor-step-done",
    "before-switch",
];
const ADOPT: [&str; 5] = [
    "adopt-item-admitted",
    "adopt-marked",
    "adopt-switched",
    "adopt-took-over",
    "adopt-exchanged",
];
const RELEASE: [&str; 3] = ["release-copied", "release-replaced", "release-unlinked"];

/// How one round ended.
#[derive(Default)]
struct Tally {
    at_failpoint: usize,
    at_random: usize,
    not_killed: usize,
    inconsistent: Vec<String>,
    verify_failed: usize,
    refused: Vec<String>,
}

fn rockstore(s: &Sandbox, base: &str, tree: &Path, args: &[&str]) -> Command {
    let mut cmd = s.cmd(["--lua-version", "5.4", "--only-server", base]);
    cmd.arg("--tree").arg(tree).args(args);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

/// Kills `cmd` when it reaches `point`; whether it did (else it ended).
fn kill_at_failpoint(mut cmd: Command, point: &str) -> (bool, String) {
    cmd.env("ROCKSTORE_FAILPOINT", point);
    let mut child = cmd.spawn().expect("spawn");
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let name = point.split('@').next().unwrap_or(point);
    let mut said = String::new();
    let mut line = String::new();
    let reached = loop {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            break false;
        }
        if line.contains(&format!("failpoint {name} reached")) {
            break true;
        }
        said.push_str(&line);
    };
    if reached {
        child.kill().expect("SIGKILL");
    }
    child.wait().expect("reap");
    (reached, said)
}

/// Kills `cmd` after `delay` (a random moment of its run); whether it was
/// still running, what it said, and how long it ran.
fn kill_after(mut cmd: Command, delay: Duration) -> (bool, String, Duration) {
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    // The randomness of the moment is the point here, not synchronisation.
    std::thread::sleep(delay);
    let running = child.try_wait().expect("try_wait").is_none();
    if running {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("reap");
    (running, text(&out.stderr), started.elapsed())
}

/// An error a command may rightly give on the tree as it is.
fn expected_refusal(said: &str) -> bool {
    [
        "not installed",
        "no generation before",
        "is needed by",
        "needed by",
        "nothing to",
        "has no generations",
        "cannot be removed",
        "would break dependencies",
    ]
    .iter()
    .any(|s| said.contains(s))
}

fn main() {
    let rounds: usize = std::env::var("ROCKSTORE_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::var("ROCKSTORE_CRASH_SEED")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    for tool in ["lua5.4", "luarocks", "gcc"] {
        if !support::need(&[tool]) {
            println!("crash: {tool} is needed");
            return;
        }
    }
    let mut rng = Rng(seed);
    let s = Sandbox::new();
    let repo = rocks_server::Repo::new(s.tmp.path());
    let base = repo.server.base.clone();
    let tree = s.tmp.path().join("tree");
    // The tree starts as Debian's LuaRocks makes it.
    for args in [
        &["install", "purelua", "1.0-1"][..],
        &["install", "--keep", "purelua", "2.0-1"],
    ] {
        let out = s
            .program("luarocks")
            .args(["--lua-version", "5.4", "--only-server", &base, "--tree"])
            .arg(&tree)
            .args(args)
            .output()
            .expect("luarocks");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    println!("crash: {rounds} rounds, seed {seed}");
    let started = Instant::now();
    let mut tally = Tally::default();
    // How long each command ran (its shortest run) when it was not killed:
    // a random moment is drawn from that span.
    let mut spans: std::collections::BTreeMap<String, Duration> = Default::default();
    let mut turns: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    let mut reached: std::collections::BTreeSet<String> = Default::default();
    for round in 1..=rounds {
        let managed = tree.join(".rockstore/current").exists();
        // What to run, and the failpoints on its path.
        let (args, points): (Vec<&str>, Vec<&str>) = if !managed {
            (vec!["adopt"], [&ADOPT[..], &ADMIT, &SWITCH].concat())
        } else {
            match rng.below(20) {
                0..=6 => {
                    let choices: [&[&str]; 7] = [
                        &["binrock"],
                        &["upg", "1.0"],
                        &["purelua"],
                        &["purelua", "1.0"],
                        &["dmtop"],
                        &["cmulti"],
                        &["-j", "2", "appx"],
                    ];
                    let rock = *rng.pick(&choices);
                    let mut args = vec!["install"];
                    args.extend_from_slice(rock);
                    (args, [&INSTALL[..], &ADMIT, &SWITCH].concat())
                }
                7..=11 => {
                    let rock = *rng.pick(&[
                        "binrock", "upg", "dmtop", "dmdep", "appx", "cmulti", "purelua",
                    ]);
                    (vec!["remove", rock], [&ADMIT[..], &SWITCH].concat())
                }
                12..=14 => (vec!["rollback"], SWITCH.to_vec()),
                15..=17 => (vec!["gc"], Vec::new()),
                _ => (vec!["release"], RELEASE.to_vec()),
            }
        };
        let cmd = if args[0] == "gc" {
            let mut cmd = s.cmd(["gc"]);
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
            cmd
        } else {
            rockstore(&s, &base, &tree, &args)
        };
        let at_point = !points.is_empty() && rng.below(2) == 0;
        let (killed, how, said) = if at_point {
            // Each command goes through its failpoints in turn, so every
            // one is tried, moving on once one was reached (or missed three
            // times: the tree as it stands may not pass it); the hit (1st
            // to 3rd) is drawn.
            let turn = turns.entry(args[0]).or_insert((0, 0)).0;
            let point = points[turn % points.len()];
            let nth = [1, 1, 1, 2, 3][rng.below(5)];
            let point = if nth == 1 {
                point.to_owned()
            } else {
                format!("{point}@{nth}")
            };
            let (killed, said) = kill_at_failpoint(cmd, &point);
            if killed {
                reached.insert(point.split('@').next().unwrap_or(&point).to_owned());
            }
            let (turn, misses) = turns.get_mut(args[0]).expect("turn");
            *misses += usize::from(!killed);
            if killed || *misses == 3 {
                *turn += 1;
                *misses = 0;
            }
            (killed, point, said)
        } else {
            let key = args.join(" ");
            let span = spans
                .get(&key)
                .copied()
                .unwrap_or(Duration::from_millis(30));
            let delay = Duration::from_micros(rng.next() % (span.as_micros() as u64 + 1));
            let (killed, said, ran) = kill_after(cmd, delay);
            if !killed {
                // The shortest run seen: a moment drawn from it falls
                // inside the next run.
                let shortest = spans.get(&key).map_or(ran, |&s| s.min(ran));
                spans.insert(key, shortest);
            }
            (killed, format!("after {} µs", delay.as_micros()), said)
        };
        match (killed, at_point) {
            (true, true) => tally.at_failpoint += 1,
            (true, false) => tally.at_random += 1,
            (false, _) => {
                tally.not_killed += 1;
                if said.contains("error") && !expected_refusal(&said) {
                    tally
                        .refused
                        .push(format!("round {round}: {args:?}: {}", said.trim()));
                }
            }
        }
        // The next command a user runs.
        let next: &[&str] = match args[0] {
            "adopt" if killed => &["adopt"],
            "release" if killed => &["release"],
            _ => &["list"],
        };
        let out = rockstore(&s, &base, &tree, next).output().expect("next");
        if !out.status.success() {
            tally.refused.push(format!(
                "round {round}: next {next:?} after {args:?} ({how}): {}",
                text(&out.stderr).trim()
            ));
        }
        let verdict = consistency::check(&s, &tree);
        let verified = s.run(["verify"]).status.success();
        if !verified {
            tally.verify_failed += 1;
        }
        match &verdict {
            Ok(rocks) => println!(
                "round {round}: {} {} killed {how}: {} rock(s), consistent",
                args.join(" "),
                if killed { "was" } else { "was not" },
                rocks.len()
            ),
            Err(why) => {
                println!(
                    "round {round}: {} killed {how}: INCONSISTENT: {why}",
                    args.join(" ")
                );
                tally
                    .inconsistent
                    .push(format!("round {round}: {args:?} killed {how}: {why}"));
                // Kept for a look, and a fresh tree for the next round.
                let kept = s.tmp.path().join(format!("inconsistent-{round}"));
                let _ = Command::new("cp").arg("-a").arg(&tree).arg(&kept).status();
                let _ = std::fs::remove_dir_all(&tree);
                let _ = rockstore(&s, &base, &tree, &["install", "purelua"]).output();
            }
        }
    }
    println!(
        "\ncrash: {rounds} rounds in {:.0} s (seed {seed}): {} killed at a failpoint, {} at a random moment, {} ran to the end",
        started.elapsed().as_secs_f64(),
        tally.at_failpoint,
        tally.at_random,
        tally.not_killed
    );
    let every: std::collections::BTreeSet<&str> = [&SWITCH[..], &ADMIT, &INSTALL, &ADOPT, &RELEASE]
        .concat()
        .into_iter()
        .collect();
    let missed: Vec<&&str> = every.iter().filter(|p| !reached.contains(**p)).collect();
    println!(
        "crash: killed at {} of the {} failpoints{}",
        every.len() - missed.len(),
        every.len(),
        if missed.is_empty() {
            String::new()
        } else {
            format!(" (never reached: {missed:?})")
        }
    );
    println!(
        "crash: {} inconsistent tree(s); store verify failed {} time(s); {} unexpected refusal(s)",
        tally.inconsistent.len(),
        tally.verify_failed,
        tally.refused.len()
    );
    for line in tally.inconsistent.iter().chain(&tally.refused) {
        println!("  {line}");
    }
    if std::env::var_os("ROCKSTORE_CRASH_KEEP").is_some() && !tally.inconsistent.is_empty() {
        let kept = s.tmp.keep();
        println!("crash: kept {}", kept.display());
    }
}
