#include "lua.h"
#include "lauxlib.h"
#include <openssl/crypto.h>
#include <openssl/ssl.h>
static int version(lua_State *L) { lua_pushstring(L, OpenSSL_version(OPENSSL_VERSION)); return 1; }
int luaopen_cssl(lua_State *L) { lua_newtable(L); lua_pushcfunction(L, version); lua_setfield(L, -2, "version"); return 1; }
