//! The evaluator for untrusted Lua files (rockspecs, manifests, config).
//!
//! Each evaluation gets a fresh interpreter (vendored Lua 5.4) and runs the
//! file as LuaRocks' `persist.load_into_table` does: one text chunk (a
//! leading `#!` line dropped), an environment that starts empty — or holds
//! only the values the caller presets — and records every read of an
//! undefined global. String methods work (`("%s-1"):format(v)`), as they do
//! under LuaRocks, through a string metatable that holds the string library
//! minus `dump`.
//!
//! What keeps a hostile file harmless:
//! - no `io`, `os`, `require`, `load`, `debug` or `package` is reachable;
//! - binary chunks are refused by the loader (text mode);
//! - an instruction budget and a wall-clock deadline, both checked every
//!   1,000 VM instructions;
//! - a memory cap enforced by the allocator (a `("x"):rep(1e10)` fails);
//! - a cap on the plain-Rust image of the result, counted while it is made:
//!   Lua keeps one copy of a string however often a table refers to it,
//!   the image one per reference, so a 1 MB string referred to 2,000 times
//!   costs 1 MB inside Lua and would cost 2 GB outside (shared tables
//!   likewise, nested they multiply);
//! - the C functions that could run long inside one call, where no hook can
//!   fire, are bounded before they start: pattern functions refuse
//!   subject/pattern pairs whose backtracking could run for seconds, and
//!   `rep` of an empty string returns at once (Lua would loop 2^62 times to
//!   build nothing). Every other string function is linear in its result,
//!   which the memory cap bounds.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;

use mlua::{ChunkMode, HookTriggers, Lua, LuaOptions, StdLib, VmState};

use super::value::{Key, Table, Value};

/// Resource limits for one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// VM instructions the file may execute.
    pub instructions: u64,
    /// Bytes the interpreter may allocate.
    pub memory: usize,
    /// Size of the source text.
    pub source_bytes: usize,
    /// Wall-clock time the evaluation may take.
    pub deadline: std::time::Duration,
    /// Bytes the plain-Rust image of the result may take, every reference
    /// to a shared string or table counted anew.
    pub image: usize,
}

impl Limits {
    /// Limits for a rockspec or config file: real ones run a few thousand
    /// instructions in well under a megabyte.
    pub const SMALL_FILE: Limits = Limits {
        instructions: 20_000_000,
        memory: 64 << 20,
        source_bytes: 4 << 20,
        deadline: std::time::Duration::from_secs(5),
        image: 32 << 20,
    };
    /// Limits for a repository manifest (luarocks.org's is ~3.5 MB of source
    /// and needs ~100 MB once loaded; its image, ~20 MB).
    pub const MANIFEST: Limits = Limits {
        instructions: 200_000_000,
        memory: 512 << 20,
        source_bytes: 64 << 20,
        deadline: std::time::Duration::from_secs(30),
        image: 128 << 20,
    };
}

/// What an evaluation left behind.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The environment after the chunk ran: its global assignments.
    pub globals: Table,
    /// Globals the chunk read while they were undefined (LuaRocks rejects
    /// rockspecs that do this, naming them).
    pub undeclared: BTreeSet<String>,
}

