/*  shared.c: troupe_lock_*, troupe_event_*, troupe_semaphore_*,
    troupe_shared_*: Python's Lock, RLock, Event, Semaphore, Value and Array
    in memory that a process and those troupe_process_start starts share
    (shared.h says how it is passed on).

    The arena is one memfd of ARENA_SIZE bytes, mapped whole: the kernel
    gives it memory only where an object is made. Its head holds an id (so
    that an address from another program's arena is refused, not
    misread) and the offset of the next free byte, which every process
    moves on with one atomic add. Each object starts with a header naming
    its kind and holding its address, so that troupe_*_open checks what it
    is handed. The locks are robust, process-shared pthread mutexes: the
    kernel tells the next taker that a holder died.
*/
#define _GNU_SOURCE
#include "embed/shared.h"

#include "base/error.h"
#include "troupe.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ARENA_SIZE ((uint64_t)256 << 20)
#define ARENA_MAGIC 0x7472707368617265ull /* "trpshare" */
#define OBJ_MAGIC 0x6f626a74u
#define ALIGN 64 /* a cache line each: no two objects share one */

typedef struct {
    uint64_t magic;
    uint64_t id;
    uint64_t next; /* the next free offset: moved on atomically */
} arena_head_t;

enum { KIND_LOCK = 1, KIND_EVENT, KIND_SEMAPHORE, KIND_SHARED };
static const char *const kinds[] = {
    [KIND_LOCK] = "lock", [KIND_EVENT] = "event", [KIND_SEMAPHORE] = "semaphore",
    [KIND_SHARED] = "shared",
};

typedef struct {
    uint32_t magic, kind;
    char address[56];
} obj_t;

struct troupe_lock {
    obj_t o;
    pthread_mutex_t m;
};

struct troupe_event {
    obj_t o;
    pthread_mutex_t m;
    pthread_cond_t c;
    uint32_t set;
};

struct troupe_semaphore {
    obj_t o;
    sem_t sem;
    uint32_t bound;    /* 0: unbounded */
    pthread_mutex_t m; /* bounded: one release at a time checks the value */
};

struct troupe_shared {
    obj_t o;
    struct troupe_lock lock;
    uint64_t size;
    _Alignas(ALIGN) char data[];
};

static struct {
    pthread_mutex_t mu;
    int fd;
    char *base;
    uint64_t id;
} arena = { PTHREAD_MUTEX_INITIALIZER, -1, NULL, 0 };

/* ---- the arena ---------------------------------------------------------------- */

static arena_head_t *head(void)
{
    return (arena_head_t *)arena.base;
}

/*  Maps the arena at fd (the caller holds arena.mu); 0, or -1 with the
    reason set. */
static int map_arena(int fd)
{
    void *base = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return tr_error("shared memory: cannot map it: %s", strerror(errno));
    arena.base = base;
    arena.fd = fd;
    return 0;
}

/*  This process's arena, made if it has none; the caller holds arena.mu. */
static int make_arena(void)
{
    if (arena.base)
        return 0;
    int fd = memfd_create("troupe-shared", MFD_CLOEXEC);
    if (fd < 0)
        return tr_error("shared memory: memfd_create: %s", strerror(errno));
    if (fd <= 2) { /* 0 is spawn_t's "none": keep clear of the standard three */
        int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        if ((fd = moved) < 0)
            return tr_error("shared memory: %s", strerror(errno));
    }
    if (ftruncate(fd, (off_t)ARENA_SIZE) != 0 || map_arena(fd) != 0) {
        int e = errno;
        close(fd);
        arena.fd = -1;
        return tr_error("shared memory: cannot make %" PRIu64 " MB of it: %s",
                        ARENA_SIZE >> 20, strerror(e));
    }
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != sizeof id)
        id = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    arena.id = id;
    *head() = (arena_head_t){ ARENA_MAGIC, id, ALIGN };
    return 0;
}

int shared_arena_fd(void)
{
    pthread_mutex_lock(&arena.mu);
    int fd = make_arena() == 0 ? arena.fd : -1;
    pthread_mutex_unlock(&arena.mu);
    return fd;
}

void shared_attach(void)
{
    const char *env = getenv(SHARED_ENV_FD);
    if (!env)
        return;
    char *end;
    long fd = strtol(env, &end, 10);
    unsetenv(SHARED_ENV_FD);
    struct stat st;
    if (*end || fd <= 2 || fd > INT_MAX || fstat((int)fd, &st) != 0
        || (uint64_t)st.st_size != ARENA_SIZE)
        return; /* not ours: troupe_*_open will say there is none */
    fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* passed on only by troupe_process_start */
    pthread_mutex_lock(&arena.mu);
    if (!arena.base && map_arena((int)fd) == 0) {
        if (head()->magic == ARENA_MAGIC)
            arena.id = head()->id;
        else {
            munmap(arena.base, ARENA_SIZE);
            arena.base = NULL;
            arena.fd = -1;
        }
    }
    pthread_mutex_unlock(&arena.mu);
}

