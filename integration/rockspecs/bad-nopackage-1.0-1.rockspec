version = "1.0-1"
source = { url = "https://example.org/x.tar.gz" }
build = { type = "none" }
