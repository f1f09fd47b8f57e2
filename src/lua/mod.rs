//! Reading Lua data files written by strangers: rockspecs, manifests and
//! LuaRocks config files are Lua programs, so they are evaluated, never
//! trusted.
//!
//! - [`sandbox`]: the evaluator (vendored Lua 5.4 through mlua) with an empty
//!   environment, text chunks only, an instruction budget, a memory cap and a
//!   bound on pattern-matching cost.
//! - [`literal`]: a fast reader for files that are nothing but assignments of
//!   literal tables (repository manifests); anything else falls back to the
//!   sandbox, so both paths yield the same [`Value`].
//! - [`value`]: the plain-Rust image of what a file left in its environment.

pub mod literal;
pub mod persist;
pub mod sandbox;
pub mod value;

pub use sandbox::{compiles, evaluate, EvalError, Evaluation, Limits};
pub use value::{Key, Table, Value};

/// Refuses a Lua file of `size` bytes when it is more than `limit`: the
/// error a reader returns before reading it.
pub fn check_size(size: u64, limit: u64) -> std::io::Result<()> {
    if size <= limit {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!("it is {size} bytes, more than the {limit} bytes such a file may be"),
    ))
}

/// Reads the Lua file at `path` (a rockspec, a config or lock file) when
/// it is at most `limit` bytes, refusing a larger one before reading it
/// (and one that grows while read).
pub fn read_source(path: &std::path::Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let limit = limit as u64;
    check_size(file.metadata()?.len(), limit)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    check_size(bytes.len() as u64, limit)?;
    Ok(bytes)
}

/// Evaluates a Lua file that `return`s its value (LuaRocks'
/// `persist.run_file`: `luarocks.lock`, `default-lua-version.lua`) in an
/// empty sandbox, and gives that value.
pub fn evaluate_returned(
    chunk: &str,
    source: &[u8],
    limits: Limits,
) -> Result<Option<Value>, EvalError> {
    // The sandbox hands back globals, so the chunk runs as a function
    // whose result is assigned to one.
    const RESULT: &str = "__rockstore_returned";
    let mut wrapped = format!("{RESULT} = (function()\n").into_bytes();
    wrapped.extend_from_slice(sandbox::strip_shebang(source));
    wrapped.extend_from_slice(b"\nend)()\n");
    let mut evaluation = evaluate(chunk, &wrapped, &Table::new(), limits)?;
    Ok(evaluation.globals.remove(RESULT))
}

impl crate::hint::Hint for EvalError {
    fn hints(&self) -> Vec<String> {
        let hint = match self {
            EvalError::Runtime { message, .. } if message.contains("(global '") => {
                "rockspecs and manifests run in an empty environment, as under LuaRocks: only string methods (\"x\"):format() etc. are available, not os, io, string, table or require"
            }
            EvalError::InstructionBudget { .. } | EvalError::Memory { .. } => {
                "the file does far more work than any rockspec needs; it was stopped, nothing was changed"
            }
            EvalError::Bytecode { .. } => "provide the Lua source text of the file",
            _ => return Vec::new(),
        };
        vec![hint.to_owned()]
    }
}
