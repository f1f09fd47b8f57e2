package = "upg"
version = "1.0-1"
source = { url = "@BASE@/upg-1.0.tar.gz" }
description = { summary = "upgrade fixture (1.0)", license = "MIT" }
build = { type = "builtin", modules = { upg = "upg.lua" } }
