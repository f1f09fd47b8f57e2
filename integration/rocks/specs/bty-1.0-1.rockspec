package = "bty"
version = "1.0-1"
source = { url = "@BASE@/bty-1.0.tar.gz" }
description = { summary = "conflict fixture: needs btz 1", license = "MIT" }
dependencies = { "btz < 2" }
build = { type = "builtin", modules = { bty = "bty.lua" } }
