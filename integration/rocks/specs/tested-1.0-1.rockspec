rockspec_format = "3.0"
package = "tested"
version = "1.0-1"
source = { url = "@BASE@/purelua-1.0.tar.gz", dir = "purelua-1.0" }
description = { summary = "A rockspec with a test table and nothing to build", license = "MIT" }
test = { type = "command", command = "echo the suite ran with" }
build = { type = "builtin", modules = {} }
