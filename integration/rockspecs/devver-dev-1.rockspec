package = "devver"
version = "dev-1"
source = { url = "git+https://example.org/devver.git" }
dependencies = { "lua >= 5.1", "other scm", "third >= 1.0rc1, < 2.0beta" }
build = { type = "builtin", modules = { devver = "devver.lua" } }
