package = "dmdep"
version = "1.0-1"
source = { url = "@BASE@/dmdep-1.0.tar.gz" }
description = { summary = "deps-mode fixture dependency", license = "MIT" }
build = { type = "builtin", modules = { dmdep = "dmdep.lua" } }