/*  A new object of `size` bytes (its header first), zeroed; NULL when the
    arena cannot be made or is full. */
static void *carve(int kind, size_t size)
{
    tr_error_clear();
    pthread_mutex_lock(&arena.mu);
    int rc = make_arena();
    pthread_mutex_unlock(&arena.mu);
    if (rc != 0)
        return NULL;
    uint64_t need = ((uint64_t)size + ALIGN - 1) / ALIGN * ALIGN;
    if (size > ARENA_SIZE)
        need = ARENA_SIZE;
    uint64_t off = __atomic_fetch_add(&head()->next, need, __ATOMIC_RELAXED);
    if (off > ARENA_SIZE - need) {
        tr_error("troupe_%s_new: the shared memory is full (%" PRIu64 " MB of objects "
                 "made; their memory is not given back: make them once, not per item)",
                 kinds[kind], ARENA_SIZE >> 20);
        return NULL;
    }
    obj_t *o = (obj_t *)(arena.base + off);
    o->magic = OBJ_MAGIC;
    o->kind = (uint32_t)kind;
    snprintf(o->address, sizeof o->address, "troupe-shared:%016" PRIx64 ":%s:%" PRIu64,
             arena.id, kinds[kind], off);
    return o;
}

/*  The object of `kind` at `address`, or NULL with the reason set. */
static void *find(int kind, const char *address)
{
    tr_error_clear();
    const char *fn = kinds[kind];
    uint64_t id, off;
    char what[16];
    int used = 0;
    if (!address || sscanf(address, "troupe-shared:%16" SCNx64 ":%15[a-z]:%" SCNu64 "%n",
                           &id, what, &off, &used) != 3
        || address[used]) {
        tr_error("troupe_%s_open: '%s' is not the address of a shared object", fn,
                 address ? address : "(null)");
        return NULL;
    }
    if (strcmp(what, fn)) {
        tr_error("troupe_%s_open: '%s' is the address of kind '%s', not '%s'", fn, address,
                 what, fn);
        return NULL;
    }
    if (!arena.base) {
        tr_error("troupe_%s_open: this process shares no memory with the one that made "
                 "'%s' (only processes started by troupe_process_start, from it or from "
                 "one of its own, do)", fn, address);
        return NULL;
    }
    obj_t *o = (obj_t *)(arena.base + off);
    if (id != arena.id || off % ALIGN || off < ALIGN || off > ARENA_SIZE - sizeof(obj_t)
        || off >= __atomic_load_n(&head()->next, __ATOMIC_RELAXED) || o->magic != OBJ_MAGIC
        || o->kind != (uint32_t)kind) {
        tr_error("troupe_%s_open: no %s of this program's is at '%s'", fn, fn, address);
        return NULL;
    }
    return o;
}

/* ---- waiting ------------------------------------------------------------------ */

/*  The CLOCK_MONOTONIC time `timeout` seconds from now. */
static struct timespec deadline(double timeout)
{
    if (timeout > 1e9) /* some 30 years: for ever, without overflow */
        timeout = 1e9;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double whole = (double)(time_t)timeout;
    ts.tv_sec += (time_t)timeout;
    ts.tv_nsec += (long)((timeout - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static int init_mutex(pthread_mutex_t *m, int type)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, type);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return rc ? tr_error("cannot make a process-shared mutex: %s", strerror(rc)) : 0;
}

/*  Takes m within timeout (lock's rule); 0, TROUPE_OWNER_DIED (made
    consistent), or -1 with errno and the reason set. */
static int take(pthread_mutex_t *m, double timeout, const char *fn)
{
    int rc;
    if (timeout < 0)
        rc = pthread_mutex_lock(m);
    else if (timeout == 0)
        rc = pthread_mutex_trylock(m);
    else {
        struct timespec ts = deadline(timeout);
        rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
    }
    if (rc == 0)
        return 0;
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        return TROUPE_OWNER_DIED;
    }
    errno = rc == EBUSY ? ETIMEDOUT : rc;
    if (errno == ETIMEDOUT)
        return tr_error("%s: not free within %g s", fn, timeout < 0 ? 0 : timeout);
    if (errno == EDEADLK)
        return tr_error("%s: this thread holds it already (an rlock may be taken again)",
                        fn);
    return tr_error("%s: %s", fn, strerror(errno));
}

/* ---- locks -------------------------------------------------------------------- */