/// Why an evaluation failed. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The source is larger than the limit.
    #[error("{chunk}: file is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The file.
        chunk: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The file is a precompiled (binary) chunk.
    #[error("{chunk}: is a precompiled Lua chunk; only Lua source text is accepted")]
    Bytecode {
        /// The file.
        chunk: String,
    },
    /// A syntax error.
    #[error("syntax error: {message}")]
    Syntax {
        /// Lua's message, which names the file and line.
        message: String,
    },
    /// A run-time error raised by the file.
    #[error("error running {chunk}: {message}")]
    Runtime {
        /// The file.
        chunk: String,
        /// Lua's message (with file and line where Lua gives them).
        message: String,
    },
    /// The instruction budget ran out (an endless loop, or far too much work).
    #[error("{chunk}: stopped after {limit} Lua instructions (an endless loop?)")]
    InstructionBudget {
        /// The file.
        chunk: String,
        /// The budget.
        limit: u64,
    },
    /// The wall-clock deadline passed.
    #[error("{chunk}: stopped after {} s of evaluation (the sandbox's time limit)", limit.as_secs_f64())]
    Deadline {
        /// The file.
        chunk: String,
        /// The deadline.
        limit: std::time::Duration,
    },
    /// The memory cap was reached.
    #[error("{chunk}: stopped at the memory limit of {limit} bytes")]
    Memory {
        /// The file.
        chunk: String,
        /// The cap.
        limit: usize,
    },
    /// The result, every shared string and table counted once per
    /// reference, is larger than the limit.
    #[error("{chunk}: its value would take more than {limit} bytes once every string and table it shares is copied (the sandbox's limit); a real one is far smaller")]
    Image {
        /// The file.
        chunk: String,
        /// The cap.
        limit: usize,
    },
    /// The result holds a table that contains itself or nests too deeply to
    /// be data.
    #[error("{chunk}: value of {path} {problem}")]
    NotData {
        /// The file.
        chunk: String,
        /// Where in the environment.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The interpreter could not be set up or read back (mlua's error is
    /// not `Send`, so its text is kept).
    #[error("Lua interpreter failure: {0}")]
    Setup(String),
}

/// Deepest table nesting accepted in a result.
const MAX_DEPTH: usize = 64;

