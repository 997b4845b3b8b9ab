/*  pool_map: three workers square five numbers.

    Python:
        with Pool(3) as p:
            print(p.map(square, [1, 2, 3, 4, 5]))

    Prints [1, 4, 9, 16, 25]. The workers run the built-in module "square",
    so this program needs no troupe_init: it starts no copy of itself.
*/
#include <troupe.h>

#include <stdio.h>

int main(void)
{
    const int64_t in[5] = { 1, 2, 3, 4, 5 };
    int64_t out[5];

    troupe_pool_t *pool = troupe_pool_new("square", 3, NULL);
    if (!pool) {
        fprintf(stderr, "pool_map: %s\n", troupe_error());
        return 1;
    }
    /*  Results come back in input order, as with Pool.map. */
    if (troupe_pool_map_int(pool, in, out, 5) != 0 || troupe_pool_close(pool) != 0) {
        fprintf(stderr, "pool_map: %s\n", troupe_error());
        troupe_pool_destroy(&pool);
        return 1;
    }
    troupe_pool_destroy(&pool);

    printf("[");
    for (int i = 0; i < 5; i++)
        printf("%s%lld", i ? ", " : "", (long long)out[i]);
    printf("]\n");
    return 0;
}
