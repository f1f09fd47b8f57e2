package = "bttop"
version = "1.0-1"
source = { url = "@BASE@/bttop-1.0.tar.gz" }
description = { summary = "conflict fixture: solvable only by choosing btx 1.0", license = "MIT" }
dependencies = { "btx", "bty" }
build = { type = "builtin", modules = { bttop = "bttop.lua" } }
