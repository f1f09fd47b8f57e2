//! Versions and constraints: a table of every rule in the reference
//! (`reference/luarocks.md` §3), property tests, and thousands of generated
//! pairs compared with Debian's `luarocks.core.vers`.

use std::io::Write;
use std::process::Stdio;

use proptest::prelude::*;
use rockstore::rockspec::version::{parse_constraints, Version};
use rockstore::rockspec::{Constraint, Dependency, Op};

use crate::support::{luarocks_oracle, text};

fn v(s: &str) -> Version {
    Version::parse(s)
}

/// `candidate` against a constraint list, as `match_constraints` decides.
fn satisfies(candidate: &str, constraints: &str) -> bool {
    let parsed = parse_constraints(constraints).expect("constraint parses");
    rockstore::rockspec::version::matches_all(&parsed, &v(candidate))
}

/// (a, relation, b): `<` means a < b and not b < a; `=` means LuaRocks
/// `==`; `#` means neither ordered nor equal (like `1.0` and `1`).
const ORDER: &[(&str, &str, &str)] = &[
    ("1.0", "<", "1.1"),
    ("1.2", "<", "1.10"),
    ("1.9", "<", "1.10"),
    ("0.9.9", "<", "1.0"),
    ("1.0.0", "<", "1.0.1"),
    ("2", "<", "10"),
    ("1.0", "#", "1"),
    ("1.0", "#", "1.0.0"),
    ("1.0", "=", "1.0"),
    ("1.0-1", "<", "1.0-2"),
    ("1.0-10", ">", "1.0-9"),
    ("1.0", "=", "1.0-2"),
    ("1.0-1", "=", "1.0-1"),
    ("1.0.0-1", "#", "1.0-1"),
    ("scm-1", "<", "dev-1"),
    ("cvs-1", "<", "scm-1"),
    ("dev-1", ">", "99999-1"),
    ("scm-1", ">", "20240101-1"),
    ("1.0rc1", "<", "1.0"),
    ("1.0-rc1", "=", "1.0rc1"),
    ("1.0rc1", "<", "1.0rc2"),
    ("1.0pre1", "<", "1.0rc1"),
    ("1.0beta2", "<", "1.0pre1"),
    ("1.0alpha100", "<", "1.0beta1"),
    ("1.0alpha", "<", "1.0beta"),
    ("1.0beta2", ">", "1.0beta1"),
    ("2.0alpha100", "<", "2.0"),
    ("1.0a", ">", "1.0"),
    ("1.0b", ">", "1.0a"),
    ("1.0a", "<", "1.0.1"),
    ("1.0z", "<", "1.0.1"),
    ("v1.0", ">", "0.1"),
    ("v1.0", "<", "1.0"),
    ("main-1", "<", "1-1"),
    ("20240101-1", ">", "20231231-1"),
    ("1_2_3", "=", "1.2.3"),
    ("1-2-3", "<", "1.2.4"),
    ("1..2", "=", "1.2"),
    ("  1.0", "=", "1.0"),
    ("1.0.rc.1", "<", "1.0"),
    ("0.9-260813", "<", "0.10"),
    ("1.0.1", ">", "1.0rc9"),
    ("1.0final", ">", "1.0"),
    ("1.0.1", ">", "1.0final"),
];

/// (candidate, constraints, satisfied?)
const MATCH: &[(&str, &str, bool)] = &[
    ("3.1.0-1", "~> 3", true),
    ("4.0-1", "~> 3", false),
    ("3-1", "~> 3.0", true),
    ("3.0.5-1", "~> 3.0", true),
    ("3.1-1", "~> 3.0", false),
    ("3.0.2-1", "~> 3.0.1", false),
    ("2.4rc1-1", "~> 2.4", true),
    ("2.4-3", "~> 2.4-3", true),
    ("2.4-2", "~> 2.4-3", false),
    ("1.0-3", "== 1.0", true),
    ("1.0.0-1", "== 1.0", false),
    ("1.0-3", "== 1.0-2", false),
    ("1.0-3", "1.0", true),
    ("1.0-3", "= 1.0", true),
    ("1.0-3", "~= 1.0", false),
    ("1.0-3", "!= 1.1", true),
    ("scm-1", ">= 1.0", true),
    ("dev-1", "< 2", false),
    ("5.4", "lua >= 5.1, < 5.5", true),
    ("5.5", "lua >= 5.1, < 5.5", false),
    ("5.4", ">= 5.1, < 5.5", true),
    ("5.5", ">= 5.1, < 5.5", false),
    ("1.5", "> 1 < 2", true),
    ("2.5", "> 1 < 2", false),
    ("1", "<= 1.0", true),
    ("1.0", ">= 1", true),
    ("1.0", "> 1", false),
    ("1.0", "< 1", false),
    ("1.0rc1", ">= 1.0", false),
    ("1.0", "@1.0", true),
];

