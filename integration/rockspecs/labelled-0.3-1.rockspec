rockspec_format = "3.0"
package = "labelled"
version = "0.3-1"
source = { url = "https://example.org/labelled-0.3.zip" }
description = {
   summary = "Format 3.0 description fields",
   labels = { "network", "http", "async" },
   issues_url = "https://example.org/labelled/issues",
   license = "Apache-2.0",
}
build = { type = "builtin", modules = { labelled = "labelled.lua" } }
