/*  config.c: reads a pipeline config with czmq's zconfig and checks it into a
    plan. Every error names the file and line: zconfig keeps no line
    numbers, so we count the file's item lines ourselves and pair them, in
    order, with zconfig's nodes (one node per item line, pre-order).
*/
#include "plan/config.h"

#include "wire/chan.h"
#include "base/module.h"

#include <czmq.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INSTANCES 1024
#define CHAN_MAX_READERS CHAN_MAX_SLOTS

typedef struct {
    const char *file;
    char *dir;
    FILE *err;
    int nerr;
    zconfig_t **nodes; /* node i stands on line lines[i] */
    int *lines;
    int nlocs;
    zconfig_t **ov_nodes; /* nodes set from the command line */
    const char **ov_text;
    int nov;
    zconfig_t **module_nodes; /* actor i's `module =` node, or NULL */
} cfg_t;

/* ==== where things are ===================================================== */

static int line_of(cfg_t *c, zconfig_t *node)
{
    for (int i = 0; i < c->nlocs; i++)
        if (c->nodes[i] == node)
            return c->lines[i];
    return 0;
}

static const char *override_of(cfg_t *c, zconfig_t *node)
{
    for (int i = 0; i < c->nov; i++)
        if (c->ov_nodes[i] == node)
            return c->ov_text[i];
    return NULL;
}

static void error_at(cfg_t *c, zconfig_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void error_at(cfg_t *c, zconfig_t *node, const char *fmt, ...)
{
    const char *ov = node ? override_of(c, node) : NULL;
    int line = node ? line_of(c, node) : 0;
    if (ov)
        fprintf(c->err, "%s: --set %s: ", c->file, ov);
    else if (line > 0)
        fprintf(c->err, "%s:%d: ", c->file, line);
    else
        fprintf(c->err, "%s: ", c->file);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->err, fmt, ap);
    va_end(ap);
    fputc('\n', c->err);
    c->nerr++;
}

/*  Item lines: not blank, not a comment. zconfig makes one node of each. */
static int scan_lines(const char *text, int **lines_p)
{
    int n = 0, cap = 64, lineno = 0;
    int *lines = malloc(cap * sizeof *lines);
    const char *p = text;
    while (lines && *p) {
        lineno++;
        const char *eol = strchr(p, '\n');
        const char *q = p;
        while (q < (eol ? eol : p + strlen(p)) && (*q == ' ' || *q == '\t'))
            q++;
        if (*q && *q != '\n' && *q != '\r' && *q != '#') {
            if (n == cap) {
                int *more = realloc(lines, (cap *= 2) * sizeof *lines);
                if (!more) {
                    free(lines);
                    lines = NULL;
                    break;
                }
                lines = more;
            }
            lines[n++] = lineno;
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    *lines_p = lines;
    return lines ? n : 0;
}

static void count_nodes(zconfig_t *node, int *n)
{
    for (zconfig_t *ch = zconfig_child(node); ch; ch = zconfig_next(ch)) {
        (*n)++;
        count_nodes(ch, n);
    }
}

static void pair_nodes(zconfig_t *node, zconfig_t **nodes, int *i)
{
    for (zconfig_t *ch = zconfig_child(node); ch; ch = zconfig_next(ch)) {
        nodes[(*i)++] = ch;
        pair_nodes(ch, nodes, i);
    }
}

static void locate_nodes(cfg_t *c, zconfig_t *root, const char *text)
{
    int *lines = NULL;
    int nlines = scan_lines(text, &lines);
    int nnodes = 0;
    count_nodes(root, &nnodes);
    if (nlines != nnodes || nnodes == 0) {
        free(lines); /* the pairing would lie: errors go without lines */
        return;
    }
    c->nodes = malloc(nnodes * sizeof *c->nodes);
    if (!c->nodes) {
        free(lines);
        return;
    }
    int i = 0;
    pair_nodes(root, c->nodes, &i);
    c->lines = lines;
    c->nlocs = nnodes;
}

/* ==== reading the file ====================================================== */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *more = realloc(buf, cap);
            if (!more) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = more;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        errno = EILSEQ;
        return NULL;
    }
    return buf;
}

/*  zconfig reports syntax errors through czmq's log, on stdout, as
    "(LINE) message"; we catch that text (fd 1 pointed at a temporary file
    for the call) to give it back with the file name, like every other
    error, and to keep stdout for pipeline output. */
