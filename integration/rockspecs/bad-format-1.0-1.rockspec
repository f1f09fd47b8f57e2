rockspec_format = "9.0"
package = "bad-format"
version = "1.0-1"
source = { url = "https://example.org/x.tar.gz" }
