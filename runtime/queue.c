/* queue.c: to be written */
