package = "letters"
version = "1.0a-1"
source = { url = "https://example.org/letters-1.0a.tar.gz" }
dependencies = { "x ~> 1.0b", "y < 1.0.1", "z >= v1.0" }
build = { type = "builtin", modules = { letters = "letters.lua" } }
