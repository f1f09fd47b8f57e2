return { top = true, dep = require "dmdep" }
