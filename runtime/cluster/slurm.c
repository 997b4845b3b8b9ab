/*  slurm.c: troupe run --slurm (slurm.h). The allocation is read from the
    variables Slurm sets in a batch script or salloc's shell; node lists
    are expanded here rather than by `scontrol show hostnames`, so that
    nothing but srun is needed and a bad list is refused before anything
    starts. Each node is a job step of its own (one srun per node): its
    own key pair can then ride its own environment, and a step killed
    takes one node with it, which the head takes as that node lost.
*/
#include "cluster/slurm.h"
#include "base/rundir.h"
#include "base/spawn.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

extern char **environ;

/* ==== the node list ============================================================= */

typedef struct {
    const char *list;  /* the whole list, for messages */
    char (*names)[SLURM_NAME_LEN];
    int n, max;
    char *err;
    size_t errlen;
} expand_t;

static int expand_fail(expand_t *x, const char *at, const char *what)
{
    snprintf(x->err, x->errlen, "'%s' is not a Slurm node list: %s at character %d",
             x->list, what, (int)(at - x->list) + 1);
    return -1;
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/*  One name of the list, [item, end), whose text before item is in buf
    (len bytes of it): each "[...]" multiplies it by its ranges. */
static int expand_item(expand_t *x, char *buf, size_t len, const char *item,
                       const char *end)
{
    const char *open = item;
    while (open < end && *open != '[') {
        if (*open == ']' || !name_char(*open))
            return expand_fail(x, open, *open == ']' ? "a ']' with no '['"
                                                     : "a character not in a host name");
        open++;
    }
    if (len + (size_t)(open - item) >= SLURM_NAME_LEN)
        return expand_fail(x, item, "a name longer than 63 characters");
    memcpy(buf + len, item, (size_t)(open - item));
    len += (size_t)(open - item);
    if (open == end) {
        if (len == 0)
            return expand_fail(x, item, "an empty name");
        if (x->n == x->max) {
            snprintf(x->err, x->errlen, "'%s' names more than %d nodes", x->list,
                     x->max);
            return -1;
        }
        memcpy(x->names[x->n], buf, len);
        x->names[x->n++][len] = '\0';
        return 0;
    }
    const char *close = memchr(open, ']', (size_t)(end - open));
    if (!close)
        return expand_fail(x, open, "no ']' closes the '['");
    for (const char *r = open + 1; r <= close;) {
        char *stop;
        const char *lo_at = r;
        if (!isdigit((unsigned char)*r))
            return expand_fail(x, r, "a range that is not numbers");
        unsigned long lo = strtoul(r, &stop, 10), hi = lo;
        int width = (int)(stop - r);
        r = stop;
        if (*r == '-') {
            if (!isdigit((unsigned char)r[1]))
                return expand_fail(x, r + 1, "a range that is not numbers");
            hi = strtoul(r + 1, &stop, 10);
            r = stop;
        }
        if (*r != ',' && *r != ']')
            return expand_fail(x, r, "a range that is not numbers");
        if (hi < lo || width > 9 || hi > 999999999)
            return expand_fail(x, lo_at, "a range whose end comes before its start");
        for (unsigned long v = lo; v <= hi; v++) {
            char num[16];
            int w = snprintf(num, sizeof num, "%0*lu", width, v);
            if (len + (size_t)w >= SLURM_NAME_LEN)
                return expand_fail(x, lo_at, "a name longer than 63 characters");
            memcpy(buf + len, num, (size_t)w);
            if (expand_item(x, buf, len + (size_t)w, close + 1, end) < 0)
                return -1;
        }
        r++; /* past ',' or ']' */
    }
    return 0;
}

int slurm_nodelist_expand(const char *list, char names[][SLURM_NAME_LEN], int max,
                          char *err, size_t errlen)
{
    expand_t x = { .list = list, .names = names, .max = max, .err = err,
                   .errlen = errlen };
    const char *p = list;
    while (*p) {
        /* an item ends at a comma outside brackets */
        const char *end = p;
        int depth = 0;
        for (; *end && (depth || *end != ','); end++) {
            depth += *end == '[' ? 1 : *end == ']' ? -1 : 0;
            if (depth > 1)
                return expand_fail(&x, end, "a '[' inside brackets");
        }
        char buf[SLURM_NAME_LEN];
        if (expand_item(&x, buf, 0, p, end) < 0)
            return -1;
        p = *end ? end + 1 : end;
        if (*end && !*p)
            return expand_fail(&x, p, "an empty name");
    }
    if (x.n == 0) {
        snprintf(err, errlen, "'%s' names no node", list);
        return -1;
    }
    return x.n;
}

int slurm_cpus_expand(const char *spec, unsigned *cpus, int n, char *err, size_t errlen)
{
    int k = 0;
    for (const char *p = spec; *p;) {
        char *stop;
        unsigned long c = strtoul(p, &stop, 10), times = 1;
        bool bad = stop == p || c == 0 || c > 100000;
        if (!bad && stop[0] == '(') {
            bad = stop[1] != 'x' || !isdigit((unsigned char)stop[2]);
            times = bad ? 0 : strtoul(stop + 2, &stop, 10);
            bad = bad || *stop++ != ')' || times == 0;
        }
        if (bad || (*stop && *stop != ',') || (*stop == ',' && !stop[1])) {
            snprintf(err, errlen, "'%s' is not a list of CPU counts like '4(x2),2' "
                     "(at character %d)", spec, (int)(stop - spec) + 1);
            return -1;
        }
        for (; times > 0 && k <= n; times--)
            if (k++ < n)
                cpus[k - 1] = (unsigned)c;
        p = *stop ? stop + 1 : stop;
    }
    if (k != n) {
        snprintf(err, errlen, "'%s' gives CPU counts for %s%d node(s), the node list "
                 "names %d", spec, k > n ? "more than " : "", k > n ? n : k, n);
        return -1;
    }
    return 0;
}

/* ==== the allocation ============================================================= */

/*  The variables that mean the head is not where --slurm works. */
static int check_kind(char *err, size_t errlen)
{
    const char *het = getenv("SLURM_HET_SIZE");
    if (!het)
        het = getenv("SLURM_PACK_SIZE"); /* its name before Slurm 20.02 */
    if (het) {
        snprintf(err, errlen, "this is a heterogeneous job (SLURM_HET_SIZE=%s): not "
                 "supported, its components' nodes are not one list "
                 "(docs/SCALE-OUT.md)", het);
        return -1;
    }
    const char *step = getenv("SLURM_STEP_ID");
    /* an interactive step (salloc with use_interactive_step) is 0xfffffffa */
    if (step && strtoul(step, NULL, 10) < 0xfffffff0UL) {
        snprintf(err, errlen, "this is job step %s.%s (troupe run under srun): run the "
                 "head in the batch script or salloc's shell itself, where it starts "
                 "its nodes' steps (under srun there would be a head per task)",
                 getenv("SLURM_JOB_ID"), step);
        return -1;
    }
    return 0;
}

/*  The allocation's nodes and CPUs, the head's own taken out. */
static int read_nodes(slurm_alloc_t *a, const char *list, char *err, size_t errlen)
{
    char all[HEAD_MAX_NODES + 1][SLURM_NAME_LEN];
    unsigned cpus[HEAD_MAX_NODES + 1];
    char why[512];
    int n = slurm_nodelist_expand(list, all, HEAD_MAX_NODES + 1, why, sizeof why);
    if (n < 0) {
        snprintf(err, errlen, "SLURM_JOB_NODELIST: %s%s", why,
                 strstr(why, "more than") ? ": a head takes 32 besides its own" : "");
        return -1;
    }
    const char *num = getenv("SLURM_JOB_NUM_NODES");
    if (num && strtol(num, NULL, 10) != n) {
        snprintf(err, errlen, "SLURM_JOB_NODELIST '%s' names %d node(s) but "
                 "SLURM_JOB_NUM_NODES says %s", list, n, num);
        return -1;
    }
    const char *spec = getenv("SLURM_JOB_CPUS_PER_NODE");
    if (spec && slurm_cpus_expand(spec, cpus, n, why, sizeof why) < 0) {
        snprintf(err, errlen, "SLURM_JOB_CPUS_PER_NODE: %s", why);
        return -1;
    }
    const char *on = getenv("SLURM_CPUS_ON_NODE");
    const char *self = getenv("SLURMD_NODENAME");
    a->total = n;
    for (int i = 0; i < n; i++) {
        unsigned c = spec ? cpus[i] : on ? (unsigned)strtoul(on, NULL, 10) : 1;
        if (self && !strcmp(all[i], self)) {
            memcpy(a->self, all[i], SLURM_NAME_LEN);
            a->self_cpus = c ? c : 1;
            continue;
        }
        if (a->nnodes == HEAD_MAX_NODES) {
            snprintf(err, errlen, "the allocation has %d nodes besides the head's: "
                     "%d is the most a head takes", n - (a->self[0] ? 1 : 0),
                     HEAD_MAX_NODES);
            return -1;
        }
        memcpy(a->names[a->nnodes], all[i], SLURM_NAME_LEN);
        a->cpus[a->nnodes++] = c ? c : 1;
    }
    return 0;
}

int slurm_alloc_read(slurm_alloc_t *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    const char *job = getenv("SLURM_JOB_ID");
    if (!job)
        job = getenv("SLURM_JOBID");
    if (!job || !*job) {
        snprintf(err, errlen, "not inside a Slurm allocation (no SLURM_JOB_ID): run "
                 "it from an sbatch script or under salloc");
        return -1;
    }
    snprintf(a->job, sizeof a->job, "%s", job);
    if (check_kind(err, errlen) < 0)
        return -1;
    const char *list = getenv("SLURM_JOB_NODELIST");
    if (!list)
        list = getenv("SLURM_NODELIST");
    if (!list || !*list) {
        snprintf(err, errlen, "job %s has no usable node: SLURM_JOB_NODELIST is %s", job,
                 list ? "empty" : "not set");
        return -1;
    }
    return read_nodes(a, list, err, errlen);
}

int slurm_head_address(char *buf, size_t len, bool *loopback, char *err, size_t errlen)
{
    char host[256];
    if (gethostname(host, sizeof host - 1) != 0) {
        snprintf(err, errlen, "cannot read this host's name: %s", strerror(errno));
        return -1;
    }
    host[sizeof host - 1] = '\0';
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot find the address of this host's name '%s': %s "
                 "(--listen tcp://ADDRESS:* names it)", host, gai_strerror(rc));
        return -1;
    }
    const struct addrinfo *pick = res;
    for (const struct addrinfo *r = res; r; r = r->ai_next)
        if (r->ai_family == AF_INET) {
            pick = r;
            break;
        }
    char addr[INET6_ADDRSTRLEN] = "";
    if (pick->ai_family == AF_INET) {
        const struct in_addr *in = &((struct sockaddr_in *)pick->ai_addr)->sin_addr;
        inet_ntop(AF_INET, in, addr, sizeof addr);
        *loopback = (ntohl(in->s_addr) >> 24) == 127;
        snprintf(buf, len, "%s", addr);
    }
    else {
        const struct in6_addr *in6 = &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
        inet_ntop(AF_INET6, in6, addr, sizeof addr);
        *loopback = IN6_IS_ADDR_LOOPBACK(in6);
        snprintf(buf, len, "[%s]", addr);
    }
    freeaddrinfo(res);
    return 0;
}

