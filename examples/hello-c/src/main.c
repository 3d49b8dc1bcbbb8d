#include <stdio.h>

#include "config.h"
#include "greet.h"

int main(int argc, char **argv) {
    char message[128];
    if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') {
        printf("hello %s\n", HELLO_VERSION);
        return 0;
    }
    greet(argc > 1 ? argv[1] : "world", message, sizeof message);
    puts(message);
    return 0;
}
