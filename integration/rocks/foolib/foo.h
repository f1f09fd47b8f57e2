int foo_magic(void);
