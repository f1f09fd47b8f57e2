return { greet = function() return "clash" end }