static zconfig_t *parse_text(cfg_t *c, const char *text)
{
    fflush(stdout);
    int saved = dup(1);
    FILE *tmp = tmpfile();
    if (saved >= 0 && tmp)
        dup2(fileno(tmp), 1);
    zconfig_t *root = zconfig_str_load(text);
    fflush(stdout);
    if (saved >= 0 && tmp) {
        dup2(saved, 1);
        close(saved);
    }
    if (!root) {
        char msg[512] = "";
        if (tmp) {
            rewind(tmp);
            size_t n = fread(msg, 1, sizeof msg - 1, tmp);
            msg[n] = '\0';
        }
        char *paren = strstr(msg, "(zconfig): (");
        int line = 0;
        char what[256] = "syntax error";
        if (paren && sscanf(paren, "(zconfig): (%d) %255[^\n]", &line, what) >= 1
            && line > 0) {
            /* zconfig's terse words, said plainly */
            static const char *const plain[][2] = {
                { "indent 4 spaces at once",
                  "bad indentation: a sub-key goes exactly 4 spaces deeper than its parent" },
                { "indentation error",
                  "bad indentation: a sub-key goes exactly 4 spaces deeper than its parent" },
            };
            for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
                if (!strcmp(what, plain[i][0]))
                    snprintf(what, sizeof what, "%s", plain[i][1]);
            fprintf(c->err, "%s:%d: %s\n", c->file, line, what);
        }
        else
            fprintf(c->err, "%s: %s\n", c->file, what);
        c->nerr++;
    }
    if (tmp)
        fclose(tmp);
    return root;
}

/* ==== values ================================================================== */

