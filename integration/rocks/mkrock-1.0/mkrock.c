#include "lua.h"
#include "lauxlib.h"
static int hello(lua_State *L) { lua_pushstring(L, "built by make"); return 1; }
int luaopen_mkrock(lua_State *L) { lua_newtable(L); lua_pushcfunction(L, hello); lua_setfield(L, -2, "hello"); return 1; }
