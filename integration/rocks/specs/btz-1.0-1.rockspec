package = "btz"
version = "1.0-1"
source = { url = "@BASE@/btz-1.0.tar.gz" }
description = { summary = "conflict fixture: the shared dependency (1.0)", license = "MIT" }
dependencies = {  }
build = { type = "builtin", modules = { btz = "btz.lua" } }
