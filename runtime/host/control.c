/*  control.c: the control channel to the supervisor: what the host tells
    it (HELLO, READY, stats and heartbeats, failed items, a fatal error) and
    reading what it says (the loop in actor.c acts on it).
*/
#include "host/internal.h"
#include "base/log.h"
#include "base/clock.h"
#include "wire/ctl.h"

#include <fcntl.h>
#include <errno.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*  The peak resident memory a heartbeat reports is read again at most
    every this many heartbeats (2 s) unless getrusage says it grew, and
    always at DONE (send_stats says why). */
#define RSS_EVERY_BEATS 8

/*  The messages sent on every heartbeat, batch or failed item are packed
    on the stack (packbuf.h): they allocate nothing. */
void host_send_packbuf(host_t *h, const packbuf_t *buf)
{
    if (!buf->over)
        zmq_send(h->ctl, buf->data, buf->size, ZMQ_DONTWAIT);
}

/*  [FAIL, item, text]: an item failed. Out of line: it is rare, and its
    buffer would keep group_end, which runs for every item, from being
    inlined. */
__attribute__((cold, noinline)) void host_send_fail(host_t *h, uint64_t item,
                                                      const char *text)
{
    packbuf_t buf;
    packbuf_init(&buf);
    msgpack_packer *pk = &buf.pk;
    size_t len = strlen(text);
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, CTL_FAIL);
    msgpack_pack_uint64(pk, item);
    /* the text is at most ctx->error's 512 bytes; cut, should it not fit */
    msgpack_pack_str_with_body(pk, text, len < PACKBUF_MAX - 32 ? len : PACKBUF_MAX - 32);
    host_send_packbuf(h, &buf);
}

/*  Out of memory where going on would drop or wrongly acknowledge a batch:
    says so and stops the host, which acknowledges nothing from now on and
    exits 1. What it has not acknowledged its producers still hold, and
    they give it to its successor, as for any death. */
__attribute__((cold, noinline)) void host_fatal(host_t *h, const char *what)
{
    if (h->fatal)
        return;
    h->fatal = true;
    h->stop = true;
    char text[256];
    snprintf(text, sizeof text, "out of memory %s: stopping, what it holds goes to its "
             "successor", what);
    if (h->embed && h->embed->aborted)
        h->embed->aborted(h->embed->arg, text);
    else if (!h->embed) {
        char who[300];
        snprintf(who, sizeof who, "troupe actor %s", h->ctx.id ? h->ctx.id : "?");
        log_write(who, LOG_ERROR, "%s", text);
    }
}

/*  Peak resident memory in kB, as the kernel counts it for this process
    image (getrusage's figure would include what the process was before
    exec). One open and one read into a buffer on the stack: no FILE,
    nothing on the heap. */
long host_peak_rss_kb(void)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char text[4096];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    const char *at = strstr(text, "\nVmHWM:");
    return at ? strtol(at + 7, NULL, 10) : 0;
}

/*  The peak for a heartbeat. VmHWM only grows, so the one read at DONE is
    this image's true peak; in between, reading /proc on every heartbeat of
    every actor is more than troupe top needs. So it is read again when
    getrusage's peak (one system call, no text) grew, which it does when
    VmHWM grows past what the process was before exec, and otherwise every
    RSS_EVERY_BEATS heartbeats. */
static long heartbeat_rss_kb(host_t *h, int kind)
{
    struct rusage ru;
    long maxrss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    if (kind != CTL_STATS || h->beats++ % RSS_EVERY_BEATS == 0
        || maxrss != h->maxrss_seen) {
        h->peak_rss_kb = host_peak_rss_kb();
        h->maxrss_seen = maxrss;
    }
    return h->peak_rss_kb;
}

__attribute__((noinline)) void host_send_stats(host_t *h, int kind)
{
    host_stats_t *s = &h->ctx.stats;
    packbuf_t buf;
    packbuf_init(&buf);
    msgpack_packer *pk = &buf.pk;
    msgpack_pack_array(pk, 13);
    msgpack_pack_int(pk, kind);
    msgpack_pack_uint64(pk, s->items_in);
    msgpack_pack_uint64(pk, s->items_out);
    uint64_t batches_out = 0;
    for (int i = 0; i < h->ctx.nouts; i++)
        batches_out += h->ctx.outs[i]->batches_out;
    msgpack_pack_uint64(pk, s->batches_in);
    msgpack_pack_uint64(pk, batches_out);
    msgpack_pack_uint64(pk, s->failed);
    msgpack_pack_uint64(pk, s->malformed);
    msgpack_pack_uint64(pk, s->busy_ns);
    msgpack_pack_uint64(pk, (uint64_t)heartbeat_rss_kb(h, kind));
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    msgpack_pack_uint64(pk, (uint64_t)cpu.tv_sec * 1000000000u + (uint64_t)cpu.tv_nsec);
    uint64_t unacked = 0;
    for (int i = 0; i < h->ctx.nouts; i++)
        unacked += h->ctx.outs[i]->next_id - h->ctx.outs[i]->head;
    msgpack_pack_uint64(pk, s->held);
    msgpack_pack_uint64(pk, unacked);
    msgpack_pack_uint64(pk, s->total);
    host_send_packbuf(h, &buf);
}

