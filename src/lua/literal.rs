//! A fast reader for Lua files that are only assignments of literals —
//! what `luarocks-admin make_manifest` writes. luarocks.org's manifest is
//! 3.5 MB of such text; compiling it as Lua costs ~200 ms, reading it here
//! costs a few. Anything outside the subset (an expression, a call, a local)
//! returns `None` and the caller evaluates the file in the sandbox instead,
//! which gives the same [`Table`] for the same text.
//!
//! Subset: `Name = value` statements (optionally `;`-separated), comments,
//! values `nil`, `true`, `false`, numbers, strings (short with the usual
//! escapes, and long brackets) and table constructors with positional,
//! `name =` and `[literal] =` fields.

use super::value::{Key, Table, Value};

/// A cursor over literal Lua text. [`parse_assignments`] drives it for the
/// generic case; the repository-manifest reader drives it to stream
/// `repository = {…}` straight into its model. Every method returns `None`
/// when the text leaves the subset.
pub(crate) struct Reader<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
    /// Table fields the text may still hold (see [`MAX_FIELDS`]).
    fields_left: usize,
}

/// The most table fields a literal file may hold, over all its tables
/// (a `modules` entry `["a.b"] = { "rock/1.0-1" }` is two): luarocks.org's
/// manifest holds about 300,000; a tree manifest of 5,000 rocks of 20
/// modules each, 200,000; 600,000 modules, 1,200,000. Past this the text
/// is refused, not read (each field costs ~100 bytes once read).
pub const MAX_FIELDS: usize = 2_000_000;

/// A literal file with more than [`MAX_FIELDS`] table fields.
#[derive(Debug, thiserror::Error)]
#[error("holds more than {MAX_FIELDS} table fields, more than any real manifest; refusing it")]
pub struct TooManyFields;

/// Parses `source` if it lies in the literal subset (and holds at most
/// [`MAX_FIELDS`] fields).
pub fn parse_assignments(source: &[u8]) -> Option<Table> {
    read_assignments(source).ok().flatten()
}

