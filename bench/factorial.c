/*  factorial: the seeds' CPU-bound map, Pool(3).map(factorial, [100000,
    200000, 300000]), timed in troupe for bench/run to set against
    Python's (py_map.py factorial):

    factorial WORKERS N1,N2,...   a pool of WORKERS runs a module of this
                                  program that computes n! for each n, a
                                  product loop 2 * 3 * ... * n over a
                                  bignum, as the seeds' Python does (no
                                  GMP: a multiply by a word, schoolbook)

    Prints one JSON line: the seconds inside troupe_pool_map alone (map_s)
    and, per item, the bit length of n! and n! mod 2^61 - 1 (results),
    which bench/run checks against Python's math.factorial. Options are
    the defaults (chunksize automatic), as a ported program has them.
*/
#define _GNU_SOURCE
#include "troupe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ==== the module ================================================================= */

#define MERSENNE61 ((1ull << 61) - 1)

typedef struct {
    uint64_t *limb; /* least significant first */
    size_t n, cap;
} big_t;

/*  big *= m, m > 0. False when out of memory. */
static bool big_mul(big_t *b, uint64_t m)
{
    unsigned __int128 carry = 0;
    for (size_t i = 0; i < b->n; i++) {
        unsigned __int128 t = (unsigned __int128)b->limb[i] * m + carry;
        b->limb[i] = (uint64_t)t;
        carry = t >> 64;
    }
    if (!carry)
        return true;
    if (b->n == b->cap) {
        size_t cap = b->cap * 2;
        uint64_t *more = realloc(b->limb, cap * sizeof *more);
        if (!more)
            return false;
        b->limb = more;
        b->cap = cap;
    }
    b->limb[b->n++] = (uint64_t)carry;
    return true;
}

/*  big mod 2^61 - 1: 2^64 is 8 there. */
static uint64_t big_mod61(const big_t *b)
{
    unsigned __int128 acc = 0;
    for (size_t i = b->n; i-- > 0;)
        acc = (acc * 8 + b->limb[i]) % MERSENNE61;
    return (uint64_t)acc;
}

static uint64_t big_bits(const big_t *b)
{
    return (uint64_t)(b->n - 1) * 64 + (uint64_t)(64 - __builtin_clzll(b->limb[b->n - 1]));
}

/*  n! by the product loop; the factors go in a word at a time (as many
    as fit in 64 bits), the one liberty taken with the seeds' loop. */
static int factorial_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n;
    if (!troupe_as_int(v, &n) || n < 0 || n > 100000000) {
        troupe_fail(ctx, "factorial: not a number from 0 to 10^8");
        return TROUPE_ERROR;
    }
    big_t b = { malloc(16 * sizeof(uint64_t)), 1, 16 };
    if (!b.limb) {
        troupe_fail(ctx, "factorial: out of memory");
        return TROUPE_ERROR;
    }
    b.limb[0] = 1;
    bool ok = true;
    uint64_t word = 1;
    for (uint64_t i = 2; ok && i <= (uint64_t)n; i++) {
        if (word > UINT64_MAX / i) {
            ok = big_mul(&b, word);
            word = 1;
        }
        word *= i;
    }
    ok = ok && big_mul(&b, word);
    if (!ok) {
        free(b.limb);
        troupe_fail(ctx, "factorial: out of memory for %lld!", (long long)n);
        return TROUPE_ERROR;
    }
    uint64_t bits = big_bits(&b), mod = big_mod61(&b);
    free(b.limb);
    troupe_emit_array(ctx, 2);
    troupe_emit_uint(ctx, bits);
    return troupe_emit_uint(ctx, mod);
}

static const troupe_module_t factorial_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "factorial",
    .message = factorial_message,
};

/* ==== the program ================================================================ */

static int fail(const char *what)
{
    fprintf(stderr, "factorial: %s: %s\n", what, troupe_error());
    return 1;
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    if (argc != 3) {
        fprintf(stderr, "usage: factorial WORKERS N1,N2,...\n");
        return 2;
    }
    unsigned workers = (unsigned)atoi(argv[1]);
    troupe_value_t *items[64], *results[64];
    size_t n = 0;
    for (char *s = argv[2], *end; *s && n < 64; s = *end ? end + 1 : end) {
        items[n++] = troupe_value_int(strtoll(s, &end, 10));
    }
    troupe_pool_t *pool = troupe_pool_new_module(&factorial_module, workers, NULL);
    if (!pool)
        return fail("pool");
    double t0 = now();
    int rc = troupe_pool_map(pool, items, n, results);
    double map_s = now() - t0;
    if (rc < 0 || troupe_pool_close(pool) < 0) {
        troupe_pool_destroy(&pool);
        return fail("map");
    }
    troupe_pool_destroy(&pool);
    printf("{\"map_s\": %.6f, \"results\": [", map_s);
    for (size_t i = 0; i < n; i++) {
        char text[64];
        troupe_value_format(results[i], text, sizeof text);
        printf("%s%s", i ? ", " : "", text);
        troupe_value_destroy(&results[i]);
        troupe_value_destroy(&items[i]);
    }
    printf("]}\n");
    return 0;
}
