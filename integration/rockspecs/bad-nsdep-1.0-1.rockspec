package = "bad-nsdep"
version = "1.0-1"
dependencies = { "alice/json" }
source = { url = "https://example.org/x.tar.gz" }
build = { type = "none" }
