-- A stand-in for luamqtt, over luasocket and copas.
local socket = require("socket")
local copas = require("copas")
local protocol = require("mqtt.protocol")
return { _VERSION = "3.4.3 (stand-in)", protocol = protocol, socket = socket._VERSION, copas = copas._VERSION }
