#include "lua.h"
#include "lauxlib.h"
#include <foo.h>
static int magic(lua_State *L) { lua_pushinteger(L, foo_magic()); return 1; }
int luaopen_cextlib(lua_State *L) { lua_newtable(L); lua_pushcfunction(L, magic); lua_setfield(L, -2, "magic"); return 1; }
