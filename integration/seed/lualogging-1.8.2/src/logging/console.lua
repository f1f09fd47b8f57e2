-- A stand-in for logging.console.
local logging = require("logging")
return function() return logging.new(function(level, msg) return level .. " " .. msg end) end
