//! Text from strangers made safe for a terminal: a cache's lease names its
//! holder, a document's parse error quotes its field names, and either may
//! carry escape sequences that rewrite what the terminal shows (move the
//! cursor, hide a line, retitle the window) or bidirectional overrides
//! that reorder it, or a newline that starts a line of its own looking
//! like ours (`note: …`). [`printable`] writes each such character as
//! `\u{…}`, so the message says what was there without acting on it; a
//! message that passes through it is one line.

use std::borrow::Cow;

/// `text` with every control character (newline too), and every
/// bidirectional formatting character, written as a `\u{…}` escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    escaped(text, needs_escape)
}

/// An error's text for the terminal: every control character but
/// newline escaped as [`printable`] does (an error may list things, one
/// per line; what it quotes from strangers is escaped whole, newlines
/// too, where it is quoted).
pub fn error_text(text: &str) -> Cow<'_, str> {
    escaped(text, |c| c != '\n' && needs_escape(c))
}

/// `text` with each character `escape` picks written as `\u{…}`.
fn escaped(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escapes_act_on_nothing() {
        assert_eq!(printable("plain text, one line"), "plain text, one line");
        assert_eq!(
            printable("host\nnote: a line of ours"),
            "host\\u{a}note: a line of ours"
        );
        assert_eq!(
            printable("host\x1b[2K\x1b[1Aok\r\u{202e}gpj"),
            "host\\u{1b}[2K\\u{1b}[1Aok\\u{d}\\u{202e}gpj"
        );
        assert_eq!(printable("tab\there"), "tab\\u{9}here");
    }

    #[test]
    fn an_error_keeps_its_lines_and_acts_on_nothing() {
        assert_eq!(
            super::error_text("unknown field `\x1b]0;T\x07\nwarning: f3`"),
            "unknown field `\\u{1b}]0;T\\u{7}\nwarning: f3`"
        );
    }
}
