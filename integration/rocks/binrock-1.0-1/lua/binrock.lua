return { from = "binary rock" }
