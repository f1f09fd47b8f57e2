#include "cmulti.h"
int cmulti_twice(int x) { return 2 * x; }