/// Trusted setup, run before the file: a string metatable whose `__index`
/// is a restricted string library with guarded pattern functions, and the
/// constructor of the recording environment. Returns that constructor.
const SETUP: &str = r#"
local string, type, error, setmetatable = string, type, error, setmetatable
local gsub, rep = string.gsub, string.rep
-- Backtracking in Lua patterns costs up to (n+1)^(q+1) steps for q
-- quantifiers on an n-byte subject; refuse what could run for seconds.
local LIMIT = 2e9
local function guard(name, f)
  return function(s, p, ...)
    if type(s) == "string" and type(p) == "string" then
      local q = #gsub(gsub(p, "%%.", ""), "[^%*%+%-%?]", "")
      if q > 0 then
        local n, cost = #s + 1, #s + 1
        for _ = 1, q do
          cost = cost * n
          if cost > LIMIT then
            error("string." .. name .. ": pattern with " .. q ..
              " repetitions is too costly on a " .. #s .. "-byte string (sandbox limit)", 2)
          end
        end
      end
    end
    return f(s, p, ...)
  end
end
-- The length a string argument has once Lua coerces it.
local function len(x)
  if type(x) == "string" then return #x end
  if type(x) == "number" then return #(x .. "") end
  return 0
end
local function safe_rep(s, n, sep)
  -- Nothing to copy: Lua's loop would still run n times.
  if type(n) == "number" and len(s) + len(sep) == 0 then return "" end
  return rep(s, n, sep)
end
local safe = {
  byte = string.byte, char = string.char, format = string.format,
  len = string.len, lower = string.lower, upper = string.upper,
  rep = safe_rep, reverse = string.reverse, sub = string.sub,
  find = guard("find", string.find), match = guard("match", string.match),
  gmatch = guard("gmatch", string.gmatch), gsub = guard("gsub", string.gsub),
}
getmetatable("").__index = safe
return function(seen)
  local env = {}
  setmetatable(env, { __index = function(_, k)
    if type(k) == "string" then seen[k] = true end
  end })
  return env
end
"#;

/// Whether `source` is a Lua text chunk that compiles (nothing is run), as
/// LuaRocks decides whether a `bin/` file gets a Lua wrapper.
pub fn compiles(source: &[u8]) -> bool {
    let source = strip_shebang(source);
    if source.first() == Some(&0x1b) || source.len() > Limits::SMALL_FILE.source_bytes {
        return false;
    }
    let Ok(lua) = Lua::new_with(StdLib::NONE, LuaOptions::new()) else {
        return false;
    };
    lua.load(source)
        .set_mode(mlua::ChunkMode::Text)
        .into_function()
        .is_ok()
}

/// Evaluates `source` as the Lua file `chunk` (a display name) with `preset`
/// values in its environment.
pub fn evaluate(
    chunk: &str,
    source: &[u8],
    preset: &Table,
    limits: Limits,
) -> Result<Evaluation, EvalError> {
    if source.len() > limits.source_bytes {
        return Err(EvalError::TooLarge {
            chunk: chunk.to_owned(),
            size: source.len(),
            limit: limits.source_bytes,
        });
    }
    let source = strip_shebang(source);
    if source.first() == Some(&0x1b) {
        return Err(EvalError::Bytecode {
            chunk: chunk.to_owned(),
        });
    }

    let lua = Lua::new_with(StdLib::STRING, LuaOptions::new()).map_err(setup)?;
    let make_env: mlua::Function = lua
        .load(SETUP)
        .set_name("=rockstore-sandbox")
        .eval()
        .map_err(setup)?;
    let seen = lua.create_table().map_err(setup)?;
    let env: mlua::Table = make_env.call(seen.clone()).map_err(setup)?;
    for (key, value) in preset.iter() {
        let key = key_to_lua(&lua, key).map_err(setup)?;
        let value = value_to_lua(&lua, value).map_err(setup)?;
        env.raw_set(key, value).map_err(setup)?;
    }

    // Fresh state: all allocation from here on belongs to the file.
    let used = lua.used_memory();
    lua.set_memory_limit(used.saturating_add(limits.memory))
        .map_err(setup)?;
    let executed = Rc::new(Cell::new(0u64));
    let late = Rc::new(Cell::new(false));
    let started = std::time::Instant::now();
    const STEP: u32 = 1000;
    {
        let (executed, late) = (Rc::clone(&executed), Rc::clone(&late));
        let budget = limits.instructions;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(STEP),
            move |_lua, _debug| {
                let total = executed.get() + u64::from(STEP);
                executed.set(total);
                if total > budget {
                    Err(mlua::Error::runtime(
                        "rockstore: instruction budget exhausted",
                    ))
                } else if started.elapsed() > limits.deadline {
                    late.set(true);
                    Err(mlua::Error::runtime("rockstore: time limit reached"))
                } else {
                    Ok(VmState::Continue)
                }
            },
        )
        .map_err(setup)?;
    }

    let classify = |err: mlua::Error| -> EvalError {
        if executed.get() > limits.instructions {
            return EvalError::InstructionBudget {
                chunk: chunk.to_owned(),
                limit: limits.instructions,
            };
        }
        if late.get() {
            return EvalError::Deadline {
                chunk: chunk.to_owned(),
                limit: limits.deadline,
            };
        }
        match err {
            mlua::Error::SyntaxError { message, .. } => EvalError::Syntax { message },
            mlua::Error::MemoryError(_) => EvalError::Memory {
                chunk: chunk.to_owned(),
                limit: limits.memory,
            },
            other => EvalError::Runtime {
                chunk: chunk.to_owned(),
                message: runtime_message(&other),
            },
        }
    };

    let function = lua
        .load(source)
        .set_name(format!("@{chunk}"))
        .set_mode(ChunkMode::Text)
        .set_environment(env.clone())
        .into_function()
        .map_err(classify)?;
    function.call::<()>(()).map_err(classify)?;
    lua.remove_hook();
    env.set_metatable(None).map_err(setup)?;

    let mut undeclared = BTreeSet::new();
    for pair in seen.pairs::<String, bool>() {
        let (name, _) = pair.map_err(setup)?;
        undeclared.insert(name);
    }
    let mut image = Image {
        chunk,
        stack: Vec::new(),
        left: limits.image,
        limit: limits.image,
    };
    let globals = image.table(&env, "")?;
    Ok(Evaluation {
        globals,
        undeclared,
    })
}

fn setup(error: mlua::Error) -> EvalError {
    EvalError::Setup(error.to_string())
}

/// LuaRocks' `str:gsub("^#![^\n]*\n", "")`.
pub(crate) fn strip_shebang(source: &[u8]) -> &[u8] {
    if source.starts_with(b"#!") {
        if let Some(newline) = source.iter().position(|&b| b == b'\n') {
            return &source[newline + 1..];
        }
    }
    source
}

