local util = require "purelua.util"
return { version = "1.0", greet = util.greet }
