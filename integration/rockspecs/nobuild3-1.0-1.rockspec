rockspec_format = "3.0"
package = "nobuild3"
version = "1.0-1"
source = { url = "https://example.org/nobuild3-1.0.tar.gz" }
