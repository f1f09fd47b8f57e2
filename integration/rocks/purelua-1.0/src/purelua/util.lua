return { greet = function(who) return "hello, " .. who end, version = "1.0" }
