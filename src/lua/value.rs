//! The plain-Rust image of Lua data: what an evaluated file left in its
//! environment, detached from the interpreter so it can outlive it.
//!
//! Only data survives: functions and other opaque values keep their Lua type
//! name so type checks can say what was found. Strings that are not UTF-8 are
//! decoded lossily (old rockspecs carry Latin-1 maintainer names; LuaRocks
//! accepts them and so do we).

use std::fmt;

/// A Lua value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `true` / `false`.
    Boolean(bool),
    /// A Lua 5.4 integer.
    Integer(i64),
    /// A Lua float.
    Number(f64),
    /// A string.
    String(String),
    /// A table.
    Table(Table),
    /// A value with no data image (function, userdata, thread); holds the Lua
    /// type name.
    Opaque(&'static str),
}

impl Value {
    /// The name Lua's `type()` gives this value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Boolean(_) => "boolean",
            Value::Integer(_) | Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Table(_) => "table",
            Value::Opaque(name) => name,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The table, if this is one.
    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The JSON form used by `rockstore rockspec --json` (and mirrored by the
    /// LuaRocks oracle script): a table whose keys are exactly `1..n` (n ≥ 1)
    /// is an array, any other table an object (integer keys as decimal
    /// strings, an empty table as `{}`), opaque values are `null`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Boolean(b) => J::Bool(*b),
            Value::Integer(i) => J::from(*i),
            Value::Number(n) => serde_json::Number::from_f64(*n).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Table(t) => t.to_json(),
            Value::Opaque(_) => J::Null,
        }
    }
}

/// A table key. Lua normalises integral float keys to integers; the rare
/// other keys (non-integral floats, booleans) keep their printed form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// An integer key (array part or not).
    Integer(i64),
    /// A string key.
    String(String),
    /// Any other key, as Lua's `tostring` prints it.
    Other(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Integer(i) => write!(f, "{i}"),
            Key::String(s) | Key::Other(s) => f.write_str(s),
        }
    }
}

impl Key {
    /// The path of this key inside the field `parent`, as error messages
    /// name fields: `parent.key`, `parent[2]`, or `key` at the top.
    pub fn path_in(&self, parent: &str) -> String {
        match (parent.is_empty(), self) {
            (true, key) => key.to_string(),
            (false, Key::String(s)) => format!("{parent}.{s}"),
            (false, key) => format!("{parent}[{key}]"),
        }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::String(s.to_owned())
    }
}

