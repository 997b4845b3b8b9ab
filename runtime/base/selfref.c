/*  selfref.c: addresses of the running program as text that survives an
    exec of the same program (selfref.h). dl_iterate_phdr lists the loaded
    objects with their load addresses and segments; the first one is the
    main program. */
#define _GNU_SOURCE
#include "base/selfref.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <link.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    uintptr_t addr;   /* find: the address; resolve: the result */
    const char *name; /* resolve: the object wanted ("" : main program) */
    uintptr_t offset;
    int index;
    bool found;
    char object[PATH_MAX];
} walk_t;

static bool in_segments(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= lo && addr < lo + ph->p_memsz)
            return true;
    }
    return false;
}

static int find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    walk_t *w = arg;
    int index = w->index++;
    if (!in_segments(info, w->addr))
        return 0;
    w->found = true;
    w->offset = w->addr - info->dlpi_addr;
    snprintf(w->object, sizeof w->object, "%s",
             index == 0 ? "" : info->dlpi_name ? info->dlpi_name : "");
    return 1;
}

int selfref_make(const void *addr, char *buf, size_t len)
{
    walk_t w = { .addr = (uintptr_t)addr };
    dl_iterate_phdr(find_cb, &w);
    if (!w.found || (w.index > 1 && !w.object[0]))
        return -1; /* not in a loaded object, or in one without a name (vdso) */
    int n = snprintf(buf, len, SELFREF_PREFIX "%s:%" PRIxPTR, w.object, w.offset);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int resolve_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    walk_t *w = arg;
    int index = w->index++;
    bool match = w->name[0] ? info->dlpi_name && !strcmp(info->dlpi_name, w->name)
                            : index == 0;
    if (!match)
        return 0;
    w->addr = info->dlpi_addr + w->offset;
    w->found = in_segments(info, w->addr);
    return 1;
}

bool selfref_is(const char *text)
{
    return text && !strncmp(text, SELFREF_PREFIX, strlen(SELFREF_PREFIX));
}

void *selfref_resolve(const char *ref, char *err, size_t errlen)
{
    const char *p = ref + strlen(SELFREF_PREFIX);
    const char *colon = strrchr(p, ':');
    char name[PATH_MAX];
    if (!selfref_is(ref) || !colon || (size_t)(colon - p) >= sizeof name) {
        snprintf(err, errlen, "'%s' is not a reference to this program", ref);
        return NULL;
    }
    snprintf(name, sizeof name, "%.*s", (int)(colon - p), p);
    char *end;
    walk_t w = { .name = name, .offset = (uintptr_t)strtoull(colon + 1, &end, 16) };
    if (*end || end == colon + 1) {
        snprintf(err, errlen, "'%s': bad offset", ref);
        return NULL;
    }
    dl_iterate_phdr(resolve_cb, &w);
    if (!w.found && name[0] && dlopen(name, RTLD_NOW | RTLD_GLOBAL)) {
        w.index = 0;
        dl_iterate_phdr(resolve_cb, &w);
    }
    if (!w.found) {
        snprintf(err, errlen, "'%s': no such address in %s", ref,
                 name[0] ? name : "this program");
        return NULL;
    }
    return (void *)w.addr;
}

int selfref_program(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}
