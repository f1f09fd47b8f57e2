//! The host's toolchain as builds and Lua installs see it: which C
//! compiler and how to call it ([`compiler`]), and the remembered answers
//! of asking it ([`probes`]). A leaf below `build` and `lua_install`, so
//! detecting a Lua install does not need the builder.

pub mod compiler;
pub mod probes;
