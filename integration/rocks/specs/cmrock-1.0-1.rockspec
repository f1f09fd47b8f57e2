package = "cmrock"
version = "1.0-1"
source = { url = "@BASE@/cmrock-1.0.tar.gz" }
description = { summary = "cmake backend", license = "MIT" }
build = {
   type = "cmake",
   variables = { LUA_INCDIR = "$(LUA_INCDIR)", LIBDIR = "$(LIBDIR)", CMAKE_BUILD_TYPE = "Release" },
}