#[test]
fn ordering_table() {
    for &(a, rel, b) in ORDER {
        let (va, vb) = (v(a), v(b));
        let got = match (va.lt(&vb), vb.lt(&va), va.lua_eq(&vb)) {
            (true, false, false) => "<",
            (false, true, false) => ">",
            (false, false, true) => "=",
            (false, false, false) => "#",
            other => panic!("{a} vs {b}: inconsistent {other:?}"),
        };
        assert_eq!(got, rel, "{a} {rel} {b}");
    }
}

#[test]
fn constraint_table() {
    for &(candidate, constraints, expected) in MATCH {
        let constraints = constraints
            .strip_prefix("lua ")
            .map_or(constraints.to_owned(), |rest| {
                // A whole dependency string: parse it the way rockspecs do.
                let dep = Dependency::parse(&format!("lua {rest}")).expect("dependency");
                assert_eq!(dep.name, "lua");
                rest.to_owned()
            });
        assert_eq!(
            satisfies(candidate, &constraints),
            expected,
            "{candidate} against {constraints}"
        );
    }
    assert!(ORDER.len() + MATCH.len() >= 60);
}

#[test]
fn dependency_strings_table() {
    let cases: &[(&str, &str)] = &[
        ("lua >= 5.1, < 5.5", "lua >= 5.1, < 5.5"),
        ("lua>=5.1,<5.5", "lua >= 5.1, < 5.5"),
        ("  foo   ~>  1.0  ", "foo ~> 1.0"),
        ("alice/json >= 1.0", "alice/json >= 1.0"),
        ("foo = 1", "foo 1"),
        ("foo != 1", "foo ~= 1"),
        ("foo @>= 1", "foo @>= 1"),
        ("LuaSocket", "LuaSocket"),
        ("foo >= 1/2", "foo >= 1"),
        ("foo.bar_baz-x", "foo.bar_baz-x"),
    ];
    for &(input, printed) in cases {
        let dep = Dependency::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(dep.to_string(), printed, "{input}");
    }
    for bad in ["", "   ", ">= 1", "foo => 1", "foo >=", "foo ~", "foo +1"] {
        assert!(Dependency::parse(bad).is_err(), "{bad:?} should not parse");
    }
}

fn version_strategy() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        (0u32..30).prop_map(|n| n.to_string()),
        Just("rc".to_owned()),
        Just("beta".to_owned()),
        Just("alpha".to_owned()),
        Just("pre".to_owned()),
        Just("scm".to_owned()),
        Just("dev".to_owned()),
        "[a-z]{1,4}",
    ];
    let sep = prop_oneof![Just("."), Just(""), Just("-"), Just("_")];
    (
        prop::collection::vec((part, sep), 1..5),
        prop::option::of(1u32..5),
    )
        .prop_map(|(parts, rev)| {
            let mut s: String = parts.into_iter().map(|(p, s)| format!("{p}{s}")).collect();
            s = s.trim_end_matches(['.', '-', '_']).to_owned();
            if s.is_empty() {
                s.push('0');
            }
            if let Some(r) = rev {
                s.push_str(&format!("-{r}"));
            }
            s
        })
}

