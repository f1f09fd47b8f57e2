//! LuaRocks' `persist.save_from_table` format, byte for byte: the way
//! LuaRocks writes a tree's `manifest` (and every other table it saves).
//!
//! ```text
//! name = {            -- top-level keys sorted, each a plain name
//!    key = "value",   -- keys sorted: integers first, then strings bytewise;
//!    ["a.b"] = {      -- a key that is not a plain name (or is a keyword) in brackets
//!       "x",          -- sequence entries without their keys
//!       5, 1, string = "5.1"   -- after a number, the next entry stays on its line
//!    }
//! }
//! empty = {}
//! ```
//! Three spaces per level; strings as `%q` (long brackets when they hold a
//! line break).

use std::fmt::Write;

use crate::lua::value::{Key, Table, Value};

const KEYWORDS: [&str; 22] = [
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// Whether LuaRocks writes `k` bare (`is_valid_plain_key`).
pub fn is_plain_key(k: &str) -> bool {
    k.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&k)
}

/// `globals` as a series of assignments (keys that are not plain names
/// are left out, where LuaRocks refuses the whole table).
pub fn save_from_table(globals: &Table) -> String {
    save_from_table_ordered(globals, &[])
}

/// `table` as a module returning it, as `persist.save_as_module` writes
/// it (`luarocks.lock`): `return {`, one `key = value,` per line, `}`.
pub fn save_as_module(table: &Table) -> String {
    let mut out = String::from("return {\n");
    for (key, value) in table.iter() {
        out.push_str("   ");
        match key {
            Key::String(k) if is_plain_key(k) => {
                let _ = write!(out, "{k} = ");
            }
            other => {
                let _ = write!(out, "[{}] = ", key_text(other));
            }
        }
        write_value(&mut out, value, 1);
        out.push_str(",\n");
    }
    out.push_str("}\n");
    out
}

/// A `field_order` of LuaRocks' `persist`: these top-level keys first, in
/// this order, each with the keys of its own table to put first; every
/// other key after them, sorted.
pub type FieldOrder<'a> = [(&'a str, &'a [&'a str])];

/// LuaRocks' rockspec field order (`type_rockspec.order`), which
/// `new_version` and `write_rockspec` write with.
pub const ROCKSPEC_ORDER: &FieldOrder<'static> = &[
    ("rockspec_format", &[]),
    ("package", &[]),
    ("version", &[]),
    ("source", &["url", "tag", "branch", "md5"]),
    (
        "description",
        &["summary", "detailed", "homepage", "license"],
    ),
    ("supported_platforms", &[]),
    ("dependencies", &[]),
    ("build_dependencies", &[]),
    ("external_dependencies", &[]),
    (
        "build",
        &["type", "modules", "copy_directories", "platforms"],
    ),
    ("test_dependencies", &[]),
    ("test", &["type"]),
    ("hooks", &[]),
];

/// [`save_from_table`] with a field order, as `persist.save_from_table(
/// file, tbl, field_order)`.
pub fn save_from_table_ordered(globals: &Table, order: &FieldOrder<'_>) -> String {
    let mut out = String::new();
    let names: Vec<&str> = order.iter().map(|(k, _)| *k).collect();
    for (key, value, sub) in ordered(globals, &names, |k| {
        order.iter().find(|(n, _)| *n == k).map(|(_, s)| *s)
    }) {
        let Key::String(name) = key else { continue };
        if !is_plain_key(name) {
            continue;
        }
        let _ = write!(out, "{name} = ");
        write_value_ordered(&mut out, value, 0, sub.unwrap_or(&[]));
        out.push('\n');
    }
    out
}

/// `util.sortedpairs(tbl, order)`: the keys `first` present, in that
/// order, then the rest in the table's (LuaRocks' default) order.
fn ordered<'t, 'o>(
    table: &'t Table,
    first: &[&str],
    sub: impl Fn(&str) -> Option<&'o [&'o str]>,
) -> Vec<(&'t Key, &'t Value, Option<&'o [&'o str]>)> {
    let mut out = Vec::new();
    for name in first {
        let key = Key::String((*name).to_owned());
        if let Some((k, v)) = table.iter().find(|(k, _)| **k == key) {
            out.push((k, v, sub(name)));
        }
    }
    for (k, v) in table.iter() {
        let listed = matches!(k, Key::String(s) if first.contains(&s.as_str()));
        if !listed {
            out.push((k, v, None));
        }
    }
    out
}

/// One value as `persist.write_value` writes it at the top level (no
/// line break after it).
pub fn value_text(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

fn write_value(out: &mut String, value: &Value, level: usize) {
    write_value_ordered(out, value, level, &[]);
}

fn write_value_ordered(out: &mut String, value: &Value, level: usize, order: &[&str]) {
    match value {
        Value::Table(t) => write_table(out, t, level + 1, order),
        Value::String(s) => out.push_str(&string(s)),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{}", number(*n));
        }
        Value::Boolean(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Opaque(kind) => out.push_str(kind),
    }
}

/// A string as `%q` writes it (long brackets aside).
pub fn quoted(s: &str) -> String {
    quote(s)
}

fn string(s: &str) -> String {
    if !s.contains(['\r', '\n']) {
        return quote(s);
    }
    let mut equals = 0;
    let with_bracket = format!("{s}]");
    loop {
        let close = format!("]{}]", "=".repeat(equals));
        if !with_bracket.contains(&close) {
            break;
        }
        equals += 1;
    }
    let eqs = "=".repeat(equals);
    format!("[{eqs}[\n{s}]{eqs}]")
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn write_table(out: &mut String, table: &Table, level: usize, order: &[&str]) {
    const INDENT: &str = "   ";
    out.push('{');
    let mut sep = "\n";
    let mut indent = true;
    let mut next_index = 1i64;
    for (key, value, _) in ordered(table, order, |_| None) {
        out.push_str(sep);
        if indent {
            out.push_str(&INDENT.repeat(level));
        }
        match key {
            Key::Integer(i) if *i == next_index => next_index += 1,
            Key::String(k) if is_plain_key(k) => {
                let _ = write!(out, "{k} = ");
            }
            Key::String(k) => {
                let _ = write!(out, "[{}] = ", string(k));
            }
            other => {
                let _ = write!(out, "[{}] = ", key_text(other));
            }
        }
        write_value(out, value, level);
        if matches!(value, Value::Integer(_) | Value::Number(_)) {
            sep = ", ";
            indent = false;
        } else {
            sep = ",\n";
            indent = true;
        }
    }
    if sep != "\n" {
        out.push('\n');
        out.push_str(&INDENT.repeat(level.saturating_sub(1)));
    }
    out.push('}');
}

fn key_text(key: &Key) -> String {
    match key {
        Key::Integer(i) => i.to_string(),
        Key::String(s) => string(s),
        Key::Other(text) => text.clone(),
    }
}

/// A Lua string literal for `s`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\{:03}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_as_luarocks_persist() {
        let text = "commands = {}\nmodules = {\n   [\"a.b\"] = {\n      \"x/1.0-1\"\n   }\n}\nz = {\n   v = {\n      5, 1, string = \"5.1\"\n   }\n}\n";
        let table = crate::lua::literal::parse_assignments(text.as_bytes()).expect("parses");
        assert_eq!(save_from_table(&table), text);
    }
}
