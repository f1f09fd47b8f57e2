error("upg 2.0 is a broken release")
