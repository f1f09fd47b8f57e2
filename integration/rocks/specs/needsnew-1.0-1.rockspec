package = "needsnew"
version = "1.0-1"
source = { url = "@BASE@/needsnew-1.0.tar.gz" }
description = { summary = "Needs purelua 2.0 or newer: a downgrade of purelua must not break it", license = "MIT" }
dependencies = { "lua >= 5.1", "purelua >= 2.0" }
build = {
   type = "builtin",
   modules = { needsnew = "needsnew.lua" },
}
