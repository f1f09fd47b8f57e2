return { shaped_like = "luasec" }
