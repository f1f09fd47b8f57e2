rockspec_format = "3.0"
package = "nowrap"
version = "1.0-1"
source = { url = "@BASE@/nowrap-1.0.tar.gz" }
description = { summary = "a bin script installed unwrapped (deploy.wrap_bin_scripts = false)", license = "MIT" }
deploy = { wrap_bin_scripts = false }
build = { type = "builtin", modules = {}, install = { bin = { "nowrap-cli" } } }
