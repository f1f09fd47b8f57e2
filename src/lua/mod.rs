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
pub mod sandbox;
pub mod value;

pub use sandbox::{compiles, evaluate, EvalError, Evaluation, Limits};
pub use value::{Key, Table, Value};
