package = "bad-runtime"
version = "1.0-1"
local t = nil
source = { url = t.url }
build = { type = "none" }