/* ==== the run's keys and its steps =============================================== */

typedef struct {
    auth_keys_t keys;  /* the pair the head made for it */
    pid_t srun;        /* its srun, 0 before or after */
    int status;        /* srun's waitpid status, once it ended */
    bool ended;
    bool joined;
} step_t;

struct slurm {
    slurm_alloc_t alloc;
    int verbose;
    auth_keys_t head;
    step_t steps[HEAD_MAX_NODES];
    char dir[PATH_MAX];       /* private: holds the allowlist folder */
    char allow[PATH_MAX + 8];
    char srun[PATH_MAX];
    char exe[PATH_MAX];       /* this program, at the same path on every node */
    char endpoint[256];
};

/*  srun on PATH, into buf: 0, or -1 saying so. */
static int find_srun(char *buf, size_t len, char *err, size_t errlen)
{
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(buf, len, "%.*s/srun", (int)n, n ? p : ".");
        if (access(buf, X_OK) == 0)
            return 0;
        p += n + (colon ? 1 : 0);
    }
    snprintf(err, errlen, "no srun on PATH (%s): troupe starts its nodes with it",
             path ? path : "not set");
    return -1;
}

static int make_keys(slurm_t *s, char *err, size_t errlen)
{
    const char *pub[HEAD_MAX_NODES];
    if (auth_keys_new(&s->head, err, errlen) < 0)
        return -1;
    for (int i = 0; i < s->alloc.nnodes; i++) {
        if (auth_keys_new(&s->steps[i].keys, err, errlen) < 0)
            return -1;
        pub[i] = s->steps[i].keys.public_txt;
    }
    if (rundir_make("troupe-slurm", s->dir, sizeof s->dir) < 0) {
        snprintf(err, errlen, "cannot make a private folder in %s: %s", s->dir,
                 strerror(errno));
        s->dir[0] = '\0';
        return -1;
    }
    snprintf(s->allow, sizeof s->allow, "%s/allow", s->dir);
    if (auth_allow_write(s->allow, pub, s->alloc.nnodes, err, errlen) < 0) {
        s->allow[0] = '\0';
        return -1;
    }
    return 0;
}

