package = "luasocket"
version = "3.1.0-1"
source = { url = "@BASE@/luasocket-3.1.0.tar.gz" }
description = { summary = "Stand-in for LuaSocket (C core and Lua modules)", license = "MIT" }
dependencies = { "lua >= 5.1" }
build = {
   type = "builtin",
   modules = {
      ["socket.core"] = { sources = { "src/socket_core.c" } },
      ["mime.core"] = { sources = { "src/mime_core.c" } },
      socket = "src/socket.lua",
   },
}
