#ifndef GREET_H
#define GREET_H

/* Writes a greeting for `name` into `out` (at most `size` bytes). */
void greet(const char *name, char *out, unsigned long size);

#endif
