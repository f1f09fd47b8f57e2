-- A stand-in for copas: a dispatcher over luasocket.
local socket = require("socket")
local M = { _VERSION = "Copas 4.7.0 (stand-in)", started = socket.gettime() }
local tasks = {}
function M.addthread(f, ...) tasks[#tasks + 1] = coroutine.create(f); return tasks[#tasks] end
function M.loop() for _, t in ipairs(tasks) do coroutine.resume(t) end; tasks = {} end
return M
