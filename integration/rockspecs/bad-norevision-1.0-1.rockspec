package = "bad-norevision"
version = "1.0"
source = { url = "https://example.org/x.tar.gz" }
build = { type = "none" }
