package = "lualogging"
version = "1.8.2-1"
source = { url = "@BASE@/lualogging-1.8.2.tar.gz" }
description = { summary = "Stand-in for LuaLogging", license = "MIT" }
dependencies = { "lua >= 5.1", "luasocket" }
build = {
   type = "builtin",
   modules = { logging = "src/logging.lua", ["logging.console"] = "src/logging/console.lua" },
}
