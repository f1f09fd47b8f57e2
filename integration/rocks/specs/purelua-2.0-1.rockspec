package = "purelua"
version = "2.0-1"
source = { url = "@BASE@/purelua-2.0.tar.gz", md5 = "@MD5:purelua-2.0.tar.gz@" }
description = { summary = "Pure Lua fixture", license = "MIT" }
dependencies = { "lua >= 5.1" }
build = {
   type = "builtin",
   modules = {
      purelua = "src/purelua/init.lua",
      ["purelua.util"] = "src/purelua/util.lua",
   },
   install = { bin = { "purelua-hello" } },
}
