/*  config.h: a pipeline config file (ZPL, read by czmq's zconfig) to a
    validated plan. docs/CONFIG.md describes the format.
*/
#ifndef TR_CONFIG_H
#define TR_CONFIG_H

#include "plan/plan.h"

/*  Loads `file`, applies `overrides` ("ACTOR.KEY=VALUE", "ACTOR.args.NAME=
    VALUE" or "pipeline.KEY=VALUE"), checks everything including the modules,
    and returns the plan (destroy with plan_destroy). On failure returns NULL
    and sets *errors to a new string, one "FILE:LINE: message" per line, that
    the caller frees. */
plan_t *config_load(const char *file, char *const *overrides, int noverrides,
                    char **errors);

#endif
