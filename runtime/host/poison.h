/*  poison.h: an item that kills the worker handling it.

    Every actor instance on the head keeps, in a slot of a file the
    supervisor maps (RUNDIR/items), which item its module's message hook is
    handling, or none: two stores around each call, no system call. When an
    instance dies, by a signal, an exit of its own or killed as hung, the
    supervisor reads its slot and so knows the item it died on, exactly,
    without splitting batches to find it. Only a death the item may have
    caused counts against it: a crash, an exit of the module's own, a hang
    the supervisor killed; not SIGKILL or SIGTERM from outside. An item is
    given another try, as any item its dead worker held; once it has killed
    workers 2 + `retries` times it is poison: every instance of the actor, the restarted ones too,
    then fails it without calling the module (named, with the cause), and
    the actor's on_error decides, as for any failed item.
*/
#ifndef TR_POISON_H
#define TR_POISON_H

#include <stdint.h>

/*  One instance's slot in the file. */
typedef struct poison_slot {
    uint32_t busy;   /* 1 while the message hook runs */
    uint32_t origin; /* the item: (origin, item) */
    uint64_t item;
    uint64_t spare[6];
} poison_slot_t;

#endif
