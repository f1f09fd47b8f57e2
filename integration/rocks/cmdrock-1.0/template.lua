return { how = "@HOW@" }
