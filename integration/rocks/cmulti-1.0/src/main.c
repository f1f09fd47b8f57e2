#include "lua.h"
#include "lauxlib.h"
#include "cmulti.h"
static int answer(lua_State *L) { lua_pushinteger(L, cmulti_twice(CMULTI_BASE)); return 1; }
static int version(lua_State *L) { lua_pushstring(L, LUA_VERSION); return 1; }
int luaopen_cmulti(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, answer); lua_setfield(L, -2, "answer");
  lua_pushcfunction(L, version); lua_setfield(L, -2, "lua_version");
  return 1;
}
