/*  graph.h: a pipeline as Graphviz DOT (`troupe graph`). */
#ifndef TR_GRAPH_H
#define TR_GRAPH_H

#include "plan/plan.h"

#include <stdio.h>

/*  Writes the plan's actors and channels as one DOT digraph. */
void graph_write(const plan_t *p, FILE *out);

#endif