/// Parses `source`: `Ok(None)` when it leaves the literal subset, an error
/// when it holds too many fields to be read at all.
pub fn read_assignments(source: &[u8]) -> Result<Option<Table>, TooManyFields> {
    let mut r = Reader::new(source);
    let mut globals = Vec::new();
    let read = (|| {
        while let Some(name) = r.next_assignment()? {
            let value = r.value()?;
            globals.push((Key::String(name.to_owned()), value));
        }
        Some(())
    })();
    match read {
        Some(()) => Ok(Some(Table::from_fields(globals))),
        None if r.too_many_fields() => Err(TooManyFields),
        None => Ok(None),
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(source: &'a [u8]) -> Reader<'a> {
        let mut r = Reader {
            s: source,
            at: 0,
            depth: 0,
            fields_left: MAX_FIELDS + 1,
        };
        if r.s.starts_with(b"#") {
            // A `#!` line, as LuaRocks strips it.
            while r.at < r.s.len() && r.s[r.at] != b'\n' {
                r.at += 1;
            }
        }
        r
    }

    /// Moves past the next `Name =` at statement level: `Some(None)` at the
    /// end of the text.
    pub(crate) fn next_assignment(&mut self) -> Option<Option<&'a str>> {
        loop {
            self.skip_space()?;
            if self.at >= self.s.len() {
                return Some(None);
            }
            if self.s[self.at] != b';' {
                break;
            }
            self.at += 1;
        }
        let name = self.name()?;
        if matches!(
            name,
            "local" | "function" | "return" | "if" | "for" | "while" | "do" | "repeat" | "end"
        ) {
            return None;
        }
        self.skip_space()?;
        self.expect(b'=')?;
        Some(Some(name))
    }

    /// Opens a table constructor: consumes `{`.
    pub(crate) fn open_table(&mut self) -> Option<()> {
        self.skip_space()?;
        self.expect(b'{')?;
        self.depth += 1;
        (self.depth <= 200).then_some(())
    }

    /// The next field's key inside a table opened with [`Self::open_table`]
    /// (`name =` or `["string"] =`), consuming `=`; `Some(None)` after the
    /// closing `}`. Positional fields and non-string keys leave the subset
    /// this cursor serves.
    pub(crate) fn next_string_key(&mut self) -> Option<Option<std::borrow::Cow<'a, str>>> {
        self.skip_space()?;
        let key = match self.peek()? {
            b'}' => {
                self.at += 1;
                self.depth -= 1;
                return Some(None);
            }
            b'[' => {
                self.at += 1;
                self.skip_space()?;
                if !matches!(self.peek()?, b'"' | b'\'') {
                    return None;
                }
                let key = self.short_string_cow()?;
                self.skip_space()?;
                self.expect(b']')?;
                key
            }
            _ => std::borrow::Cow::Borrowed(self.name()?),
        };
        self.skip_space()?;
        if self.s.get(self.at + 1) == Some(&b'=') {
            return None;
        }
        self.expect(b'=')?;
        self.count_field()?;
        Some(Some(key))
    }

    /// After a field's value: consumes the `,`/`;` separator, or checks the
    /// table closes next.
    pub(crate) fn field_end(&mut self) -> Option<()> {
        self.skip_space()?;
        match self.peek()? {
            b',' | b';' => {
                self.at += 1;
                Some(())
            }
            b'}' => Some(()),
            _ => None,
        }
    }

    /// The next positional item's opening `{`, or `Some(false)` after the
    /// closing `}` of the enclosing table.
    pub(crate) fn next_table_item(&mut self) -> Option<bool> {
        self.skip_space()?;
        match self.peek()? {
            b'}' => {
                self.at += 1;
                self.depth -= 1;
                Some(false)
            }
            b'{' => {
                self.count_field()?;
                self.open_table()?;
                Some(true)
            }
            _ => None,
        }
    }

    /// A short string value (after optional space), borrowed when it has no
    /// escapes.
    pub(crate) fn string_value(&mut self) -> Option<std::borrow::Cow<'a, str>> {
        self.skip_space()?;
        if !matches!(self.peek()?, b'"' | b'\'') {
            return None;
        }
        self.short_string_cow()
    }

    /// Whether reading stopped because the text holds more than
    /// [`MAX_FIELDS`] fields.
    pub(crate) fn too_many_fields(&self) -> bool {
        self.fields_left == 0
    }

    /// Counts one field against [`MAX_FIELDS`]; `None` past it.
    fn count_field(&mut self) -> Option<()> {
        self.fields_left = self.fields_left.saturating_sub(1);
        (self.fields_left > 0).then_some(())
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        if self.peek() == Some(b) {
            self.at += 1;
            Some(())
        } else {
            None
        }
    }

    /// Skips whitespace and comments; `None` on an unterminated comment.
    fn skip_space(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) => self.at += 1,
                Some(b'-') if self.s.get(self.at + 1) == Some(&b'-') => {
                    self.at += 2;
                    if self.peek() == Some(b'[') {
                        if let Some(level) = self.long_bracket_level() {
                            self.long_string(level)?;
                            continue;
                        }
                    }
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.at += 1;
                    }
                }
                _ => return Some(()),
            }
        }
    }

    fn name(&mut self) -> Option<&'a str> {
        let start = self.at;
        if !self
            .peek()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        {
            return None;
        }
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.at += 1;
        }
        std::str::from_utf8(&self.s[start..self.at]).ok()
    }

    /// A literal: `None` outside the subset, `Some(None)` for `nil`.
    pub(crate) fn value(&mut self) -> Option<Option<Value>> {
        self.skip_space()?;
        let value = match self.peek()? {
            b'{' => self.table()?,
            b'"' | b'\'' => Value::String(self.short_string()?),
            b'[' => {
                let level = self.long_bracket_level()?;
                Value::String(self.long_string(level)?)
            }
            b'-' | b'0'..=b'9' | b'.' => self.number()?,
            _ => match self.name()? {
                "true" => Value::Boolean(true),
                "false" => Value::Boolean(false),
                "nil" => return Some(None),
                _ => return None,
            },
        };
        Some(Some(value))
    }

    fn table(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > 200 {
            return None;
        }
        self.at += 1;
        let mut fields: Vec<(Key, Option<Value>)> = Vec::new();
        let mut next_index = 1i64;
        loop {
            self.skip_space()?;
            if self.peek()? != b'}' {
                self.count_field()?;
            }
            match self.peek()? {
                b'}' => {
                    self.at += 1;
                    break;
                }
                b'[' if !matches!(self.s.get(self.at + 1), Some(b'[' | b'=')) => {
                    self.at += 1;
                    let key = match self.value()? {
                        Some(Value::String(s)) => Key::String(s),
                        Some(Value::Integer(i)) => Key::Integer(i),
                        Some(Value::Number(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                            Key::Integer(n as i64)
                        }
                        _ => return None,
                    };
                    self.skip_space()?;
                    self.expect(b']')?;
                    self.skip_space()?;
                    self.expect(b'=')?;
                    let value = self.value()?;
                    fields.push((key, value));
                }
                b if b.is_ascii_alphabetic() || b == b'_' => {
                    let save = self.at;
                    let name = self.name()?;
                    self.skip_space()?;
                    if self.peek() == Some(b'=') && self.s.get(self.at + 1) != Some(&b'=') {
                        self.at += 1;
                        let value = self.value()?;
                        fields.push((Key::String(name.to_owned()), value));
                    } else {
                        self.at = save;
                        let value = self.value()?;
                        fields.push((Key::Integer(next_index), value));
                        next_index += 1;
                    }
                }
                _ => {
                    let value = self.value()?;
                    fields.push((Key::Integer(next_index), value));
                    next_index += 1;
                }
            }
            self.skip_space()?;
            match self.peek()? {
                b',' | b';' => self.at += 1,
                b'}' => {}
                _ => return None,
            }
        }
        self.depth -= 1;
        Some(Value::Table(Table::from_fields(fields)))
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
            self.skip_space()?;
        }
        let digits_start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.')
        {
            // Exponent signs belong to the number.
            if matches!(self.peek(), Some(b'e' | b'E'))
                && matches!(self.s.get(self.at + 1), Some(b'+' | b'-'))
            {
                self.at += 1;
            }
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.s[digits_start..self.at]).ok()?;
        let negative = self.s[start] == b'-';
        if text.starts_with("0x") || text.starts_with("0X") {
            return None; // rare; the sandbox reads it
        }
        if !text.contains(['.', 'e', 'E']) {
            if let Ok(i) = text.parse::<i64>() {
                return Some(Value::Integer(if negative { i.checked_neg()? } else { i }));
            }
        }
        let f: f64 = text.parse().ok()?;
        Some(Value::Number(if negative { -f } else { f }))
    }

    fn short_string(&mut self) -> Option<String> {
        self.short_string_cow().map(std::borrow::Cow::into_owned)
    }

    fn short_string_cow(&mut self) -> Option<std::borrow::Cow<'a, str>> {
        let quote = self.s[self.at];
        self.at += 1;
        // Fast path: no escapes before the closing quote.
        let rest = &self.s[self.at..];
        if let Some(end) = rest
            .iter()
            .position(|&b| b == quote || b == b'\\' || b == b'\n')
        {
            if rest[end] == quote {
                self.at += end + 1;
                return Some(String::from_utf8_lossy(&rest[..end]));
            }
        }
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                b'\n' => return None,
                b'\\' => {
                    let e = self.peek()?;
                    self.at += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'a' => out.push(7),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'v' => out.push(11),
                        b'\\' | b'"' | b'\'' => out.push(e),
                        b'\n' => out.push(b'\n'),
                        b'0'..=b'9' => {
                            let mut n = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'9') => {
                                        n = n * 10 + u32::from(d - b'0');
                                        self.at += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(u8::try_from(n).ok()?);
                        }
                        _ => return None,
                    }
                }
                b if b == quote => break,
                b => out.push(b),
            }
        }
        Some(std::borrow::Cow::Owned(
            String::from_utf8_lossy(&out).into_owned(),
        ))
    }

    /// At `[`: the level of a long bracket `[==[`, or `None`.
    fn long_bracket_level(&self) -> Option<usize> {
        let mut i = self.at + 1;
        let mut level = 0;
        while self.s.get(i) == Some(&b'=') {
            level += 1;
            i += 1;
        }
        (self.s.get(i) == Some(&b'[')).then_some(level)
    }

    fn long_string(&mut self, level: usize) -> Option<String> {
        self.at += level + 2;
        // A newline right after the opening bracket is skipped.
        if self.peek() == Some(b'\r') {
            self.at += 1;
        }
        if self.peek() == Some(b'\n') {
            self.at += 1;
        }
        let start = self.at;
        let mut close = vec![b']'];
        close.extend(std::iter::repeat_n(b'=', level));
        close.push(b']');
        let end = self.s[start..]
            .windows(close.len())
            .position(|w| w == close.as_slice())?
            + start;
        self.at = end + close.len();
        Some(String::from_utf8_lossy(&self.s[start..end]).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lua::{evaluate, Limits};

    fn same_as_lua(src: &str) {
        let fast = parse_assignments(src.as_bytes()).expect("in the subset");
        let slow =
            evaluate("t", src.as_bytes(), &Table::new(), Limits::SMALL_FILE).expect("evaluates");
        assert_eq!(fast, slow.globals, "{src}");
    }

    #[test]
    fn literal_files_read_as_lua_reads_them() {
        same_as_lua("a = 1; b = -2.5 c = 'x\\ty\\065' d = [[\nlong]] e = [==[a]]b]==]");
        same_as_lua(
            "-- comment\nt = { 1, 'two', [3] = true, x = { y = { } }, ['k-1'] = false; 7 }",
        );
        same_as_lua("--[[ block\ncomment ]] r = { foo = { ['1.0-1'] = { { arch = 'rockspec' }, { arch = 'src' } } } }");
        same_as_lua("n = { 1e3, 2E-2, 10, nil, 5 }");
    }

    #[test]
    fn anything_else_is_left_to_the_sandbox() {
        for src in [
            "a = 1 + 2",
            "local a = 1",
            "a = f()",
            "a = b",
            "a = {x = y}",
            "return {}",
            "a = 0x10",
        ] {
            assert!(parse_assignments(src.as_bytes()).is_none(), "{src}");
        }
    }
}
