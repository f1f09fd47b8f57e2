package = "bad-srcoverride"
version = "1.0-1"
source = { url = "https://example.org/x.tar.gz", platforms = { linux = { file = "y.tar.gz" } } }
build = { type = "none" }