static bool is_ident(const char *s)
{
    if (!*s || strlen(s) > 48)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

static bool parse_uint(cfg_t *c, zconfig_t *node, const char *what,
                       unsigned min, unsigned max, unsigned *out)
{
    const char *text = zconfig_value(node);
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (!*text || *end || errno || text[0] == '-' || v < min || v > max) {
        error_at(c, node, "%s: '%s' is not a whole number from %u to %u", what,
                 text, min, max);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

static int parse_bool(const char *text)
{
    if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcmp(text, "1")
        || !strcasecmp(text, "on"))
        return 1;
    if (!strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcmp(text, "0")
        || !strcasecmp(text, "off"))
        return 0;
    return -1;
}

static void no_children(cfg_t *c, zconfig_t *node, const char *where)
{
    zconfig_t *ch = zconfig_child(node);
    if (ch)
        error_at(c, ch, "%s: '%s' takes a value, not sub-keys", where,
                 zconfig_name(node));
}

/* ==== the plan ================================================================== */

static int chan_get(plan_t *p, const char *name, int line)
{
    int i = plan_find_chan(p, name);
    if (i >= 0)
        return i;
    plan_chan_t *more = realloc(p->chans, (p->nchans + 1) * sizeof *more);
    if (!more)
        return -1;
    p->chans = more;
    plan_chan_t *ch = &p->chans[p->nchans];
    memset(ch, 0, sizeof *ch);
    ch->name = strdup(name);
    ch->line = line;
    return p->nchans++;
}

/*  "a, b c" to channel indexes, each once. */
static void parse_chan_list(cfg_t *c, plan_t *p, zconfig_t *node,
                            const char *actor, int **list, int *n)
{
    char *text = strdup(zconfig_value(node));
    if (!text)
        return;
    char *save = NULL;
    for (char *tok = strtok_r(text, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        if (!is_ident(tok)) {
            error_at(c, node, "actor '%s': %s: '%s' is not a channel name "
                     "(letters, digits, '_' and '-')", actor, zconfig_name(node), tok);
            continue;
        }
        int ch = chan_get(p, tok, line_of(c, node));
        bool dup = false;
        for (int i = 0; i < *n; i++)
            dup |= (*list)[i] == ch;
        if (ch < 0 || dup)
            continue;
        int *more = realloc(*list, (*n + 1) * sizeof *more);
        if (!more)
            continue;
        *list = more;
        (*list)[(*n)++] = ch;
    }
    if (*n == 0 && c->nerr == 0)
        error_at(c, node, "actor '%s': %s names no channel", actor,
                 zconfig_name(node));
    free(text);
}

static void read_pipeline(cfg_t *c, plan_t *p, zconfig_t *node)
{
    if (*zconfig_value(node)) {
        if (!is_ident(zconfig_value(node)))
            error_at(c, node, "pipeline name '%s' must be letters, digits, '_' or '-'",
                     zconfig_value(node));
        else {
            free(p->name);
            p->name = strdup(zconfig_value(node));
        }
    }
    for (zconfig_t *k = zconfig_child(node); k; k = zconfig_next(k)) {
        const char *key = zconfig_name(k);
        no_children(c, k, "pipeline");
        if (!strcmp(key, "batch"))
            parse_uint(c, k, "pipeline: batch", 1, 1 << 20, &p->batch);
        else if (!strcmp(key, "window"))
            parse_uint(c, k, "pipeline: window", 1, 4096, &p->window);
        else if (!strcmp(key, "credit"))
            parse_uint(c, k, "pipeline: credit", 1, 1024, &p->credit);
        else
            error_at(c, k, "pipeline: unknown key '%s' (known: batch, window, credit)",
                     key);
    }
}

/*  key = SPEC of a keyed channel: an array index or a map field name; a
    value's key is then that part of it (the whole value without a key). */
static void read_chan_key(cfg_t *c, plan_chan_t *ch, zconfig_t *k)
{
    const char *spec = zconfig_value(k);
    if (ch->mode != CHAN_KEYED) {
        error_at(c, k, "channel '%s': key is for a keyed channel (type = keyed)",
                 ch->name);
        return;
    }
    bool index = *spec >= '0' && *spec <= '9';
    for (const char *q = spec; index && *q; q++)
        index = *q >= '0' && *q <= '9';
    if (!*spec || (!index && !is_ident(spec)) || (index && strlen(spec) > 9)) {
        error_at(c, k, "channel '%s': key '%s' is not an array index (key = 0) or a "
                 "map field (key = word)", ch->name, spec);
        return;
    }
    free(ch->key);
    ch->key = strdup(spec);
}

static void read_channel(cfg_t *c, plan_t *p, zconfig_t *node)
{
    const char *name = zconfig_value(node);
    if (!is_ident(name)) {
        error_at(c, node, "channel needs a name: channel = NAME");
        return;
    }
    int ch = plan_find_chan(p, name);
    if (ch >= 0) {
        error_at(c, node, "channel '%s' is declared twice", name);
        return;
    }
    ch = chan_get(p, name, line_of(c, node));
    if (ch < 0)
        return;
    zconfig_t *key = NULL;
    for (zconfig_t *k = zconfig_child(node); k; k = zconfig_next(k)) {
        no_children(c, k, name);
        if (!strcmp(zconfig_name(k), "type")) {
            const char *t = zconfig_value(k);
            if (!strcmp(t, "pipe"))
                p->chans[ch].mode = CHAN_PIPE;
            else if (!strcmp(t, "broadcast"))
                p->chans[ch].mode = CHAN_BROADCAST;
            else if (!strcmp(t, "keyed"))
                p->chans[ch].mode = CHAN_KEYED;
            else
                error_at(c, k, "channel '%s': type '%s' is not pipe, broadcast or keyed",
                         name, t);
        }
        else if (!strcmp(zconfig_name(k), "key"))
            key = k;
        else
            error_at(c, k, "channel '%s': unknown key '%s' (known: type, key)", name,
                     zconfig_name(k));
    }
    if (key)
        read_chan_key(c, &p->chans[ch], key);
}

static void read_args(cfg_t *c, plan_actor_t *a, zconfig_t *node)
{
    for (zconfig_t *k = zconfig_child(node); k; k = zconfig_next(k)) {
        no_children(c, k, a->name);
        for (int i = 0; i < a->nargs; i++)
            if (!strcmp(a->args[i].key, zconfig_name(k)))
                error_at(c, k, "actor '%s': argument '%s' given twice", a->name,
                         zconfig_name(k));
        plan_arg_t *more = realloc(a->args, (a->nargs + 1) * sizeof *more);
        if (!more)
            return;
        a->args = more;
        a->args[a->nargs].key = strdup(zconfig_name(k));
        a->args[a->nargs].value = strdup(zconfig_value(k));
        a->args[a->nargs].line = line_of(c, k);
        a->nargs++;
    }
}

/*  Each reader of an actor key takes the actor, its name as the file has it
    (for messages) and the key's node. */

/*  module = NAME or PATH, checked once every key is read (check_modules). */
static void actor_module(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                         zconfig_t *k)
{
    (void)name;
    free(a->module);
    a->module = strdup(zconfig_value(k));
    a->module_line = line_of(c, k);
    c->module_nodes[a - p->actors] = k;
}

/*  A whole number key of the actor, from min to max, into *out. */
static void actor_uint(cfg_t *c, const char *name, zconfig_t *k, unsigned min,
                       unsigned max, unsigned *out)
{
    char what[128];
    snprintf(what, sizeof what, "actor '%s': %s", name, zconfig_name(k));
    parse_uint(c, k, what, min, max, out);
}

/*  instances = N, from 1 to MAX_INSTANCES. */
static void actor_instances(cfg_t *c, plan_t *p, plan_actor_t *a,
                            const char *name, zconfig_t *k)
{
    (void)p;
    actor_uint(c, name, k, 1, MAX_INSTANCES, &a->instances);
}

/*  in = CHANNEL[, CHANNEL ...]: what the actor reads. */
static void actor_in(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                     zconfig_t *k)
{
    parse_chan_list(c, p, k, name, &a->inputs, &a->ninputs);
}

/*  out = CHANNEL[, CHANNEL ...]: what the actor writes. */
static void actor_out(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                      zconfig_t *k)
{
    parse_chan_list(c, p, k, name, &a->outputs, &a->noutputs);
}

/*  topic = TEXT: what it publishes on broadcast outputs; one word, since
    subscriptions are lists of words. */
static void actor_topic(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                        zconfig_t *k)
{
    (void)p;
    if (strpbrk(zconfig_value(k), " ,\t"))
        error_at(c, k, "actor '%s': topic '%s' is more than one word (a topic has no "
                 "space or comma; subscribe lists several)", name, zconfig_value(k));
    free(a->topic);
    a->topic = strdup(zconfig_value(k));
}

/*  subscribe = PREFIX ...: what it takes from broadcast inputs, the
    topics that start with any of the prefixes (spaces or commas between
    them). */
static void actor_subscribe(cfg_t *c, plan_t *p, plan_actor_t *a,
                            const char *name, zconfig_t *k)
{
    (void)c, (void)p, (void)name;
    free(a->subscribe);
    a->subscribe = strdup(zconfig_value(k));
}

/*  ordered = true or false. */
static void actor_ordered(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                          zconfig_t *k)
{
    (void)p;
    const char *v = zconfig_value(k);
    a->ordered = parse_bool(v);
    if (a->ordered < 0)
        error_at(c, k, "actor '%s': ordered: '%s' is not true or false", name, v);
}

/*  on_error = fail or skip. */
static void actor_on_error(cfg_t *c, plan_t *p, plan_actor_t *a,
                           const char *name, zconfig_t *k)
{
    (void)p;
    const char *v = zconfig_value(k);
    if (!strcmp(v, "fail"))
        a->on_error = ON_ERROR_FAIL;
    else if (!strcmp(v, "skip"))
        a->on_error = ON_ERROR_SKIP;
    else
        error_at(c, k, "actor '%s': on_error: '%s' is not fail or skip", name, v);
}

/*  retries = N, from 0 to 100. */
static void actor_retries(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                          zconfig_t *k)
{
    (void)p;
    actor_uint(c, name, k, 0, 100, &a->retries);
}

/*  restart = permanent, transient, temporary or permanent_lossy. */
static void actor_restart(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                          zconfig_t *k)
{
    (void)p;
    const char *v = zconfig_value(k);
    if (!strcmp(v, "permanent"))
        a->restart = RESTART_PERMANENT;
    else if (!strcmp(v, "transient"))
        a->restart = RESTART_TRANSIENT;
    else if (!strcmp(v, "temporary"))
        a->restart = RESTART_TEMPORARY;
    else if (!strcmp(v, "permanent_lossy")) {
        a->restart = RESTART_PERMANENT;
        a->lossy = true;
    }
    else
        error_at(c, k, "actor '%s': restart: '%s' is not permanent, "
                 "transient, temporary or permanent_lossy", name, v);
}

/*  max_restarts = N, from 0 to 1000000. */
static void actor_max_restarts(cfg_t *c, plan_t *p, plan_actor_t *a,
                               const char *name, zconfig_t *k)
{
    (void)p;
    actor_uint(c, name, k, 0, 1000000, &a->max_restarts);
}

/*  restart_period = SECONDS, more than 0 and at most 86400. */
static void actor_restart_period(cfg_t *c, plan_t *p, plan_actor_t *a,
                                 const char *name, zconfig_t *k)
{
    (void)p;
    const char *v = zconfig_value(k);
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d > 0 && d <= 86400))
        error_at(c, k, "actor '%s': restart_period: '%s' is not a number "
                 "of seconds from 0 to 86400", name, v);
    else
        a->restart_period = d;
}

/*  place = head or any. */
static void actor_place(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                        zconfig_t *k)
{
    (void)p;
    const char *v = zconfig_value(k);
    if (!strcmp(v, "head"))
        a->place = PLACE_HEAD;
    else if (!strcmp(v, "any"))
        a->place = PLACE_ANY;
    else
        error_at(c, k, "actor '%s': place: '%s' is not head or any", name, v);
}

/*  args, with the module's arguments as sub-keys. */
static void actor_args(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                       zconfig_t *k)
{
    (void)p, (void)name;
    read_args(c, a, k);
}

/*  The keys an actor takes, in the order the unknown-key message lists them. */
static const struct {
    const char *key;
    void (*read)(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                 zconfig_t *k);
} actor_keys[] = {
    { "module", actor_module },
    { "instances", actor_instances },
    { "in", actor_in },
    { "out", actor_out },
    { "topic", actor_topic },
    { "subscribe", actor_subscribe },
    { "ordered", actor_ordered },
    { "on_error", actor_on_error },
    { "retries", actor_retries },
    { "restart", actor_restart },
    { "max_restarts", actor_max_restarts },
    { "restart_period", actor_restart_period },
    { "place", actor_place },
    { "args", actor_args },
};

#define NACTOR_KEYS (sizeof actor_keys / sizeof actor_keys[0])

/*  Reads one key of an actor by its reader, or says it is unknown. */
static void read_actor_key(cfg_t *c, plan_t *p, plan_actor_t *a, const char *name,
                           zconfig_t *k)
{
    const char *key = zconfig_name(k);
    for (size_t i = 0; i < NACTOR_KEYS; i++)
        if (!strcmp(key, actor_keys[i].key)) {
            actor_keys[i].read(c, p, a, name, k);
            return;
        }
    char known[256] = "";
    for (size_t i = 0; i < NACTOR_KEYS; i++) {
        strcat(known, i == 0 ? "" : ", ");
        strcat(known, actor_keys[i].key);
    }
    error_at(c, k, "actor '%s': unknown key '%s' (known: %s; module "
             "arguments go under args)", name, key, known);
}

/*  A new actor in the plan for `actor = NAME`, with every default; NULL
    when the name is bad or taken (having said so) or memory runs out. */
static plan_actor_t *actor_add(cfg_t *c, plan_t *p, zconfig_t *node)
{
    const char *name = zconfig_value(node);
    if (!is_ident(name)) {
        error_at(c, node, "actor needs a name of letters, digits, '_' or '-': "
                 "actor = NAME");
        return NULL;
    }
    if (plan_find_actor(p, name) >= 0) {
        error_at(c, node, "actor '%s' is defined twice", name);
        return NULL;
    }
    plan_actor_t *more = realloc(p->actors, (p->nactors + 1) * sizeof *more);
    if (!more)
        return NULL;
    p->actors = more;
    plan_actor_t *a = &p->actors[p->nactors];
    plan_actor_init(a, name);
    c->module_nodes[p->nactors] = NULL;
    a->line = line_of(c, node);
    p->nactors++;
    return a;
}

/*  Says so when key k of the actor at node comes after one of the same name. */
static void check_given_twice(cfg_t *c, zconfig_t *node, zconfig_t *k,
                              const char *name)
{
    const char *key = zconfig_name(k);
    for (zconfig_t *j = zconfig_child(node); j != k; j = zconfig_next(j))
        if (!strcmp(zconfig_name(j), key)) {
            error_at(c, k, "actor '%s': '%s' is given twice", name, key);
            return;
        }
}

/*  An actor = NAME and its keys. */
static void read_actor(cfg_t *c, plan_t *p, zconfig_t *node)
{
    const char *name = zconfig_value(node);
    plan_actor_t *a = actor_add(c, p, node);
    if (!a)
        return;
    for (zconfig_t *k = zconfig_child(node); k; k = zconfig_next(k)) {
        check_given_twice(c, node, k, name);
        if (strcmp(zconfig_name(k), "args"))
            no_children(c, k, name);
        read_actor_key(c, p, a, name, k);
    }
    if (!a->module || !*a->module)
        error_at(c, node, "actor '%s' has no module (module = NAME or PATH)", name);
    if (!a->ninputs && !a->noutputs)
        error_at(c, node, "actor '%s' has neither in nor out", name);
}

/* ==== whole-pipeline checks ===================================================== */

static void check_channels(cfg_t *c, plan_t *p, zconfig_t *root)
{
    for (int i = 0; i < p->nactors; i++) {
        plan_actor_t *a = &p->actors[i];
        for (int j = 0; j < a->ninputs; j++)
            p->chans[a->inputs[j]].nconsumers++;
        for (int j = 0; j < a->noutputs; j++) {
            p->chans[a->outputs[j]].nproducers++;
            for (int k = 0; k < a->ninputs; k++)
                if (a->inputs[k] == a->outputs[j])
                    error_at(c, NULL, "line %d: actor '%s' reads and writes "
                             "channel '%s'", a->line, a->name,
                             p->chans[a->outputs[j]].name);
        }
    }
    (void)root;
    for (int i = 0; i < p->nchans; i++) {
        unsigned readers = 0;
        for (int a = 0; a < p->nactors; a++)
            for (int j = 0; j < p->actors[a].ninputs; j++)
                if (p->actors[a].inputs[j] == i)
                    readers += p->actors[a].instances;
        if (readers > CHAN_MAX_READERS) {
            fprintf(c->err, "%s:%d: channel '%s' has %u reading instances; a "
                    "channel takes at most %d\n", c->file, p->chans[i].line,
                    p->chans[i].name, readers, CHAN_MAX_READERS);
            c->nerr++;
        }
    }
    for (int i = 0; i < p->nchans; i++) {
        plan_chan_t *ch = &p->chans[i];
        if (ch->nproducers == 0)
            fprintf(c->err, "%s:%d: channel '%s' is read but no actor writes "
                    "it (out = %s)\n", c->file, ch->line, ch->name, ch->name);
        else if (ch->nconsumers == 0)
            fprintf(c->err, "%s:%d: channel '%s' is written but no actor reads "
                    "it (in = %s)\n", c->file, ch->line, ch->name, ch->name);
        else
            continue;
        c->nerr++;
    }
}

/*  topic and subscribe mean something on broadcast channels only: given
    for an actor that has none on that side, they would be ignored. */
static bool any_mode(const plan_t *p, const int *chans, int n, plan_chan_mode_t mode)
{
    for (int i = 0; i < n; i++)
        if (p->chans[chans[i]].mode == mode)
            return true;
    return false;
}

static void check_topics(cfg_t *c, const plan_t *p)
{
    for (int i = 0; i < p->nactors; i++) {
        const plan_actor_t *a = &p->actors[i];
        if (a->topic && *a->topic && !any_mode(p, a->outputs, a->noutputs, CHAN_BROADCAST)) {
            fprintf(c->err, "%s:%d: actor '%s': topic is for broadcast outputs, and none "
                    "of its outputs is a broadcast (channel = NAME, type = broadcast)\n",
                    c->file, a->line, a->name);
            c->nerr++;
        }
        if (a->subscribe && *a->subscribe
            && !any_mode(p, a->inputs, a->ninputs, CHAN_BROADCAST)) {
            fprintf(c->err, "%s:%d: actor '%s': subscribe is for broadcast inputs, and "
                    "none of its inputs is a broadcast\n", c->file, a->line, a->name);
            c->nerr++;
        }
    }
}

/*  A keyed channel has one reading actor: its instances own the keys
    between them. */
static void check_keyed(cfg_t *c, const plan_t *p)
{
    for (int ch = 0; ch < p->nchans; ch++) {
        if (p->chans[ch].mode != CHAN_KEYED)
            continue;
        int first = -1;
        for (int a = 0; a < p->nactors; a++)
            for (int k = 0; k < p->actors[a].ninputs; k++)
                if (p->actors[a].inputs[k] == ch) {
                    if (first < 0)
                        first = a;
                    else if (first != a) {
                        fprintf(c->err, "%s:%d: channel '%s' is keyed and read by '%s' and "
                                "'%s': a keyed channel has one reading actor, whose "
                                "instances own its keys\n", c->file, p->chans[ch].line,
                                p->chans[ch].name, p->actors[first].name,
                                p->actors[a].name);
                        c->nerr++;
                    }
                }
    }
}

/*  A cycle would never complete: an actor ends only after all its
    upstream actors have. */
static bool cycle_from(const plan_t *p, int actor, char *state, int *path,
                       int depth, cfg_t *c)
{
    state[actor] = 1;
    path[depth] = actor;
    const plan_actor_t *a = &p->actors[actor];
    for (int o = 0; o < a->noutputs; o++)
        for (int b = 0; b < p->nactors; b++)
            for (int k = 0; k < p->actors[b].ninputs; k++) {
                if (p->actors[b].inputs[k] != a->outputs[o])
                    continue;
                if (state[b] == 1) {
                    fprintf(c->err, "%s:%d: the pipeline has a cycle: ", c->file,
                            p->actors[b].line);
                    int start = 0;
                    while (path[start] != b)
                        start++;
                    for (int s = start; s <= depth; s++)
                        fprintf(c->err, "%s -> ", p->actors[path[s]].name);
                    fprintf(c->err, "%s\n", p->actors[b].name);
                    c->nerr++;
                    return true;
                }
                if (state[b] == 0 && cycle_from(p, b, state, path, depth + 1, c))
                    return true;
            }
    state[actor] = 2;
    return false;
}

static void check_cycles(cfg_t *c, plan_t *p)
{
    char *state = calloc(p->nactors, 1);
    int *path = calloc(p->nactors + 1, sizeof *path);
    for (int i = 0; state && path && i < p->nactors; i++)
        if (state[i] == 0 && cycle_from(p, i, state, path, 0, c))
            break;
    free(state);
    free(path);
}

static void check_modules(cfg_t *c, plan_t *p)
{
    for (int i = 0; i < p->nactors; i++) {
        plan_actor_t *a = &p->actors[i];
        if (!a->module || !*a->module)
            continue;
        zconfig_t *mnode = c->module_nodes[i];
        char err[512];
        a->module_path = module_resolve(a->module, c->dir, err, sizeof err);
        if (!a->module_path) {
            error_at(c, mnode, "actor '%s': %s", a->name, err);
            continue;
        }
        void *handle;
        const troupe_module_t *mod = module_load(a->module_path, &handle, err,
                                                 sizeof err);
        if (!mod) {
            error_at(c, mnode, "actor '%s': %s", a->name, err);
            continue;
        }
        if (mod->produce && a->ninputs)
            error_at(c, mnode, "actor '%s': module '%s' is a source: it takes no "
                     "input (remove in =)", a->name, a->module);
        if (!mod->produce && !a->ninputs)
            error_at(c, mnode, "actor '%s': module '%s' needs input: add "
                     "in = CHANNEL", a->name, a->module);
        if (!mod->message && a->ninputs && !mod->produce)
            error_at(c, mnode, "actor '%s': module '%s' cannot take input",
                     a->name, a->module);
        if (a->ordered < 0)
            a->ordered = (mod->flags & TROUPE_ORDERED) ? 1 : 0;
        a->source = mod->produce != NULL;
        a->flushes = mod->flush != NULL;
        a->stateful = (mod->flags & TROUPE_STATEFUL) != 0;
        a->checkpoints = module_snapshot(mod) && module_restore(mod);
        if (a->ordered && a->instances > 1 && a->ninputs)
            error_at(c, mnode, "actor '%s': ordered input needs instances = 1 "
                     "(or set ordered = false)", a->name);
        if (a->ordered && any_mode(p, a->inputs, a->ninputs, CHAN_KEYED))
            error_at(c, mnode, "actor '%s': reads a keyed channel in order (module '%s' "
                     "is ordered by default): an item's values reach their keys' "
                     "owners apart, in no order of the source's (set ordered = false)",
                     a->name, a->module);
        for (int j = 0; j < a->nargs; j++)
            if (!module_takes_arg(mod, a->args[j].key)) {
                char known[512] = "";
                for (const char *const *k = mod->args; *k; k++) {
                    if (strlen(known) + strlen(*k) + 3 >= sizeof known)
                        break;
                    strcat(known, k == mod->args ? "" : ", ");
                    strcat(known, *k);
                }
                if (a->args[j].line)
                    fprintf(c->err, "%s:%d: ", c->file, a->args[j].line);
                else
                    fprintf(c->err, "%s: ", c->file);
                fprintf(c->err, "actor '%s': module '%s' takes no argument '%s' "
                        "(it takes: %s)\n", a->name, a->module, a->args[j].key,
                        *known ? known : "none");
                c->nerr++;
            }
        dlclose(handle);
    }
}

/* ==== overrides ===================================================================== */

static void apply_override(cfg_t *c, zconfig_t *root, const char *text)
{
    const char *eq = strchr(text, '=');
    const char *dot = strchr(text, '.');
    if (!eq || !dot || dot > eq || dot == text || eq == dot + 1) {
        fprintf(c->err, "--set %s: expected ACTOR.KEY=VALUE or pipeline.KEY=VALUE\n",
                text);
        c->nerr++;
        return;
    }
    char owner[128], path[256];
    snprintf(owner, sizeof owner, "%.*s", (int)(dot - text), text);
    snprintf(path, sizeof path, "%.*s", (int)(eq - dot - 1), dot + 1);
    for (char *p = path; *p; p++)
        if (*p == '.')
            *p = '/';
    zconfig_t *target = NULL;
    if (!strcmp(owner, "pipeline")) {
        target = zconfig_locate(root, "pipeline");
        if (!target && (target = zconfig_new("pipeline", root)))
            zconfig_set_value(target, "%s", ""); /* a section with no name of its own */
    }
    else
        for (zconfig_t *k = zconfig_child(root); k; k = zconfig_next(k))
            if (!strcmp(zconfig_name(k), "actor") && !strcmp(zconfig_value(k), owner))
                target = k;
    if (!target) {
        fprintf(c->err, "--set %s: no actor named '%s'\n", text, owner);
        c->nerr++;
        return;
    }
    zconfig_put(target, path, eq + 1);
    zconfig_t *node = zconfig_locate(target, path);
    zconfig_t **nn = realloc(c->ov_nodes, (c->nov + 1) * sizeof *nn);
    const char **nt = realloc(c->ov_text, (c->nov + 1) * sizeof *nt);
    if (nn)
        c->ov_nodes = nn;
    if (nt)
        c->ov_text = nt;
    if (nn && nt) {
        c->ov_nodes[c->nov] = node;
        c->ov_text[c->nov++] = text;
    }
}

/* ==== entry point ===================================================================== */

/*  The file's text, or NULL having said why it cannot be read. */
static char *load_text(cfg_t *c, const char *file)
{
    char *text = read_file(file);
    if (!text) {
        fprintf(c->err, "%s: cannot read: %s\n", file,
                errno == EILSEQ ? "it holds a NUL byte, not text" : strerror(errno));
        c->nerr++;
    }
    return text;
}

/*  The pipeline's name when the config gives none: the file's name without
    its extension, or "pipeline" when that is no identifier. */
static char *name_of_file(const char *file)
{
    char *base = strdup(file);
    char *b = base ? basename(base) : NULL;
    if (b) {
        char *dot = strrchr(b, '.');
        if (dot && dot != b)
            *dot = '\0';
    }
    char *name = strdup(b && is_ident(b) ? b : "pipeline");
    free(base);
    return name;
}

/*  The keys at the top: pipeline and channels first, then the actors, so
    that the channels' types are known when actors name them. */
static void read_top(cfg_t *c, plan_t *p, zconfig_t *root)
{
    bool seen_pipeline = false;
    for (zconfig_t *k = zconfig_child(root); k; k = zconfig_next(k)) {
        const char *key = zconfig_name(k);
        if (!strcmp(key, "pipeline")) {
            if (seen_pipeline)
                error_at(c, k, "'pipeline' is given twice");
            seen_pipeline = true;
            read_pipeline(c, p, k);
        }
        else if (!strcmp(key, "channel"))
            read_channel(c, p, k);
        else if (!strcmp(key, "actor"))
            ; /* after the channels, so that their types are known */
        else
            error_at(c, k, "unknown key '%s' at the top (known: pipeline, "
                     "actor, channel)", key);
    }
    for (zconfig_t *k = zconfig_child(root); k; k = zconfig_next(k))
        if (!strcmp(zconfig_name(k), "actor"))
            read_actor(c, p, k);
}

/*  The checks of the whole pipeline, once every key is read. */
static void check_plan(cfg_t *c, plan_t *p, zconfig_t *root)
{
    if (p->nactors == 0 && c->nerr == 0)
        error_at(c, NULL, "no actor defined (actor = NAME, with module, in, out)");
    if (p->nactors) {
        int before = c->nerr;
        check_channels(c, p, root);
        check_topics(c, p);
        check_keyed(c, p);
        if (c->nerr == before)
            check_cycles(c, p);
        char why[256];
        if (c->nerr == before && plan_name_copies(p, why, sizeof why) < 0)
            error_at(c, NULL, "%s", why);
        check_modules(c, p);
    }
}

/*  The plan from the parsed file (text, its source): the overrides applied,
    every key read and the whole checked. Errors go to c; NULL when memory
    runs out first. */
static plan_t *plan_read(cfg_t *c, zconfig_t *root, const char *text,
                         char *const *overrides, int noverrides)
{
    locate_nodes(c, root, text);
    char *dircopy = strdup(c->file);
    c->dir = dircopy ? strdup(dirname(dircopy)) : NULL;
    free(dircopy);
    for (int i = 0; i < noverrides; i++)
        apply_override(c, root, overrides[i]);

    plan_t *p = calloc(1, sizeof *p);
    int nroot = 0;
    for (zconfig_t *k = zconfig_child(root); k; k = zconfig_next(k))
        nroot++;
    c->module_nodes = calloc(nroot + 1, sizeof *c->module_nodes);
    if (!p || !c->module_nodes)
        return p;
    p->file = strdup(c->file);
    char real[PATH_MAX];
    p->dir = strdup(c->dir && realpath(c->dir, real) ? real : c->dir ? c->dir : ".");
    plan_defaults(p);
    p->name = name_of_file(c->file);
    read_top(c, p, root);
    check_plan(c, p, root);
    return p;
}

/*  Frees what reading kept and closes the error stream. */
static void cfg_fini(cfg_t *c)
{
    free(c->module_nodes);
    free(c->dir);
    free(c->nodes);
    free(c->lines);
    free(c->ov_nodes);
    free(c->ov_text);
    fclose(c->err);
}

plan_t *config_load(const char *file, char *const *overrides, int noverrides,
                    char **errors)
{
    cfg_t c = { .file = file };
    size_t errlen = 0;
    *errors = NULL;
    c.err = open_memstream(errors, &errlen);
    if (!c.err)
        return NULL;
    plan_t *p = NULL;
    zconfig_t *root = NULL;
    char *text = load_text(&c, file);
    if (text)
        root = parse_text(&c, text);
    if (root)
        p = plan_read(&c, root, text, overrides, noverrides);
    free(text);
    zconfig_destroy(&root);
    cfg_fini(&c);
    if (c.nerr || !p) {
        plan_destroy(&p);
        if (!*errors || !**errors) {
            free(*errors);
            *errors = strdup("out of memory\n");
        }
        return NULL;
    }
    free(*errors);
    *errors = NULL;
    return p;
}
