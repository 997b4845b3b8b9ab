/*  process.h: the child side of troupe_process_start (process.c). */
#ifndef TR_PROCESS_H
#define TR_PROCESS_H

/*  Environment of a process started by troupe_process_start: the function
    to run (a selfref) and the descriptor its packed args can be read from.
    The child removes both before it runs the function. */
#define PROCESS_ENV_FN "TROUPE_PROCESS"
#define PROCESS_ENV_ARGS_FD "TROUPE_PROCESS_ARGS_FD"

/*  The exit status of a process that never ran its function: its args or
    its function could not be read (one line on stderr says which). 126, as
    a shell's "found but cannot run"; 127 stays exec's failure, which
    troupe_process_start reports itself. A function may return either too:
    the line on stderr tells them apart. */
#define PROCESS_EXIT_SETUP 126

/*  In the child, from troupe_init: reads the args, runs the function and
    exits with its status (its return value & 0xff). Never returns. */
void process_child_main(void) __attribute__((noreturn));

#endif
