return { from = "git" }
