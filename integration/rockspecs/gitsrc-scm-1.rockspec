rockspec_format = "3.0"
package = "gitsrc"
version = "scm-1"
source = { url = "git+https://example.org/team/gitsrc.git", branch = "main" }
build = { type = "builtin", modules = { gitsrc = "src/gitsrc.lua" } }
