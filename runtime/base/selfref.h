/*  selfref.h: naming a function or a module descriptor of the running
    program so that the same program, started again (a worker), finds it.

    An address is written as "self:OBJECT:OFFSET": the loaded object that
    holds it (empty for the main program, else the library's path) and its
    offset from that object's load address. Addresses differ between runs
    (ASLR); offsets inside the same file do not.
*/
#ifndef TR_SELFREF_H
#define TR_SELFREF_H

#include <stdbool.h>
#include <stddef.h>

#define SELFREF_PREFIX "self:"

/*  Writes the reference of `addr` into buf. Returns 0, or -1 when addr is
    in no loaded object (a heap or stack address). */
int selfref_make(const void *addr, char *buf, size_t len);
/*  The address a reference names in this process, loading the library it
    names if need be; NULL with the reason in err. */
void *selfref_resolve(const char *ref, char *err, size_t errlen);
bool selfref_is(const char *text);

/*  The running program's own file (for starting it again), or -1. */
int selfref_program(char *buf, size_t len);

#endif
