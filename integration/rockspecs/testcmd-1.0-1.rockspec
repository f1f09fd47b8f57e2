rockspec_format = "3.0"
package = "testcmd"
version = "1.0-1"
source = { url = "https://example.org/testcmd-1.0.tar.gz" }
test = { type = "command", script = "tests/run.lua", command = "make test" }
build = { type = "builtin", modules = { testcmd = "testcmd.lua" } }
