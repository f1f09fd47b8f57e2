local function lua_module(name)
   return "src/" .. name:gsub("%.", "/") .. ".lua"
end
local function c_module(name, extra)
   local t = { sources = { "csrc/" .. name .. ".c" } }
   if extra then t.libraries = extra end
   return t
end
package = "helpers"
version = "1.0-1"
source = { url = "https://example.org/helpers-1.0.tar.gz" }
build = {
   type = "builtin",
   modules = {
      helpers = lua_module("helpers"),
      ["helpers.util.text"] = lua_module("helpers.util.text"),
      ["helpers.fast"] = c_module("fast", { "m" }),
      ["helpers.slow"] = c_module("slow"),
   },
}
