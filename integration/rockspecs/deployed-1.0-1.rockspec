rockspec_format = "1.1"
package = "deployed"
version = "1.0-1"
source = { url = "https://example.org/deployed-1.0.tar.gz" }
deploy = { wrap_bin_scripts = false }
build = { type = "builtin", modules = { deployed = "deployed.lua" }, install = { bin = { "bin/deployed" } } }
