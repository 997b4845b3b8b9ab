/*  test_module: a module loaded by a program that holds the runtime itself
    (linked in whole, as the troupe command and these tests are) binds to
    that copy: a built-in module brings no libtroupe.so into the process at
    all, and one linked with libtroupe (as `pkg-config troupe` builds them)
    resolves its troupe_ calls to the program's functions, not to the
    libtroupe.so it drags in. The ABI check refuses what is not a module.
    argv[1]: the linked test module (tests/modules/linked.c). */
#define _GNU_SOURCE
#include "check.h"
#include "base/module.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/*  Whether this process maps a libtroupe.so. */
static bool maps_libtroupe(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "/libtroupe.so") != NULL;
    fclose(f);
    return found;
}

static void test_a_builtin_module_brings_no_second_runtime(void)
{
    char err[512];
    char *path = module_resolve("square", NULL, err, sizeof err);
    CHECK(path != NULL);
    if (!path)
        return;
    void *handle;
    const troupe_module_t *mod = module_load(path, &handle, err, sizeof err);
    CHECK(mod != NULL);
    CHECK(mod && mod->message != NULL);
    CHECK(!maps_libtroupe());
    if (mod)
        dlclose(handle);
    free(path);
}

static void test_a_linked_module_binds_to_this_program(const char *path)
{
    char err[512];
    void *handle;
    const troupe_module_t *mod = module_load(path, &handle, err, sizeof err);
    CHECK(mod != NULL);
    if (!mod) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    void *(*emit)(void) = (void *(*)(void))dlsym(handle, "linked_emit_object");
    void *(*error)(void) = (void *(*)(void))dlsym(handle, "linked_error");
    CHECK(emit && error);
    if (emit && error) {
        CHECK(emit() == (void *)troupe_emit_object);
        CHECK(error() == (void *)troupe_error);
    }
    dlclose(handle);
}

static void test_what_is_not_a_module_is_refused(void)
{
    char err[512];
    void *handle;
    /* a shared object without a descriptor: libc */
    CHECK(module_load("libc.so.6", &handle, err, sizeof err) == NULL);
    CHECK(strstr(err, "is not a troupe module") != NULL);
    CHECK(module_load("/nonexistent/x.so", &handle, err, sizeof err) == NULL);
    CHECK(strstr(err, "cannot load module") != NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_module LINKED_MODULE.so\n");
        return 2;
    }
    test_a_builtin_module_brings_no_second_runtime();
    test_a_linked_module_binds_to_this_program(argv[1]);
    test_what_is_not_a_module_is_refused();
    CHECK_DONE();
}
