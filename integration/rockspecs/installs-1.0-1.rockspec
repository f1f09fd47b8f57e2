package = "installs"
version = "1.0-1"
source = { url = "https://example.org/installs-1.0.tar.gz" }
build = {
   type = "builtin",
   modules = { installs = "installs.lua" },
   install = {
      lua = { ["installs.extra"] = "lua/extra.lua", "lua/plain.lua" },
      lib = { ["installs.native"] = "build/native.so" },
      conf = { "conf/installs.conf", ["sub/other.conf"] = "conf/other.conf" },
      bin = { "bin/installs", ["installs-tool"] = "bin/tool.lua" },
   },
   copy_directories = { "doc", "examples", "spec" },
}
