return { needs = require("purelua").version }
