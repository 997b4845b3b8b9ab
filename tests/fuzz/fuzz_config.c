/*  fuzz_config: libFuzzer target for the config loader: any text as a
    config file, with any overrides from its first line. It must give a
    plan or errors, never crash or leak. */
#include "plan/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz_config_%d.zpl", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    /* an override taken from the input's first bytes, when they look like one */
    char set[64] = "";
    size_t n = size < sizeof set - 1 ? size : sizeof set - 1;
    memcpy(set, data, n);
    set[strcspn(set, "\n")] = '\0';
    char *sets[] = { set };
    char *errors = NULL;
    plan_t *p = config_load(path, sets, strchr(set, '=') ? 1 : 0, &errors);
    plan_destroy(&p);
    free(errors);
    return 0;
}