proptest! {
    #[test]
    fn ordering_is_a_strict_weak_order(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
        let (a, b, c) = (v(&a), v(&b), v(&c));
        prop_assert!(!a.lt(&a), "irreflexive");
        prop_assert!(!(a.lt(&b) && b.lt(&a)), "asymmetric");
        if a.lt(&b) && b.lt(&c) { prop_assert!(a.lt(&c), "transitive"); }
        if a.lua_eq(&b) { prop_assert!(!a.lt(&b) && !b.lt(&a), "equal is unordered"); }
        prop_assert_eq!(a.le(&b), !b.lt(&a));
    }

    #[test]
    fn parse_then_print_round_trips(s in version_strategy(), op in prop_oneof![Just("=="), Just("~="), Just("<"), Just("<="), Just(">"), Just(">="), Just("~>")]) {
        prop_assert_eq!(v(&s).to_string(), s.clone());
        let printed = format!("foo {op} {s}");
        let dep = Dependency::parse(&printed).expect("parses");
        let reprinted = dep.to_string();
        let again = Dependency::parse(&reprinted).expect("reparses");
        prop_assert_eq!(again.to_string(), reprinted);
        prop_assert_eq!(dep.constraints[0].version.to_string(), s);
    }
}

/// Deterministic generator of version strings with every feature LuaRocks
/// parses (numbers, words of every kind, separators, revisions, junk).
fn generated_versions() -> Vec<String> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let words = [
        "rc", "pre", "beta", "alpha", "scm", "dev", "cvs", "a", "b", "final", "v", "main", "git",
        "p",
    ];
    let seps = [".", ".", ".", "", "-", "_", ".."];
    let mut out = Vec::new();
    for _ in 0..300 {
        let mut s = String::new();
        if next(12) == 0 {
            s.push('v');
        }
        for i in 0..(1 + next(4)) {
            if i > 0 {
                let i = next(seps.len() as u64) as usize;
                s.push_str(seps[i]);
            }
            if next(5) == 0 {
                let w = next(words.len() as u64) as usize;
                s.push_str(words[w]);
            }
            let range = if next(3) == 0 { 100_000 } else { 12 };
            s.push_str(&next(range).to_string());
        }
        if next(6) == 0 {
            let w = next(words.len() as u64) as usize;
            s.push_str(words[w]);
        }
        if next(20) == 0 {
            s.push_str("+x");
        }
        if next(2) == 0 {
            let r = next(4);
            s.push_str(&format!("-{r}"));
        }
        out.push(s);
    }
    out.extend(
        [
            "1", "1.0", "1.0.0", "1.0-1", "scm-1", "dev-1", "0", "10", "1.0rc1", "1.0a",
        ]
        .map(String::from),
    );
    out
}

#[test]
fn thousands_of_pairs_agree_with_luarocks_core_vers() {
    let Some(mut oracle) = luarocks_oracle() else {
        return;
    };
    let versions = generated_versions();
    let mut pairs = Vec::new();
    for (i, a) in versions.iter().enumerate() {
        for b in versions.iter().skip(i % 7).step_by(23) {
            pairs.push((a.clone(), b.clone()));
        }
    }
    assert!(pairs.len() >= 4000, "only {} pairs", pairs.len());
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let mut child = oracle
        .arg(crate::support::project_dir().join("integration/oracle/vers_compare.lua"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("oracle");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer").expect("write pairs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answers: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(answers.len(), pairs.len());
    let ops = ["==", "~=", "<", "<=", ">", ">=", "~>"];
    let mut disagreements = Vec::new();
    for ((a, b), expected) in pairs.iter().zip(&answers) {
        let (va, vb) = (v(a), v(b));
        let mut ours = String::new();
        for bit in [va.lt(&vb), va.lua_eq(&vb), va.le(&vb)] {
            ours.push(if bit { '1' } else { '0' });
        }
        for op in ops {
            let c = Constraint {
                op: Op::parse(op).expect("op"),
                version: vb.clone(),
                no_upgrade: false,
            };
            ours.push(if c.matches(&va) { '1' } else { '0' });
        }
        if &ours != expected {
            disagreements.push(format!(
                "{a:?} vs {b:?}: luarocks {expected}, rockstore {ours}"
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} disagree:\n{}",
        disagreements.len(),
        pairs.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
}
