package = "clash"
version = "1.0-1"
source = { url = "@BASE@/clash-1.0.tar.gz" }
description = { summary = "provides purelua.util too", license = "MIT" }
build = { type = "builtin", modules = { ["purelua.util"] = "util.lua" } }
