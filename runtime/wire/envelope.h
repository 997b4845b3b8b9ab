/*  envelope.h: the data-plane wire format (docs/PROTOCOL.md is the spec).

    A batch carries many items in one zmq frame: a fixed 31-byte header, then
    one group per source item (an array of the values it produced, a string
    when the item failed, nil for a repeat). Consumers answer producers with HELLO and ACK.
*/
#ifndef TR_ENVELOPE_H
#define TR_ENVELOPE_H

#include <msgpack.h>
#include <msgpack/unpack_define.h> /* MSGPACK_EMBED_STACK_SIZE */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENV_VERSION 1
#define ENV_BATCH 0
#define ENV_HELLO 1
#define ENV_ACK 2
#define ENV_BYE 3

/*  Bytes reserved in front of a batch for its header, written at the end when
    the group count is known: fixarray(6), version, kind, uint64 batch id,
    uint32 origin, uint64 first seq, array32 group count. */
#define ENV_BATCH_HEADER 31

/*  Writes the batch header into `head` (ENV_BATCH_HEADER bytes). With
    `all_empty` the groups field is the number of groups, all of them empty
    (a filter's or a reducer's batch), and no group follows. */
void env_batch_header(char *head, uint64_t batch_id, uint32_t origin,
                      uint64_t first_seq, uint32_t ngroups, bool all_empty);

/*  Item names. An item is named (origin, seq): origin is the actor whose
    hook made it (its index in the plan), seq its number there, and every
    stage passes the name on with what the item makes. Where an item is
    copied, each copy is renamed, so that where paths meet again an actor
    that takes each item once (seen.h) takes each copy once: the copy into
    output channel `chan` of an actor with several outputs (`branch` =
    ENV_BRANCH_OUT), and the copy instance `branch` of a broadcast
    channel's reader takes. A copy's origin is a hash of the name it had,
    `chan` and `branch` (and the run's `salt`, which plan/names.c picks so
    that no two copies that can meet share a name), with the top bit set,
    so that it is never an actor's index: the same copy gets the same name
    whoever makes it and however often, and a repeat stays a repeat. */
#define ENV_BRANCH_OUT UINT32_MAX
uint32_t env_branch_origin(uint32_t salt, uint32_t origin, uint32_t chan, uint32_t branch);
/*  Renames a batch frame in place, as one that reached a branch: its
    origin becomes env_branch_origin's. Only a header as env_batch_header
    writes it is renamed; false for any other frame (which every troupe
    producer's is not). Frames received on ipc and tcp are the receiver's
    own copy, so this changes nothing the producer keeps. */
bool env_batch_rename(void *frame, size_t size, uint32_t salt, uint32_t chan,
                      uint32_t branch);

typedef struct {
    uint64_t batch_id;
    uint32_t origin;
    uint64_t first_seq;
    /* each an array (values), a str (the item failed) or nil (a repeat
       of an item already passed on: nothing to do); ptr is NULL when all
       `size` groups are empty */
    msgpack_object_array groups;
} env_batch_t;

typedef enum {
    ENV_OK = 0,
    ENV_E_MSGPACK,  /* not a msgpack value, or trailing bytes */
    ENV_E_SHAPE,    /* msgpack, but not an envelope */
    ENV_E_VERSION,  /* an envelope of another version */
    ENV_E_KIND,     /* a kind this side does not take */
    ENV_E_NOMEM     /* out of memory for the decoded value */
} env_status_t;

/*  Decodes one frame in place: strings and binaries in the result point into
    `data`, everything else lives in `zone` (cleared by the caller between
    frames). `*root` receives the whole decoded value. */
env_status_t env_decode(const void *data, size_t size, msgpack_zone *zone,
                        msgpack_object *root);
/*  env_decode's own reader of the commonest batches (a header, then groups
    of plain values: envelope.c), alone: true when it took the frame. For
    the tests, which check that it takes what it should and makes what
    msgpack-c makes. */
bool env_decode_plain(const void *data, size_t size, msgpack_zone *zone,
                      msgpack_object *root);
/*  Reads a decoded value as a batch. */
env_status_t env_batch_view(const msgpack_object *root, env_batch_t *batch);
/*  Reads only the header of a batch frame, without decoding its groups:
    batch id, origin, first seq and the number of groups (groups.ptr is
    NULL). Only a header as env_batch_header writes it is read so;
    ENV_E_SHAPE for any other, which the caller then decodes whole. Says
    nothing about the groups: the frame may still fail env_decode. */
env_status_t env_batch_peek(const void *data, size_t size, env_batch_t *batch);
/*  The envelope kind of a decoded value, or -1 with the status in *status. */
int env_kind(const msgpack_object *root, env_status_t *status);
const char *env_status_str(env_status_t status);

/*  How deep a value may nest to travel in a batch: msgpack-c's unpacker
    opens at most MSGPACK_EMBED_STACK_SIZE (32) arrays and maps, empty ones
    included, one inside the other, and a batch's envelope takes 3 of them
    (the batch, its groups, the group). A deeper value would make the whole
    batch undecodable, so the emitting side refuses it. */
#define ENV_MAX_DEPTH (MSGPACK_EMBED_STACK_SIZE - 3)

/*  True unless the packed values in data[0 .. size) nest arrays and maps
    more than ENV_MAX_DEPTH deep. Reads the bytes once, allocates nothing. */
bool env_depth_ok(const void *data, size_t size);

/*  True when data[0 .. size) is exactly one msgpack value that msgpack-c
    can read back: every declared length fits, nothing after it, nested no
    deeper than ENV_MAX_DEPTH. Reads the bytes, allocates nothing. */
bool env_one_value(const void *data, size_t size);

/*  HELLO, consumer to producer: who it is, how many batches it can take, and
    for a broadcast, the topic prefix it subscribes to. */
typedef struct {
    const char *consumer; /* "actor#instance.incarnation", not terminated */
    size_t consumer_len;
    uint32_t credit;
    const char *topic;
    size_t topic_len;
} env_hello_t;

void env_pack_hello(msgpack_packer *pk, const char *consumer, uint32_t credit,
                    const char *topic);
env_status_t env_hello_view(const msgpack_object *root, env_hello_t *hello);

/*  ACK, consumer to producer: credit handed back, ids of batches whose
    effects are now safely downstream, and what one item costs from here on
    (the slowest stage's nanoseconds per item, 0 when unknown), from which a
    source sizes its batches. */
void env_pack_ack(msgpack_packer *pk, uint32_t credit, const uint64_t *ids,
                  size_t nids, uint64_t cost_ns);
env_status_t env_ack_view(const msgpack_object *root, uint32_t *credit,
                          msgpack_object_array *ids, uint64_t *cost_ns);

/*  BYE, consumer to producer, after its last ACK: it takes nothing more
    (a pool's worker retiring, maxtasksperchild), so what it was sent and
    has not acknowledged goes to the others now. On the socket its acks
    travel on, it comes after every one of them. The producer answers
    with the same frame once it has read it. */
void env_pack_bye(msgpack_packer *pk);

#endif
