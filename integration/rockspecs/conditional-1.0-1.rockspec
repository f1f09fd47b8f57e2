package = "conditional"
version = "1.0-1"
local is_dev = version:match("^scm") ~= nil
local tag
if is_dev then
   tag = nil
elseif version == "1.0-1" then
   tag = "v1.0"
else
   tag = "v" .. version:match("^(.-)%-")
end
source = { url = "git+https://example.org/conditional.git", tag = tag }
dependencies = { is_dev and "lua >= 5.3" or "lua >= 5.1" }
build = { type = "builtin", modules = { conditional = "conditional.lua" } }
