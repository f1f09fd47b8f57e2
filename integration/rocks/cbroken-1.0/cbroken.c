int luaopen_cbroken(void *L) { return this is not C; }