/// The innermost message of a Lua error, without mlua's traceback wrapping.
fn runtime_message(err: &mlua::Error) -> String {
    match err {
        // The traceback points into the sandbox, not the user's file.
        mlua::Error::RuntimeError(message) => match message.split_once("\nstack traceback:") {
            Some((head, _)) => head.to_owned(),
            None => message.clone(),
        },
        mlua::Error::CallbackError { cause, .. } => runtime_message(cause),
        mlua::Error::WithContext { cause, .. } => runtime_message(cause),
        other => other.to_string(),
    }
}

fn key_to_lua(lua: &Lua, key: &Key) -> mlua::Result<mlua::Value> {
    Ok(match key {
        Key::Integer(i) => mlua::Value::Integer(*i),
        Key::String(s) | Key::Other(s) => mlua::Value::String(lua.create_string(s)?),
    })
}

fn value_to_lua(lua: &Lua, value: &Value) -> mlua::Result<mlua::Value> {
    Ok(match value {
        Value::Boolean(b) => mlua::Value::Boolean(*b),
        Value::Integer(i) => mlua::Value::Integer(*i),
        Value::Number(n) => mlua::Value::Number(*n),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Table(t) => {
            let table = lua.create_table()?;
            for (k, v) in t.iter() {
                table.raw_set(key_to_lua(lua, k)?, value_to_lua(lua, v)?)?;
            }
            mlua::Value::Table(table)
        }
        Value::Opaque(_) => mlua::Value::Nil,
    })
}

/// Makes the plain-Rust image of a table, counting what it allocates
/// against the image cap before each allocation.
struct Image<'a> {
    chunk: &'a str,
    /// The tables being converted, outermost first (a cycle is refused).
    stack: Vec<*const std::ffi::c_void>,
    /// Bytes the image may still take.
    left: usize,
    limit: usize,
}