/*  The supervisor takes an actor that stays silent too long for hung; a
    long batch beats from inside its loop. */
void host_heartbeat(host_t *h)
{
    uint64_t now = now_ms();
    if (now >= h->next_beat) {
        host_send_stats(h, CTL_STATS);
        h->next_beat = now + CTL_HEARTBEAT_MS;
    }
}

/*  Reads one control message; returns its kind (and keeps the decoded
    message in *root / zone for CONFIG), 0 when none, -1 on garbage. */
int host_ctl_read(host_t *h, msgpack_zone *zone, msgpack_object *root,
                    zmq_msg_t *msg)
{
    if (zmq_msg_recv(msg, h->ctl, ZMQ_DONTWAIT) < 0)
        return 0;
    if (msgpack_unpack(zmq_msg_data(msg), zmq_msg_size(msg), &(size_t){ 0 }, zone,
                       root)
            != MSGPACK_UNPACK_SUCCESS
        || root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 1
        || root->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    return (int)root->via.array.ptr[0].via.u64;
}

/*  Waits up to `ms` for a control message of kind `want` (or STOP). */
int host_wait_for(host_t *h, int want, int ms, msgpack_zone *zone,
                    msgpack_object *root, zmq_msg_t *msg)
{
    uint64_t deadline = now_ms() + (uint64_t)ms;
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return -1;
        zmq_pollitem_t it = { .socket = h->ctl, .events = ZMQ_POLLIN };
        long slice = (long)(deadline - now);
        if (h->embed && slice > 100)
            slice = 100; /* the caller's tick runs meanwhile */
        if (zmq_poll(&it, 1, slice) < 0 && errno != EINTR)
            return -1;
        if (h->embed && h->embed->tick && !h->embed->tick(h->embed->arg))
            return -1;
        if (!(it.revents & ZMQ_POLLIN))
            continue;
        zmq_msg_close(msg);
        zmq_msg_init(msg);
        msgpack_zone_clear(zone);
        int kind = host_ctl_read(h, zone, root, msg);
        if (kind == CTL_ABORT && h->embed && h->embed->aborted) {
            char why[512];
            const msgpack_object *t
                = root->via.array.size > 1 ? &root->via.array.ptr[1] : NULL;
            snprintf(why, sizeof why, "%.*s",
                     t && t->type == MSGPACK_OBJECT_STR ? (int)t->via.str.size : 0,
                     t && t->type == MSGPACK_OBJECT_STR ? t->via.str.ptr : "");
            h->embed->aborted(h->embed->arg, why);
            return CTL_ABORT;
        }
        if (kind == want || kind == CTL_STOP)
            return kind;
    }
}

/*  [READY, [endpoint per output]]: where each output is bound, as zmq
    says (on tcp, with the port the system picked). */
void host_send_ready(host_t *h)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, CTL_READY);
    msgpack_pack_array(&pk, (uint32_t)h->ctx.nouts);
    for (int i = 0; i < h->ctx.nouts; i++) {
        char ep[1024] = "";
        size_t len = sizeof ep;
        zmq_getsockopt(h->ctx.outs[i]->sock, ZMQ_LAST_ENDPOINT, ep, &len);
        ctl_pack_str(&pk, ep);
    }
    ctl_send(h->ctl, NULL, 0, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/*  A problem before the loop: on stderr in an actor process, to the caller
    in a program that embeds the host. */
void host_say(host_t *h, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (h->embed && h->embed->aborted)
        h->embed->aborted(h->embed->arg, text);
    else if (!h->embed) {
        char who[64];
        snprintf(who, sizeof who, "troupe actor %s", h->rid ? h->rid : "?");
        log_write(who, LOG_ERROR, "%s", text);
    }
}

/*  Connects the control socket to the supervisor at `control` and says
    HELLO with our pid (0 inside a caller's program). 0, or -1 (said). */
int host_connect(host_t *h, const char *control)
{
    int linger = 2000;
    zmq_setsockopt(h->ctl, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(h->ctl, ZMQ_ROUTING_ID, h->rid, strlen(h->rid));
    /* an embedding caller connects while its supervisor is still starting:
       retry soon, not after the default 100 ms */
    int ivl = 2;
    zmq_setsockopt(h->ctl, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if (zmq_connect(h->ctl, control) != 0) {
        host_say(h, "cannot connect to %s: %s", control, zmq_strerror(errno));
        return -1;
    }
    packbuf_t buf;
    packbuf_init(&buf);
    msgpack_pack_array(&buf.pk, 2);
    msgpack_pack_int(&buf.pk, CTL_HELLO);
    msgpack_pack_int(&buf.pk, h->embed ? 0 : getpid());
    host_send_packbuf(h, &buf);
    return 0;
}