static troupe_lock_t *lock_new(int type)
{
    troupe_lock_t *l = carve(KIND_LOCK, sizeof *l);
    return l && init_mutex(&l->m, type) == 0 ? l : NULL;
}

troupe_lock_t *troupe_lock_new(void)
{
    return lock_new(PTHREAD_MUTEX_ERRORCHECK);
}

troupe_lock_t *troupe_rlock_new(void)
{
    return lock_new(PTHREAD_MUTEX_RECURSIVE);
}

int troupe_lock_acquire(troupe_lock_t *l, double timeout)
{
    tr_error_clear();
    if (!l)
        return tr_error("troupe_lock_acquire: no lock");
    return take(&l->m, timeout, "troupe_lock_acquire");
}

int troupe_lock_release(troupe_lock_t *l)
{
    tr_error_clear();
    if (!l)
        return tr_error("troupe_lock_release: no lock");
    int rc = pthread_mutex_unlock(&l->m);
    if (rc == EPERM)
        return tr_error("troupe_lock_release: this thread does not hold the lock");
    return rc ? tr_error("troupe_lock_release: %s", strerror(rc)) : 0;
}

/* ---- events ------------------------------------------------------------------- */

troupe_event_t *troupe_event_new(void)
{
    troupe_event_t *e = carve(KIND_EVENT, sizeof *e);
    if (!e || init_mutex(&e->m, PTHREAD_MUTEX_NORMAL) != 0)
        return NULL;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&e->c, &a);
    pthread_condattr_destroy(&a);
    if (rc) {
        tr_error("troupe_event_new: cannot make a process-shared condition: %s",
                 strerror(rc));
        return NULL;
    }
    return e;
}

/*  Sets the flag to `set`, waking every waiter when it goes up. */
static int event_put(troupe_event_t *e, uint32_t set, const char *fn)
{
    tr_error_clear();
    if (!e)
        return tr_error("%s: no event", fn);
    if (take(&e->m, -1, fn) < 0)
        return -1;
    __atomic_store_n(&e->set, set, __ATOMIC_RELEASE);
    if (set)
        pthread_cond_broadcast(&e->c);
    pthread_mutex_unlock(&e->m);
    return 0;
}

int troupe_event_set(troupe_event_t *e)
{
    return event_put(e, 1, "troupe_event_set");
}

int troupe_event_clear(troupe_event_t *e)
{
    return event_put(e, 0, "troupe_event_clear");
}

bool troupe_event_is_set(troupe_event_t *e)
{
    return e && __atomic_load_n(&e->set, __ATOMIC_ACQUIRE);
}

bool troupe_event_wait(troupe_event_t *e, double timeout)
{
    tr_error_clear();
    if (!e) {
        tr_error("troupe_event_wait: no event");
        return false;
    }
    if (troupe_event_is_set(e))
        return true;
    if (timeout == 0 || take(&e->m, -1, "troupe_event_wait") < 0)
        return false;
    struct timespec ts = deadline(timeout < 0 ? 0 : timeout);
    while (!e->set) {
        int rc = timeout < 0 ? pthread_cond_wait(&e->c, &e->m)
                             : pthread_cond_timedwait(&e->c, &e->m, &ts);
        if (rc == EOWNERDEAD) /* a setter died between taking and giving back */
            pthread_mutex_consistent(&e->m);
        else if (rc == ETIMEDOUT)
            break;
    }
    bool set = e->set;
    pthread_mutex_unlock(&e->m);
    return set;
}

/* ---- semaphores --------------------------------------------------------------- */

troupe_semaphore_t *troupe_semaphore_new(unsigned value, bool bounded)
{
    if (value > SEM_VALUE_MAX) {
        tr_error("troupe_semaphore_new: %u is above the most a semaphore holds (%d)", value,
                 SEM_VALUE_MAX);
        return NULL;
    }
    troupe_semaphore_t *s = carve(KIND_SEMAPHORE, sizeof *s);
    if (!s || init_mutex(&s->m, PTHREAD_MUTEX_NORMAL) != 0)
        return NULL;
    if (sem_init(&s->sem, 1, value) != 0) {
        tr_error("troupe_semaphore_new: %s", strerror(errno));
        return NULL;
    }
    s->bound = bounded ? (value ? value : 1) : 0;
    return s;
}