slurm_t *slurm_new(const slurm_alloc_t *alloc, int verbose, char *err, size_t errlen)
{
    slurm_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->alloc = *alloc;
    s->verbose = verbose;
    ssize_t n = readlink("/proc/self/exe", s->exe, sizeof s->exe - 1);
    if (n <= 0) {
        snprintf(err, errlen, "cannot find this program (/proc/self/exe): %s",
                 strerror(errno));
        slurm_destroy(&s);
        return NULL;
    }
    s->exe[n] = '\0';
    if ((alloc->nnodes && find_srun(s->srun, sizeof s->srun, err, errlen) < 0)
        || make_keys(s, err, errlen) < 0)
        slurm_destroy(&s);
    return s;
}

const auth_keys_t *slurm_head_keys(const slurm_t *s)
{
    return &s->head;
}

const char *slurm_allow_dir(const slurm_t *s)
{
    return s->allow;
}

/*  This process's environment and the node's keys, for its srun (which
    passes its environment to the step). */
static char **step_env(const slurm_t *s, const step_t *st, char vars[2][96])
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], SLURM_ENV_NODE_SECRET "=", sizeof SLURM_ENV_NODE_SECRET)
            && strncmp(environ[i], SLURM_ENV_HEAD_PUBLIC "=", sizeof SLURM_ENV_HEAD_PUBLIC))
            env[k++] = environ[i];
    snprintf(vars[0], 96, "%s=%s", SLURM_ENV_NODE_SECRET, st->keys.secret_txt);
    snprintf(vars[1], 96, "%s=%s", SLURM_ENV_HEAD_PUBLIC, s->head.public_txt);
    env[k++] = vars[0];
    env[k++] = vars[1];
    return env;
}

