int cmulti_twice(int x);
