package = "srcmerge"
version = "1.0-1"
source = {
   url = "https://example.org/srcmerge-1.0.tar.gz",
   platforms = {
      linux = { url = "https://example.org/srcmerge-1.0-linux.tar.gz", dir = "srcmerge-linux" },
      windows = { url = "https://example.org/srcmerge-1.0.zip" },
   },
}
build = { type = "none" }
