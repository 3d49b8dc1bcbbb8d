#include <stdio.h>

#include "greet.h"

void greet(const char *name, char *out, unsigned long size) {
    snprintf(out, size, "Hello, %s!", name);
}