int troupe_semaphore_acquire(troupe_semaphore_t *s, double timeout)
{
    tr_error_clear();
    if (!s)
        return tr_error("troupe_semaphore_acquire: no semaphore");
    struct timespec ts = deadline(timeout > 0 ? timeout : 0);
    int rc;
    do
        rc = timeout < 0 ? sem_wait(&s->sem)
             : timeout == 0 ? sem_trywait(&s->sem)
                            : sem_clockwait(&s->sem, CLOCK_MONOTONIC, &ts);
    while (rc != 0 && errno == EINTR);
    if (rc == 0)
        return 0;
    if (errno == EAGAIN || errno == ETIMEDOUT) {
        errno = ETIMEDOUT;
        return tr_error("troupe_semaphore_acquire: none free within %g s",
                        timeout < 0 ? 0 : timeout);
    }
    return tr_error("troupe_semaphore_acquire: %s", strerror(errno));
}

int troupe_semaphore_release(troupe_semaphore_t *s)
{
    tr_error_clear();
    if (!s)
        return tr_error("troupe_semaphore_release: no semaphore");
    if (!s->bound)
        return sem_post(&s->sem) == 0 ? 0
                                       : tr_error("troupe_semaphore_release: %s",
                                                  strerror(errno));
    /* releases one at a time: between the look and the post, takers can
       only lower the value */
    if (take(&s->m, -1, "troupe_semaphore_release") < 0)
        return -1;
    int value = 0, rc = 0;
    sem_getvalue(&s->sem, &value);
    if ((unsigned)value >= s->bound)
        rc = tr_error("troupe_semaphore_release: released more often than acquired (a "
                      "bounded semaphore of %u)", s->bound);
    else if (sem_post(&s->sem) != 0)
        rc = tr_error("troupe_semaphore_release: %s", strerror(errno));
    pthread_mutex_unlock(&s->m);
    return rc;
}

int troupe_semaphore_value(troupe_semaphore_t *s)
{
    int value = -1;
    if (s)
        sem_getvalue(&s->sem, &value);
    return value;
}

/* ---- shared memory: Value and Array ------------------------------------------- */

troupe_shared_t *troupe_shared_new(size_t size)
{
    if (size > ARENA_SIZE) {
        tr_error("troupe_shared_new: %zu bytes is more than the shared memory (%" PRIu64
                 " MB)", size, ARENA_SIZE >> 20);
        return NULL;
    }
    troupe_shared_t *s = carve(KIND_SHARED, sizeof *s + size);
    if (!s)
        return NULL;
    /* its lock, an object of its own: its address can be handed on alone */
    s->lock.o = (obj_t){ OBJ_MAGIC, KIND_LOCK, "" };
    snprintf(s->lock.o.address, sizeof s->lock.o.address,
             "troupe-shared:%016" PRIx64 ":lock:%" PRIu64, arena.id,
             (uint64_t)((char *)&s->lock - arena.base));
    if (init_mutex(&s->lock.m, PTHREAD_MUTEX_ERRORCHECK) != 0)
        return NULL;
    s->size = size;
    return s;
}

void *troupe_shared_data(troupe_shared_t *s)
{
    return s ? s->data : NULL;
}

size_t troupe_shared_size(const troupe_shared_t *s)
{
    return s ? s->size : 0;
}

troupe_lock_t *troupe_shared_lock(troupe_shared_t *s)
{
    return s ? &s->lock : NULL;
}

int64_t troupe_shared_add(troupe_shared_t *s, size_t index, int64_t by)
{
    if (!s || index >= s->size / sizeof(int64_t))
        return 0;
    /* two's complement wraps, as Python's ctypes int would */
    uint64_t *p = (uint64_t *)(void *)s->data + index;
    return (int64_t)__atomic_add_fetch(p, (uint64_t)by, __ATOMIC_SEQ_CST);
}

/* ---- addresses ---------------------------------------------------------------- */

const char *troupe_lock_address(const troupe_lock_t *l)
{
    return l ? l->o.address : NULL;
}

const char *troupe_event_address(const troupe_event_t *e)
{
    return e ? e->o.address : NULL;
}

const char *troupe_semaphore_address(const troupe_semaphore_t *s)
{
    return s ? s->o.address : NULL;
}

const char *troupe_shared_address(const troupe_shared_t *s)
{
    return s ? s->o.address : NULL;
}

troupe_lock_t *troupe_lock_open(const char *address)
{
    return find(KIND_LOCK, address);
}

troupe_event_t *troupe_event_open(const char *address)
{
    return find(KIND_EVENT, address);
}

troupe_semaphore_t *troupe_semaphore_open(const char *address)
{
    return find(KIND_SEMAPHORE, address);
}

troupe_shared_t *troupe_shared_open(const char *address)
{
    troupe_shared_t *s = find(KIND_SHARED, address);
    if (s && s->size > ARENA_SIZE - (uint64_t)((char *)s - arena.base) - sizeof *s) {
        tr_error("troupe_shared_open: the object at '%s' is damaged", address);
        return NULL;
    }
    return s;
}
