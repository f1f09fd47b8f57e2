package = "btnone"
version = "1.0-1"
source = { url = "@BASE@/btnone-1.0.tar.gz" }
description = { summary = "conflict fixture: no solution", license = "MIT" }
dependencies = { "btx >= 2", "bty" }
build = { type = "builtin", modules = { btnone = "btnone.lua" } }
