package = "bad-depnumber"
version = "1.0-1"
dependencies = { "lua", 5.1 }
source = { url = "https://example.org/x.tar.gz" }
build = { type = "none" }
