package = "gittag"
version = "1.4.0-1"
source = { url = "git://github.com/team/gittag.git", tag = "v1.4.0" }
build = { type = "builtin", modules = { gittag = "gittag.lua" } }
