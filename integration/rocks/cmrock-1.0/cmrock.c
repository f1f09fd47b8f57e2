#include "lua.h"
#include "lauxlib.h"
static int hello(lua_State *L) { lua_pushstring(L, "built by cmake"); return 1; }
int luaopen_cmrock(lua_State *L) { lua_newtable(L); lua_pushcfunction(L, hello); lua_setfield(L, -2, "hello"); return 1; }
