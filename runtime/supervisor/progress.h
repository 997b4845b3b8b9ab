/*  progress.h: how far a run has come, on the supervisor's stderr: a bar
    redrawn in place on a terminal, or a plain line a second
    (`troupe run --progress` where stderr is not a terminal). Internal to
    the supervisor.
*/
#ifndef TR_PROGRESS_H
#define TR_PROGRESS_H

#include "supervisor/supervise.h"

#include <stdbool.h>

/*  Decides whether and how this run shows its progress (the options, -q,
    an embedded run, whether stderr and stdout are terminals) and keeps the
    state in s->progress, NULL when it shows none. Call once, before the
    actors get their CONFIG. */
void progress_start(sup_t *s);
/*  Whether a bar is drawn on a terminal (an actor erases it before a line
    of its own there: CONFIG's log flags). */
bool progress_bar(const sup_t *s);
/*  Called every round of the supervisor's loop: takes a sample of the
    sources' counts and draws when it is time (a bar about 4 times a
    second, a plain line once a second). */
void progress_tick(sup_t *s);
/*  Around a line the supervisor writes on stderr: clear erases the bar,
    restore draws it again as it was. Nothing without a bar. */
void progress_clear(sup_t *s);
void progress_restore(sup_t *s);
/*  The items out of the sources so far (every instance and incarnation),
    and their total: 0 until every instance of every source has announced
    one (troupe_set_total) or ended (then it counts what it made). The bar
    and troupe top's snapshot (watch.c) both count this way. */
void progress_tally(sup_t *s, uint64_t *done, uint64_t *total);
/*  At the end of the run: erases the bar and frees the state. */
void progress_end(sup_t *s);

#endif
