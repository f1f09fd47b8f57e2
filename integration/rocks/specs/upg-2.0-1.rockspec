package = "upg"
version = "2.0-1"
source = { url = "@BASE@/upg-2.0.tar.gz" }
description = { summary = "upgrade fixture (2.0)", license = "MIT" }
build = { type = "builtin", modules = { upg = "upg.lua" } }
