//! LuaRocks versions and constraints, exactly as `luarocks.core.vers` and
//! `luarocks.queries` read and compare them — which is not semver.
//!
//! A version string is `[upstream][-revision]`. The upstream part is read
//! left to right into numeric *slots*:
//! - a run of digits fills the current slot and moves on — unless a word
//!   left a value there, in which case it adds `n / 100000` to it;
//! - a run of letters sets the current slot *without moving on*, to
//!   `dev` 1.2e8, `scm` 1.1e8, `cvs` 1e8, `rc` −1000, `pre` −1e4,
//!   `beta` −1e5, `alpha` −1e6, or any other word's first byte / 1000;
//! - separators `.`, `-`, `_` are skipped; anything else ends the parse with
//!   a zero slot (LuaRocks warns).
//!
//! `a < b` compares slot by slot (a missing slot is 0), then revisions when
//! both have one. `a == b` needs the *same number* of slots, so `1.0` and
//! `1` are neither equal nor ordered; `a <= b` is `!(b < a)`. `~> v` is a
//! prefix match on v's slots (and revision, if v has one).
//!
//! Slots are doubles, as in LuaRocks on Lua 5.1 and LuaJIT; on Lua 5.4
//! integers above 2^53 would compare exactly, a difference no real version
//! reaches.

use std::cmp::Ordering;
use std::fmt;

/// A parsed version.
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
    slots: Vec<f64>,
    revision: Option<f64>,
    unparsed: Option<String>,
}

/// Lua's `%s`: the C locale's whitespace.
pub(crate) fn is_lua_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn word_delta(word: &str) -> f64 {
    match word {
        "dev" => 120_000_000.0,
        "scm" => 110_000_000.0,
        "cvs" => 100_000_000.0,
        "rc" => -1000.0,
        "pre" => -10_000.0,
        "beta" => -100_000.0,
        "alpha" => -1_000_000.0,
        other => f64::from(other.as_bytes()[0]) / 1000.0,
    }
}

/// Digits as Lua's `tonumber` reads them (exact up to 2^53).
fn digits_value(digits: &str) -> f64 {
    digits.parse::<f64>().unwrap_or(f64::INFINITY)
}

