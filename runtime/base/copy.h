/*  copy.h: appending a few bytes to a growing buffer without a call.

    Most of what a pipeline copies is small: a packed integer (1 to 9
    bytes), a word, a group's array header. memcpy with a size known only
    at run time is a call into libc for each, which on squares.zpl was a
    tenth of every process's CPU. copy_small copies up to 16 bytes with two
    overlapping fixed-size moves the compiler inlines, anything longer with
    memcpy.
*/
#ifndef TR_COPY_H
#define TR_COPY_H

#include <msgpack.h>
#include <string.h>

static inline void copy_small(char *to, const char *from, size_t n)
{
    if (n > 16)
        memcpy(to, from, n);
    else if (n >= 8) {
        memcpy(to, from, 8);
        memcpy(to + n - 8, from + n - 8, 8);
    }
    else if (n >= 4) {
        memcpy(to, from, 4);
        memcpy(to + n - 4, from + n - 4, 4);
    }
    else if (n) {
        to[0] = from[0];
        to[n / 2] = from[n / 2];
        to[n - 1] = from[n - 1];
    }
}

/*  msgpack_sbuffer_write, inline when the bytes fit: 0, or -1 out of
    memory (msgpack-c grows the buffer). */
static inline int sbuffer_append(msgpack_sbuffer *sb, const char *data, size_t len)
{
    if (sb->alloc - sb->size >= len) {
        copy_small(sb->data + sb->size, data, len);
        sb->size += len;
        return 0;
    }
    return msgpack_sbuffer_write(sb, data, len);
}

/*  sbuffer_append as a msgpack_packer's write callback (data: the
    msgpack_sbuffer). */
static inline int sbuffer_append_cb(void *data, const char *buf, size_t len)
{
    return sbuffer_append(data, buf, len);
}

#endif
