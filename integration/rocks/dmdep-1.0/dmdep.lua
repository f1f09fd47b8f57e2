return { dep = true }
