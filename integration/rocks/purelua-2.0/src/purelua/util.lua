return { greet = function(who) return "hello, " .. who end, version = "2.0" }
