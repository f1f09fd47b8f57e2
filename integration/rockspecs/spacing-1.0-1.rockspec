package = "spacing"
version = "1.0-1"
source = { url = "https://example.org/spacing-1.0.tar.gz" }
dependencies = {
   "lua>=5.1,<5.5",
   "   foo   ~>  1.0  ",
   "bar >= 1.0 , < 2.0",
   "baz>1 <3",
}
build = { type = "none" }
