package = "bad-operator"
version = "1.0-1"
dependencies = { "foo => 1.0" }
source = { url = "https://example.org/x.tar.gz" }
build = { type = "none" }
