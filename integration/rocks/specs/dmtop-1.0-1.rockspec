package = "dmtop"
version = "1.0-1"
source = { url = "@BASE@/dmtop-1.0.tar.gz" }
description = { summary = "deps-mode fixture", license = "MIT" }
dependencies = { "dmdep >= 1.0" }
build = { type = "builtin", modules = { dmtop = "dmtop.lua" } }
