rockspec_format = "3.0"
package = "labelled"
version = "1.0-1"
source = { url = "@BASE@/purelua-1.0.tar.gz", dir = "purelua-1.0" }
description = {
   summary = "Labels, an issues URL, build and test dependencies, nothing to build",
   license = "MIT",
   labels = { "fixture", "testing" },
   issues_url = "https://example.invalid/labelled/issues",
}
build_dependencies = { "purelua >= 1.0" }
test_dependencies = { "dmdep >= 1.0" }
build = { type = "builtin", modules = {} }