static pid_t start_step(slurm_t *s, int i, char *err, size_t errlen)
{
    const char *name = s->alloc.names[i];
    char nodelist[SLURM_NAME_LEN + 16], cpt[32], cores[16];
    snprintf(nodelist, sizeof nodelist, "--nodelist=%s", name);
    snprintf(cpt, sizeof cpt, "--cpus-per-task=%u", s->alloc.cpus[i]);
    snprintf(cores, sizeof cores, "%u", s->alloc.cpus[i]);
    /* one task on that node with every CPU the job has there; no stdin
       (the head's may be the pipeline's input) */
    char *argv[] = { "srun", "--nodes=1", "--ntasks=1", "--ntasks-per-node=1", nodelist,
                     cpt, "--job-name=troupe-node", "--input=none", s->exe, "node",
                     "--head", s->endpoint, "--keys-from-env", "--name", (char *)name,
                     "--cores", cores, s->verbose > 0 ? "-v" : NULL, NULL };
    char vars[2][96];
    char **env = step_env(s, &s->steps[i], vars);
    if (!env) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* srun passes SIGTERM on to its step: a head that dies takes them */
    spawn_t sp = { .path = s->srun, .argv = argv, .envp = env, .pdeathsig = SIGTERM,
                   .keep_fd = -1 };
    char why[PATH_MAX + 128];
    pid_t pid = spawn_exec(&sp, why, sizeof why);
    memset(vars, 0, sizeof vars);
    free(env);
    if (pid < 0)
        snprintf(err, errlen, "cannot start srun for node %s: %s", name, why);
    return pid;
}

int slurm_start(slurm_t *s, const char *endpoint, char *err, size_t errlen)
{
    snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
    for (int i = 0; i < s->alloc.nnodes; i++) {
        pid_t pid = start_step(s, i, err, errlen);
        if (pid < 0)
            return -1;
        s->steps[i].srun = pid;
    }
    return 0;
}

static void status_text(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit %d", WEXITSTATUS(status));
    else
        snprintf(buf, len, "%s", strsignal(WTERMSIG(status)));
}

int slurm_exited(slurm_t *s, pid_t pid, int status, char *why, size_t len)
{
    for (int i = 0; s && i < s->alloc.nnodes; i++) {
        step_t *st = &s->steps[i];
        if (st->srun != pid || st->ended)
            continue;
        st->ended = true;
        st->status = status;
        char how[64];
        status_text(status, how, sizeof how);
        snprintf(why, len, "node %s: its step (srun pid %d) ended%s: %s", s->alloc.names[i],
                 (int)pid, st->joined ? "" : " before it joined the head", how);
        return st->joined ? 1 : 2;
    }
    return 0;
}

