package = "loops"
version = "1.0-1"
source = { url = "https://example.org/loops-1.0.tar.gz" }
local modules = {}
local names = { "a", "b", "c" }
for n = 1, #names do
   local m = names[n]
   modules["loops." .. m] = "src/" .. m .. ".lua"
end
local i = 0
while i < 3 do
   i = i + 1
   modules["loops.gen" .. i] = "gen/" .. i .. ".lua"
end
for word in ("x y z"):gmatch("%a") do
   modules["loops.w" .. word] = "w/" .. word .. ".lua"
end
build = { type = "builtin", modules = modules }
