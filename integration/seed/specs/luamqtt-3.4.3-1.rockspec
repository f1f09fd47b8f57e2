package = "luamqtt"
version = "3.4.3-1"
source = { url = "@BASE@/luamqtt-3.4.3.tar.gz" }
description = { summary = "Stand-in for luamqtt", license = "MIT" }
dependencies = { "lua >= 5.1", "luasocket >= 3.0", "copas >= 4.0" }
build = {
   type = "builtin",
   modules = { mqtt = "src/mqtt/init.lua", ["mqtt.protocol"] = "src/mqtt/protocol.lua" },
}