impl Image<'_> {
    /// Takes `bytes` from what the image may still take.
    fn take(&mut self, bytes: usize) -> Result<(), EvalError> {
        self.left = self
            .left
            .checked_sub(bytes)
            .ok_or_else(|| EvalError::Image {
                chunk: self.chunk.to_owned(),
                limit: self.limit,
            })?;
        Ok(())
    }

    /// A string's copy, counted first.
    fn string(&mut self, s: &mlua::String) -> Result<String, EvalError> {
        self.take(s.as_bytes().len())?;
        Ok(s.to_string_lossy())
    }

    fn table(&mut self, table: &mlua::Table, path: &str) -> Result<Table, EvalError> {
        let not_data = |problem| EvalError::NotData {
            chunk: self.chunk.to_owned(),
            path: if path.is_empty() {
                "the file".to_owned()
            } else {
                path.to_owned()
            },
            problem,
        };
        let pointer = table.to_pointer();
        if self.stack.contains(&pointer) {
            return Err(not_data("contains itself"));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(not_data("nests tables more than 64 deep"));
        }
        self.stack.push(pointer);
        self.take(std::mem::size_of::<Table>())?;
        let mut out = Vec::new();
        for pair in table.pairs::<mlua::Value, mlua::Value>() {
            let (key, value) = pair.map_err(setup)?;
            self.take(std::mem::size_of::<(Key, Value)>())?;
            let key = match key {
                mlua::Value::Integer(i) => Key::Integer(i),
                mlua::Value::String(s) => Key::String(self.string(&s)?),
                mlua::Value::Number(n) => Key::Other(format!("{n}")),
                mlua::Value::Boolean(b) => Key::Other(b.to_string()),
                other => Key::Other(other.type_name().to_owned()),
            };
            let value = match value {
                mlua::Value::Boolean(b) => Value::Boolean(b),
                mlua::Value::Integer(i) => Value::Integer(i),
                mlua::Value::Number(n) => Value::Number(n),
                mlua::Value::String(s) => Value::String(self.string(&s)?),
                mlua::Value::Table(t) => Value::Table(self.table(&t, &key.path_in(path))?),
                mlua::Value::Nil => continue,
                other => Value::Opaque(other.type_name()),
            };
            out.push((key, value));
        }
        self.stack.pop();
        Ok(out.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Result<Evaluation, EvalError> {
        evaluate(
            "test.lua",
            src.as_bytes(),
            &Table::new(),
            Limits::SMALL_FILE,
        )
    }

    #[test]
    fn assignments_become_globals_and_locals_do_not() {
        let e = run("local v = '1.0'\npackage = 'x'\nversion = v .. '-1'\n").expect("runs");
        assert_eq!(
            e.globals.get("version"),
            Some(&Value::String("1.0-1".into()))
        );
        assert_eq!(e.globals.get("v"), None);
        assert!(e.undeclared.is_empty());
    }

    #[test]
    fn string_methods_work_but_the_library_is_not_a_global() {
        let e = run("a = ('%s-%d'):format('x', 3)\nb = ('A'):lower()").expect("runs");
        assert_eq!(e.globals.get("a"), Some(&Value::String("x-3".into())));
        let err = run("a = string.format('x')").expect_err("string is not a global");
        assert!(
            err.to_string().contains("attempt to index a nil value"),
            "{err}"
        );
    }

    #[test]
    fn reads_of_undefined_globals_are_recorded() {
        let e = run("x = os\ny = build").expect("runs");
        assert_eq!(
            e.undeclared.iter().map(String::as_str).collect::<Vec<_>>(),
            ["build", "os"]
        );
    }

    #[test]
    fn a_shebang_line_is_dropped() {
        let e = run("#!/usr/bin/env lua\nx = 1").expect("runs");
        assert_eq!(e.globals.get("x"), Some(&Value::Integer(1)));
    }

    #[test]
    fn shared_tables_are_fine_but_cycles_are_not() {
        run("local d = {'a'}\nx = d\ny = d").expect("shared is data");
        let err = run("x = {}\nx.self = x").expect_err("cycle");
        assert!(err.to_string().contains("x.self"), "{err}");
    }

    #[test]
    fn c_calls_that_would_run_for_ever_are_bounded() {
        let started = std::time::Instant::now();
        let e = run("x = (''):rep(2^62)\ny = (''):rep(2^62, '')").expect("empty rep is empty");
        assert_eq!(e.globals.get("x"), Some(&Value::String(String::new())));
        let err = run("x = ('a'):rep(2^62)").expect_err("too large");
        assert!(
            err.to_string().contains("too large") || err.to_string().contains("memory"),
            "{err}"
        );
        let err = run("x = (('a'):rep(40)):find(('a?'):rep(40) .. ('a'):rep(40))")
            .expect_err("optional repetitions backtrack too");
        assert!(err.to_string().contains("too costly"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn shared_strings_and_tables_count_once_per_reference() {
        // 1 MB inside Lua; 2 GB (and 2^40 entries) once copied out.
        let err = run("local s = ('x'):rep(1e6)\nt = {}\nfor i = 1, 2000 do t[i] = s end")
            .expect_err("image cap");
        assert!(matches!(err, EvalError::Image { .. }), "{err}");
        assert!(err.to_string().starts_with("test.lua: "), "{err}");
        let err =
            run("local t = {'x'}\nfor i = 1, 40 do t = {t, t} end\nx = t").expect_err("image cap");
        assert!(matches!(err, EvalError::Image { .. }), "{err}");
        // What real files share is far below it.
        run("local s = ('x'):rep(1000)\nt = {}\nfor i = 1, 1000 do t[i] = s end").expect("small");
    }

    #[test]
    fn the_deadline_stops_slow_but_thrifty_code() {
        let limits = Limits {
            instructions: u64::MAX,
            deadline: std::time::Duration::from_millis(200),
            ..Limits::SMALL_FILE
        };
        let err = evaluate("slow.lua", b"while true do end", &Table::new(), limits)
            .expect_err("deadline");
        assert!(matches!(err, EvalError::Deadline { .. }), "{err}");
        assert!(err.to_string().contains("slow.lua"), "{err}");
    }

    #[test]
    fn preset_values_are_visible() {
        let mut preset = Table::new();
        preset.insert("home", Value::String("/home/u".into()));
        let e = evaluate("c.lua", b"t = home .. '/x'", &preset, Limits::SMALL_FILE).expect("runs");
        assert_eq!(e.globals.get("t"), Some(&Value::String("/home/u/x".into())));
    }
}
