package = "bad-type"
version = "1.0-1"
source = "https://example.org/x.tar.gz"
build = { type = "none" }
