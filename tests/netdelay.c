/*  netdelay: a link with delay and loss between two network namespaces,
    in user space (this kernel has no sch_netem).

        netdelay NETNS_A DEV_A NETNS_B DEV_B DELAY_MS [LOSS_PERCENT [SEED]]

    DEV_A (in NETNS_A) and DEV_B (in NETNS_B) are persistent tun devices
    (`ip -n NETNS tuntap add dev DEV mode tun`), addressed point to point
    by the caller. Every packet read from one is written to the other
    DELAY_MS later (the one-way delay: the round trip is twice it), or
    dropped with probability LOSS_PERCENT / 100. Packets keep their order.
    Runs until SIGTERM or SIGINT; errors name what failed and exit 1.
    Used by tests/nodes_far.sh and bench/netns.sh.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MTU_MAX 65536
#define QUEUE_MAX 65536 /* packets in flight one way; more are dropped */

typedef struct {
    uint64_t due_us;
    size_t len;
    char *data;
} packet_t;

typedef struct {
    int from, to;       /* tun fds */
    packet_t *q;        /* a ring of QUEUE_MAX */
    size_t head, count; /* oldest, and how many */
    uint64_t passed, dropped, full;
} way_t;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*  The tun device `dev` of network namespace `ns`, opened from inside it. */
static int open_tun(const char *ns, const char *dev)
{
    char path[256];
    snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "netdelay: network namespace %s: %s\n", ns, strerror(errno));
        return -1;
    }
    close(nsfd);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", dev);
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) != 0) {
        fprintf(stderr, "netdelay: tun device %s in %s: %s\n", dev, ns, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/*  Reads what waits on w->from into w's queue, due delay_us from now. */
static void take(way_t *w, uint64_t delay_us, unsigned loss_ppm)
{
    for (;;) {
        char buf[MTU_MAX];
        ssize_t n = read(w->from, buf, sizeof buf);
        if (n <= 0)
            return;
        if (loss_ppm && (unsigned)(random() % 1000000) < loss_ppm) {
            w->dropped++;
            continue;
        }
        if (w->count == QUEUE_MAX) {
            w->full++;
            continue;
        }
        char *copy = malloc((size_t)n);
        if (!copy) {
            w->full++;
            continue;
        }
        memcpy(copy, buf, (size_t)n);
        packet_t *p = &w->q[(w->head + w->count) % QUEUE_MAX];
        *p = (packet_t){ now_us() + delay_us, (size_t)n, copy };
        w->count++;
    }
}

/*  Writes what is due; returns microseconds until the next is, or -1. */
static long long give(way_t *w)
{
    uint64_t now = now_us();
    while (w->count) {
        packet_t *p = &w->q[w->head];
        if (p->due_us > now)
            return (long long)(p->due_us - now);
        if (write(w->to, p->data, p->len) < 0 && errno == EAGAIN)
            return 1000; /* the device's queue is full: a moment */
        free(p->data);
        w->head = (w->head + 1) % QUEUE_MAX;
        w->count--;
        w->passed++;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 6 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: netdelay NETNS_A DEV_A NETNS_B DEV_B DELAY_MS "
                        "[LOSS_PERCENT [SEED]]\n");
        return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    char *end;
    double delay_ms = strtod(argv[5], &end);
    double loss = argc > 6 ? strtod(argv[6], NULL) : 0;
    if (*end || delay_ms < 0 || delay_ms > 10000 || loss < 0 || loss > 100) {
        fprintf(stderr, "netdelay: DELAY_MS from 0 to 10000, LOSS_PERCENT from 0 to 100\n");
        return 2;
    }
    srandom(argc > 7 ? (unsigned)atoi(argv[7]) : 1);
    int a = open_tun(argv[1], argv[2]), b = open_tun(argv[3], argv[4]);
    if (a < 0 || b < 0)
        return 1;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    way_t ways[2] = { { .from = a, .to = b }, { .from = b, .to = a } };
    ways[0].q = calloc(QUEUE_MAX, sizeof(packet_t));
    ways[1].q = calloc(QUEUE_MAX, sizeof(packet_t));
    if (!ways[0].q || !ways[1].q)
        return 1;
    uint64_t delay_us = (uint64_t)(delay_ms * 1000);
    unsigned loss_ppm = (unsigned)(loss * 10000);
    while (!stop) {
        long long wait = -1;
        for (int k = 0; k < 2; k++) {
            long long w = give(&ways[k]);
            if (w >= 0 && (wait < 0 || w < wait))
                wait = w;
        }
        struct pollfd fds[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
        int timeout = wait < 0 ? 200 : (int)((wait + 999) / 1000);
        if (poll(fds, 2, timeout) < 0 && errno != EINTR)
            break;
        for (int k = 0; k < 2; k++)
            if (fds[k].revents & POLLIN)
                take(&ways[k], delay_us, loss_ppm);
    }
    fprintf(stderr, "netdelay: %s->%s %llu passed, %llu dropped, %llu over the queue; "
                    "back %llu, %llu, %llu\n", argv[2], argv[4],
            (unsigned long long)ways[0].passed, (unsigned long long)ways[0].dropped,
            (unsigned long long)ways[0].full, (unsigned long long)ways[1].passed,
            (unsigned long long)ways[1].dropped, (unsigned long long)ways[1].full);
    return 0;
}
