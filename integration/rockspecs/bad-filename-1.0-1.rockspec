package = "bad-filename"
version = "1.0-2"
source = { url = "https://example.org/x.tar.gz" }
build = { type = "none" }
