/*  process.h: the child side of troupe_process_start (process.c). */
#ifndef TR_PROCESS_H
#define TR_PROCESS_H

/*  Environment of a process started by troupe_process_start: the function
    to run (a selfref) and the descriptor its packed args can be read from. */
#define PROCESS_ENV_FN "TROUPE_PROCESS"
#define PROCESS_ENV_ARGS_FD "TROUPE_PROCESS_ARGS_FD"

/*  In the child, from troupe_init: reads the args, runs the function and
    exits with its status. Never returns. */
void process_child_main(void) __attribute__((noreturn));

#endif
