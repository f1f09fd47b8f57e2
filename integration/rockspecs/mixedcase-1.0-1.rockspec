package = "MixedCase"
version = "1.0-1"
source = { url = "https://example.org/MixedCase-1.0.tar.gz" }
dependencies = { "LuaSocket >= 3.0" }
build = { type = "builtin", modules = { mixedcase = "MixedCase.lua" } }
