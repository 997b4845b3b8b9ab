/*  plan.h: a pipeline as the supervisor runs it, made from a config file by
    config.c: actors with their modules, instances and arguments, and the
    channels that join them.
*/
#ifndef TR_PLAN_H
#define TR_PLAN_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { CHAN_PIPE = 0, CHAN_BROADCAST = 1 } plan_chan_mode_t;
typedef enum { ON_ERROR_FAIL = 0, ON_ERROR_SKIP = 1 } plan_on_error_t;
/*  After Erlang/OTP: permanent and transient instances are restarted when
    they die before finishing (an actor only exits normally once done, so
    the two differ only in name); temporary ones are not. */
typedef enum { RESTART_PERMANENT = 0, RESTART_TRANSIENT, RESTART_TEMPORARY } plan_restart_t;

typedef struct {
    char *name;
    plan_chan_mode_t mode;
    int line;
    int nproducers, nconsumers; /* actors */
} plan_chan_t;

typedef struct {
    char *key;
    char *value;
    int line;
} plan_arg_t;

typedef struct {
    char *name;
    char *module;      /* as written in the config */
    char *module_path; /* resolved file */
    int line, module_line;
    unsigned instances;
    int *inputs, ninputs;   /* channel indexes */
    int *outputs, noutputs;
    char *topic;     /* what it publishes on broadcast outputs */
    char *subscribe; /* prefix it takes from broadcast inputs */
    int ordered;     /* -1: the module's choice */
    bool source;     /* its module produces */
    bool flushes;    /* its module emits at the end (a flush hook) */
    plan_on_error_t on_error;
    unsigned retries;        /* extra tries of a failing item */
    plan_restart_t restart;
    unsigned max_restarts;   /* restart intensity: this many ... */
    double restart_period;   /* ... within this many seconds */
    plan_arg_t *args;
    int nargs;
} plan_actor_t;

typedef struct {
    char *name;
    char *file;
    char *dir;       /* the config file's folder, absolute */
    unsigned batch;  /* items per batch from a source */
    unsigned window; /* unacknowledged batches per output */
    unsigned credit; /* batches a consumer lets queue per producer */
    plan_actor_t *actors;
    int nactors;
    plan_chan_t *chans;
    int nchans;
} plan_t;

void plan_destroy(plan_t **self_p);
int plan_find_actor(const plan_t *self, const char *name);
int plan_find_chan(const plan_t *self, const char *name);

#endif
