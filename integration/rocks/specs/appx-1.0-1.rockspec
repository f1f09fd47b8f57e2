package = "appx"
version = "1.0-1"
source = { url = "@BASE@/appx-1.0.tar.gz" }
description = { summary = "An application with a closure: a pure-Lua and a C dependency", license = "MIT" }
dependencies = { "lua >= 5.1", "purelua >= 1.0", "cmulti" }
build = {
   type = "builtin",
   modules = { appx = "appx.lua" },
   install = { bin = { ["appx-cli"] = "appx-cli" } },
}
