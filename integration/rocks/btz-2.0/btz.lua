return { version = "2.0" }