int slurm_joined(slurm_t *s, const char *const *names, int n, char *err, size_t errlen)
{
    char list[1200] = "";
    size_t used = 0;
    int missing = 0, silent = 0;
    for (int i = 0; i < s->alloc.nnodes; i++) {
        step_t *st = &s->steps[i];
        for (int k = 0; k < n && !st->joined; k++)
            st->joined = !strcmp(names[k], s->alloc.names[i]);
        if (st->joined || used >= sizeof list)
            continue;
        char how[128], ended[64];
        if (st->ended) {
            status_text(st->status, ended, sizeof ended);
            snprintf(how, sizeof how, "its step ended, %s: srun's lines or its own say why",
                     ended);
        }
        else {
            snprintf(how, sizeof how, "its troupe node never reached the head");
            silent++;
        }
        int w = snprintf(list + used, sizeof list - used, "%s%s (%s)", missing ? ", " : "",
                         s->alloc.names[i], how);
        used += w > 0 ? (size_t)w : 0;
        missing++;
    }
    if (!missing)
        return 0;
    snprintf(err, errlen, "%d of %d node(s) did not join the head at %s: %s%s", missing,
             s->alloc.nnodes, s->endpoint, list,
             silent ? "; the nodes must reach that address and port (docs/SCALE-OUT.md, "
                      "\"Firewall\"); --listen tcp://ADDRESS:PORT picks them"
                    : "");
    return -1;
}

/*  Reaps the sruns that ended; true when none is left. */
static bool steps_gone(slurm_t *s)
{
    bool gone = true;
    for (int i = 0; i < s->alloc.nnodes; i++) {
        step_t *st = &s->steps[i];
        if (!st->srun || st->ended)
            continue;
        if (waitpid(st->srun, &st->status, WNOHANG) == st->srun
            || (errno == ECHILD && kill(st->srun, 0) != 0))
            st->ended = true;
        else
            gone = false;
    }
    return gone;
}

static bool wait_steps(slurm_t *s, int ms)
{
    for (int t = 0; t < ms; t += 20) {
        if (steps_gone(s))
            return true;
        nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
    }
    return steps_gone(s);
}

static void signal_steps(slurm_t *s, int sig)
{
    for (int i = 0; i < s->alloc.nnodes; i++)
        if (s->steps[i].srun && !s->steps[i].ended)
            kill(s->steps[i].srun, sig);
}

void slurm_stop(slurm_t *s)
{
    if (!s)
        return;
    /* a node that had its BYE ends, and its srun with it. srun passes
       SIGUSR1 on to the node (which stops, removing its run directory);
       SIGTERM it takes as its own end and kills the step */
    if (wait_steps(s, 3000))
        return;
    signal_steps(s, SIGUSR1);
    if (wait_steps(s, 3000))
        return;
    signal_steps(s, SIGTERM);
    if (wait_steps(s, 5000))
        return;
    signal_steps(s, SIGKILL);
    wait_steps(s, 1000);
}

void slurm_destroy(slurm_t **self_p)
{
    slurm_t *s = *self_p;
    if (!s)
        return;
    *self_p = NULL;
    slurm_stop(s);
    if (s->allow[0])
        auth_allow_remove(s->allow, s->alloc.nnodes);
    if (s->dir[0])
        rundir_remove(s->dir);
    auth_keys_clear(&s->head);
    for (int i = 0; i < s->alloc.nnodes; i++)
        auth_keys_clear(&s->steps[i].keys);
    free(s);
}

/* ==== the node's side ============================================================ */

int slurm_node_keys(auth_keys_t *keys, char head_public[AUTH_KEY_LEN], char *err,
                    size_t errlen)
{
    const char *secret = getenv(SLURM_ENV_NODE_SECRET);
    const char *head = getenv(SLURM_ENV_HEAD_PUBLIC);
    memset(keys, 0, sizeof *keys);
    if (!secret || !head || !auth_key_ok(secret) || !auth_key_ok(head)) {
        snprintf(err, errlen, "%s and %s must hold Z85 keys (troupe run --slurm sets "
                 "them): %s", SLURM_ENV_NODE_SECRET, SLURM_ENV_HEAD_PUBLIC,
                 !secret || !head ? "not set" : "not keys");
        return -1;
    }
    snprintf(keys->secret_txt, sizeof keys->secret_txt, "%s", secret);
    snprintf(head_public, AUTH_KEY_LEN, "%s", head);
    /* the public key follows from the secret one */
    if (zmq_curve_public(keys->public_txt, keys->secret_txt) != 0) {
        snprintf(err, errlen, "cannot derive the public key from %s: %s",
                 SLURM_ENV_NODE_SECRET, zmq_strerror(errno));
        auth_keys_clear(keys);
        return -1;
    }
    unsetenv(SLURM_ENV_NODE_SECRET);
    unsetenv(SLURM_ENV_HEAD_PUBLIC);
    return 0;
}
