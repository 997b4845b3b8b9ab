/* process.c: to be written (troupe_process_*) */
#include "process.h"

#include <stdlib.h>

void process_child_main(void)
{
    exit(127);
}