/// A Lua table: entries ordered integer keys first (ascending), then string
/// keys (bytewise), so every rendering of a table is deterministic. Stored
/// as a sorted vector: manifests hold ~100,000 tables of one or two entries,
/// where a tree map's node allocation dominated the reading time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    entries: Vec<(Key, Value)>,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, key: &Key) -> Result<usize, usize> {
        // Writers emit keys in order, so check the end first.
        match self.entries.last() {
            Some((last, _)) if last < key => Err(self.entries.len()),
            None => Err(0),
            _ => self.entries.binary_search_by(|(k, _)| k.cmp(key)),
        }
    }

    /// The value under a string key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_key(&Key::String(key.to_owned()))
    }

    /// A copy of the string under a string key, if it is a string.
    pub fn get_string(&self, key: &str) -> Option<String> {
        self.get(key).and_then(Value::as_str).map(str::to_owned)
    }

    /// The strings of the sequence under a string key (what LuaRocks
    /// walks with `ipairs`); empty when the key holds no table.
    pub fn get_strings(&self, key: &str) -> Vec<String> {
        self.get(key)
            .and_then(Value::as_table)
            .map(|t| {
                t.sequence()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value under any key.
    pub fn get_key(&self, key: &Key) -> Option<&Value> {
        self.position(key).ok().map(|i| &self.entries[i].1)
    }

    /// The value under an integer key.
    pub fn get_index(&self, index: i64) -> Option<&Value> {
        self.get_key(&Key::Integer(index))
    }

    /// Sets (or, with `None`, removes) a key, as `t[k] = v` does.
    pub fn set(&mut self, key: Key, value: Option<Value>) {
        match (self.position(&key), value) {
            (Ok(i), Some(v)) => self.entries[i].1 = v,
            (Ok(i), None) => {
                self.entries.remove(i);
            }
            (Err(i), Some(v)) => self.entries.insert(i, (key, v)),
            (Err(_), None) => {}
        }
    }

    /// Sets a string key.
    pub fn insert(&mut self, key: &str, value: Value) {
        self.set(Key::String(key.to_owned()), Some(value));
    }

    /// Removes a string key, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(&Key::String(key.to_owned())).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// A mutable reference to the value under a string key.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let i = self.position(&Key::String(key.to_owned())).ok()?;
        Some(&mut self.entries[i].1)
    }

    /// A mutable reference to the value under any key.
    pub fn get_key_mut(&mut self, key: &Key) -> Option<&mut Value> {
        let i = self.position(key).ok()?;
        Some(&mut self.entries[i].1)
    }

    /// Appends at `#t + 1`.
    pub fn push(&mut self, value: Value) {
        let next = self.sequence_len() as i64 + 1;
        self.set(Key::Integer(next), Some(value));
    }

    /// Every entry, integer keys first.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Consumes the table, yielding its entries in key order.
    pub fn into_entries(self) -> impl Iterator<Item = (Key, Value)> {
        self.entries.into_iter()
    }

    /// The number of entries (all keys).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The length of the sequence `1..n` (what `ipairs` walks).
    pub fn sequence_len(&self) -> usize {
        let start = match self.position(&Key::Integer(1)) {
            Ok(i) => i,
            Err(_) => return 0,
        };
        let mut n = 0usize;
        for (key, _) in &self.entries[start..] {
            match key {
                Key::Integer(i) if *i == n as i64 + 1 => n += 1,
                _ => break,
            }
        }
        n
    }

    /// The values of `t[1], t[2], …` as `ipairs` yields them.
    pub fn sequence(&self) -> impl Iterator<Item = &Value> {
        let start = self.position(&Key::Integer(1)).unwrap_or(0);
        self.entries[start..start + self.sequence_len()]
            .iter()
            .map(|(_, v)| v)
    }

    /// True when the keys are exactly `1..n` with n ≥ 1.
    pub fn is_array(&self) -> bool {
        !self.entries.is_empty() && self.sequence_len() == self.entries.len()
    }

    /// See [`Value::to_json`].
    pub fn to_json(&self) -> serde_json::Value {
        if self.is_array() {
            serde_json::Value::Array(self.entries.iter().map(|(_, v)| v.to_json()).collect())
        } else {
            serde_json::Value::Object(
                self.entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            )
        }
    }

    /// LuaRocks' `util.deep_merge(self, other)`: tables merge recursively,
    /// anything else overwrites — so arrays merge *by index*.
    pub fn deep_merge(&mut self, other: &Table) {
        for (key, value) in other.iter() {
            match value {
                Value::Table(src) => match self.position(key) {
                    Ok(i) => match &mut self.entries[i].1 {
                        Value::Table(dst) => dst.deep_merge(src),
                        other => *other = value.clone(),
                    },
                    Err(_) => {
                        let mut dst = Table::new();
                        dst.deep_merge(src);
                        self.set(key.clone(), Some(Value::Table(dst)));
                    }
                },
                _ => self.set(key.clone(), Some(value.clone())),
            }
        }
    }
}

impl Table {
    /// The table a constructor's fields make, in the order written: a
    /// later field for the same key wins, a `nil` one removes it. Sorted
    /// once at the end, so fields in any order cost O(n log n) (setting
    /// them one by one moves the tail of the vector for each).
    pub fn from_fields(mut fields: Vec<(Key, Option<Value>)>) -> Table {
        // Stable: fields of one key stay in the order written.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let mut entries: Vec<(Key, Value)> = Vec::with_capacity(fields.len());
        let mut fields = fields.into_iter().peekable();
        while let Some((key, value)) = fields.next() {
            if fields.peek().is_some_and(|(next, _)| *next == key) {
                continue;
            }
            if let Some(value) = value {
                entries.push((key, value));
            }
        }
        Table { entries }
    }
}

impl FromIterator<(Key, Value)> for Table {
    /// Later duplicates win, as with repeated assignment.
    fn from_iter<I: IntoIterator<Item = (Key, Value)>>(iter: I) -> Self {
        let mut entries: Vec<(Key, Value)> = iter.into_iter().collect();
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        Table { entries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(items: &[&str]) -> Table {
        let mut t = Table::new();
        for s in items {
            t.push(Value::String((*s).to_owned()));
        }
        t
    }

    #[test]
    fn deep_merge_merges_arrays_by_index() {
        let mut deps = array(&["a >= 1", "b"]);
        deps.deep_merge(&array(&["d", "e", "f"]));
        deps.deep_merge(&array(&["c"]));
        assert_eq!(deps, array(&["c", "e", "f"]));
    }

    #[test]
    fn fields_in_any_order_make_the_table_set_one_by_one_makes() {
        let s = |v: &str| Some(Value::String(v.to_owned()));
        let fields = vec![
            (Key::from("b"), s("1")),
            (Key::Integer(2), s("two")),
            (Key::from("a"), s("x")),
            (Key::from("b"), None),
            (Key::from("a"), s("y")),
            (Key::from("c"), None),
            (Key::Integer(1), s("one")),
        ];
        let mut one_by_one = Table::new();
        for (k, v) in fields.clone() {
            one_by_one.set(k, v);
        }
        assert_eq!(Table::from_fields(fields), one_by_one);
        assert_eq!(one_by_one.len(), 3);
    }

    #[test]
    fn sequence_stops_at_the_first_hole() {
        let mut t = array(&["x", "y"]);
        t.set(Key::Integer(4), Some(Value::Boolean(true)));
        assert_eq!(t.sequence_len(), 2);
        assert!(!t.is_array());
    }
}
