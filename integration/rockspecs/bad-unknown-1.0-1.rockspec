package = "bad-unknown"
version = "1.0-1"
homepage = "https://example.org"
source = { url = "https://example.org/x.tar.gz" }
build = { type = "none" }
