#include "foo.h"
int foo_magic(void) { return 4242; }
