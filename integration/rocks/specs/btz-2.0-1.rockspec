package = "btz"
version = "2.0-1"
source = { url = "@BASE@/btz-2.0.tar.gz" }
description = { summary = "conflict fixture: the shared dependency (2.0)", license = "MIT" }
dependencies = {  }
build = { type = "builtin", modules = { btz = "btz.lua" } }
