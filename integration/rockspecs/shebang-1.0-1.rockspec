#!/usr/bin/env lua
package = "shebang"
version = "1.0-1"
source = { url = "https://example.org/shebang-1.0.tar.gz" }
build = { type = "builtin", modules = { shebang = "shebang.lua" } }
