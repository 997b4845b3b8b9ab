/*  version.c: troupe_version (), the library's version at run time: the
    troupe.h this library was built with, where a program's TROUPE_VERSION
    is the troupe.h the program was built with. */
#include "troupe.h"

#define TR_STRING(x) #x
#define TR_EXPAND(x) TR_STRING(x)

const char *troupe_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = TROUPE_VERSION_MAJOR;
    if (minor)
        *minor = TROUPE_VERSION_MINOR;
    if (patch)
        *patch = TROUPE_VERSION_PATCH;
    return TR_EXPAND(TROUPE_VERSION_MAJOR) "." TR_EXPAND(TROUPE_VERSION_MINOR) "." TR_EXPAND(
        TROUPE_VERSION_PATCH);
}
