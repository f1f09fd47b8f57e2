return { v = "1.0" }
