package = "bad-labels"
version = "1.0-1"
description = { labels = { "x" } }
source = { url = "https://example.org/x.tar.gz" }
build = { type = "none" }
