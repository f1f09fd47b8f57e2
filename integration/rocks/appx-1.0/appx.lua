local purelua = require "purelua"
local cmulti = require "cmulti"
return { run = function() return purelua.greet("appx") .. " " .. cmulti.answer() end }
