local util = require "purelua.util"
return { version = "2.0", greet = util.greet }