impl Version {
    /// Parses as `vers.parse_version` does. Never fails: unparsable rest
    /// becomes a zero slot and is reported by [`Version::unparsed`].
    pub fn parse(input: &str) -> Version {
        let start = input.bytes().take_while(|&b| is_lua_space(b)).count();
        let text = &input[start..];
        let mut main = text;
        let mut revision = None;
        // `(.*)%-(%d+)$`: the last `-` followed only by digits.
        if let Some(dash) = text.rfind('-') {
            let digits = &text[dash + 1..];
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                main = &text[..dash];
                revision = Some(digits_value(digits));
            }
        }
        let mut slots: Vec<f64> = Vec::new();
        let mut current = 0usize;
        let mut unparsed = None;
        let mut rest = main.as_bytes();
        let skip_separators = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|&&b| matches!(b, b'.' | b'-' | b'_'))
                .count()
        };
        while !rest.is_empty() {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 {
                let token = std::str::from_utf8(&rest[..digits]).unwrap_or("0");
                let n = digits_value(token);
                if current < slots.len() {
                    slots[current] += n / 100_000.0;
                } else {
                    slots.push(n);
                }
                current += 1;
                rest = &rest[digits..];
            } else {
                let letters = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
                if letters == 0 {
                    unparsed = Some(String::from_utf8_lossy(rest).into_owned());
                    if current < slots.len() {
                        slots[current] = 0.0;
                    } else {
                        slots.push(0.0);
                    }
                    break;
                }
                let word = std::str::from_utf8(&rest[..letters]).unwrap_or("a");
                let delta = word_delta(word);
                if current < slots.len() {
                    slots[current] = delta;
                } else {
                    slots.push(delta);
                }
                rest = &rest[letters..];
            }
            rest = &rest[skip_separators(rest)..];
        }
        Version {
            text: text.to_owned(),
            slots,
            revision,
            unparsed,
        }
    }

    /// The text as given (leading whitespace removed), which is how LuaRocks
    /// prints a version.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The numeric slots.
    pub fn slots(&self) -> &[f64] {
        &self.slots
    }

    /// The rockspec revision (`-N` suffix), if any.
    pub fn revision(&self) -> Option<f64> {
        self.revision
    }

    /// The part LuaRocks could not parse (it warns "version number '…'
    /// could not be parsed").
    pub fn unparsed(&self) -> Option<&str> {
        self.unparsed.as_deref()
    }

    /// LuaRocks' `__lt`.
    pub fn lt(&self, other: &Version) -> bool {
        let n = self.slots.len().max(other.slots.len());
        for i in 0..n {
            let a = self.slots.get(i).copied().unwrap_or(0.0);
            let b = other.slots.get(i).copied().unwrap_or(0.0);
            if a != b {
                return a < b;
            }
        }
        match (self.revision, other.revision) {
            (Some(a), Some(b)) => a < b,
            _ => false,
        }
    }

    /// LuaRocks' `__eq`: same slot count, equal slots, and equal revisions
    /// when both have one.
    pub fn lua_eq(&self, other: &Version) -> bool {
        if self.slots != other.slots {
            return false;
        }
        match (self.revision, other.revision) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// LuaRocks' `__le`: `not (other < self)`.
    pub fn le(&self, other: &Version) -> bool {
        !other.lt(self)
    }

    /// The `~>` test: every slot of `self` (the constraint) equals the
    /// candidate's (missing = 0), and the revision too when `self` has one.
    pub fn is_prefix_of(&self, candidate: &Version) -> bool {
        let slots_match = self
            .slots
            .iter()
            .enumerate()
            .all(|(i, &r)| candidate.slots.get(i).copied().unwrap_or(0.0) == r);
        slots_match
            && match self.revision {
                Some(r) => candidate.revision == Some(r),
                None => true,
            }
    }

    /// The order LuaRocks sorts versions in (`compare_versions`, which is
    /// `__lt` only): ties and unordered pairs such as `1.0`/`1` are Equal.
    pub fn sort_order(&self, other: &Version) -> Ordering {
        if self.lt(other) {
            Ordering::Less
        } else if other.lt(self) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A constraint operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==` (also written `=` or with no operator).
    Eq,
    /// `~=` (also `!=`).
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `~>`: prefix match.
    Pessimistic,
}

impl Op {
    /// The operator for a LuaRocks operator spelling.
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "==" | "=" | "" => Op::Eq,
            "~=" | "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "~>" => Op::Pessimistic,
            _ => return None,
        })
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "~=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Pessimistic => "~>",
        }
    }
}

/// One constraint of a dependency.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// The operator.
    pub op: Op,
    /// The version it compares against.
    pub version: Version,
    /// Written with a leading `@`: satisfied versions are not upgraded.
    pub no_upgrade: bool,
}

impl Constraint {
    /// Does `candidate` satisfy this constraint?
    pub fn matches(&self, candidate: &Version) -> bool {
        let v = &self.version;
        match self.op {
            Op::Eq => candidate.lua_eq(v),
            Op::Ne => !candidate.lua_eq(v),
            Op::Lt => candidate.lt(v),
            Op::Le => candidate.le(v),
            Op::Gt => v.lt(candidate),
            Op::Ge => v.le(candidate),
            Op::Pessimistic => v.is_prefix_of(candidate),
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.no_upgrade {
            f.write_str("@")?;
        }
        match self.op {
            Op::Eq => write!(f, "{}", self.version),
            op => write!(f, "{} {}", op.as_str(), self.version),
        }
    }
}

/// Why a constraint list did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// An operator LuaRocks does not know, such as `=>`.
    #[error("bad constraint operator '{op}' in '{input}' (expected ==, ~=, <, <=, >, >= or ~>)")]
    BadOperator {
        /// The operator as written.
        op: String,
        /// The rest of the input from there.
        input: String,
    },
    /// No version where one was expected.
    #[error("expected a version in '{input}'")]
    MissingVersion {
        /// The rest of the input from there.
        input: String,
    },
}

/// Does all of `constraints` hold for `candidate` (they are ANDed)?
pub fn matches_all(constraints: &[Constraint], candidate: &Version) -> bool {
    constraints.iter().all(|c| c.matches(candidate))
}

/// Parses a constraint list such as `>= 1.0, < 2` or `> 1 < 2`, repeating
/// `^(@?)([<>=~!]*)%s*([%w%.%_%-]+)[%s,]*` until the input is used up.
pub fn parse_constraints(input: &str) -> Result<Vec<Constraint>, ConstraintError> {
    let bytes = input.as_bytes();
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let start = at;
        let no_upgrade = bytes[at] == b'@';
        if no_upgrade {
            at += 1;
        }
        let op_start = at;
        while at < bytes.len() && matches!(bytes[at], b'<' | b'>' | b'=' | b'~' | b'!') {
            at += 1;
        }
        let op_text = &input[op_start..at];
        while at < bytes.len() && is_lua_space(bytes[at]) {
            at += 1;
        }
        let version_start = at;
        while at < bytes.len()
            && (bytes[at].is_ascii_alphanumeric() || matches!(bytes[at], b'.' | b'_' | b'-'))
        {
            at += 1;
        }
        if version_start == at {
            if op_text.is_empty() || Op::parse(op_text).is_some() {
                return Err(ConstraintError::MissingVersion {
                    input: input[start..].to_owned(),
                });
            }
            return Err(ConstraintError::BadOperator {
                op: op_text.to_owned(),
                input: input[start..].to_owned(),
            });
        }
        let op = Op::parse(op_text).ok_or_else(|| ConstraintError::BadOperator {
            op: op_text.to_owned(),
            input: input[start..].to_owned(),
        })?;
        let version = Version::parse(&input[version_start..at]);
        while at < bytes.len() && (is_lua_space(bytes[at]) || bytes[at] == b',') {
            at += 1;
        }
        out.push(Constraint {
            op,
            version,
            no_upgrade,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_luarocks() {
        assert_eq!(Version::parse("1.2.3-1").slots(), [1.0, 2.0, 3.0]);
        assert_eq!(Version::parse("1.2.3-1").revision(), Some(1.0));
        assert_eq!(
            Version::parse("1.0rc1").slots(),
            [1.0, 0.0, -1000.0 + 0.00001]
        );
        assert_eq!(Version::parse("v1.0").slots(), [0.118 + 0.00001, 0.0]);
        assert_eq!(Version::parse("scm-1").slots(), [110_000_000.0]);
        let bad = Version::parse("1.0+build");
        assert_eq!(bad.slots(), [1.0, 0.0, 0.0]);
        assert_eq!(bad.unparsed(), Some("+build"));
    }

    #[test]
    fn constraint_lists_parse_with_commas_or_spaces() {
        let c = parse_constraints(">= 1.0, < 2").expect("parses");
        assert_eq!(c.len(), 2);
        let c = parse_constraints("> 1 < 2").expect("parses");
        assert_eq!((c[0].op, c[1].op), (Op::Gt, Op::Lt));
        let c = parse_constraints("@1.0").expect("parses");
        assert!(c[0].no_upgrade && c[0].op == Op::Eq);
        assert!(matches!(
            parse_constraints("=> 1"),
            Err(ConstraintError::BadOperator { .. })
        ));
        assert!(matches!(
            parse_constraints(">= "),
            Err(ConstraintError::MissingVersion { .. })
        ));
    }
}
