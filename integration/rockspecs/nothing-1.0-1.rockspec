package = "nothing"
version = "1.0-1"
source = { url = "https://example.org/nothing-1.0.tar.gz" }
build = { type = "none", install = { lua = { nothing = "nothing.lua" } } }
