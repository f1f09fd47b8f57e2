package = "extfirst"
version = "1.0-1"
source = { url = "@BASE@/extfirst-1.0.tar.gz" }
description = { summary = "Needs a C rock and a system header nobody has", license = "MIT" }
dependencies = { "lua >= 5.1", "cmulti" }
external_dependencies = { NOSUCH = { header = "rockstore-no-such-header.h" } }
build = {
   type = "builtin",
   modules = { extfirst = "extfirst.lua" },
}
