/*  slowconnect.c: an LD_PRELOAD shim for the tests of who learns what,
    and when: once a process calls slowconnect_arm (found with dlsym; a
    process that never does behaves as without the shim), each connect()
    it makes to a unix socket (zmq's ipc) waits that long first. A pool's
    caller armed so connects to its supervisor well after the workers did:
    whatever the supervisor tells it before then has to wait for it.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

static _Atomic int delay_ms;

__attribute__((visibility("default"))) void slowconnect_arm(int ms)
{
    atomic_store(&delay_ms, ms);
}

__attribute__((visibility("default"))) int connect(int fd, const struct sockaddr *addr,
                                                  socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT,
                                                                      "connect");
    int ms = atomic_load(&delay_ms);
    if (ms > 0 && addr && addr->sa_family == AF_UNIX) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    return real(fd, addr, len);
}
