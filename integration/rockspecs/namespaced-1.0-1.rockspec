rockspec_format = "3.0"
package = "namespaced"
version = "1.0-1"
source = { url = "https://example.org/namespaced-1.0.tar.gz" }
dependencies = { "alice/json >= 1.0", "bob/http-client ~> 2", "plain" }
build = { type = "builtin", modules = { namespaced = "namespaced.lua" } }
