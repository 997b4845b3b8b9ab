/*  test_config: a good config becomes the plan it describes (actors,
    channels, defaults, overrides); a bad one is refused with errors that
    name the file and line. Modules resolve through TROUPE_MODULE_PATH. */
#include "check.h"
#include "plan/config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static plan_t *load_text(const char *text, char *const *sets, int nsets,
                         char **errors)
{
    snprintf(path, sizeof path, "/tmp/test_config_%d.zpl", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    plan_t *p = config_load(path, sets, nsets, errors);
    unlink(path);
    return p;
}

static const char *good =
    "# a comment line\n"
    "pipeline = demo\n"
    "    batch = 100\n"
    "\n"
    "channel = news\n"
    "    type = broadcast\n"
    "actor = src\n"
    "    module = seq\n"
    "    out = nums\n"
    "    args\n"
    "        count = 10\n"
    "actor = sq\n"
    "    module = square\n"
    "    instances = 3\n"
    "    in = nums\n"
    "    out = news\n"
    "actor = show\n"
    "    module = print\n"
    "    in = news\n"
    "    subscribe = \"\"\n";

static void test_good(void)
{
    char *errors = NULL;
    char *sets[] = { "sq.instances=4", "src.args.count=20", "pipeline.window=8" };
    plan_t *p = load_text(good, sets, 3, &errors);
    CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "%s", errors);
        free(errors);
        return;
    }
    CHECK_STR(p->name, "demo");
    CHECK(p->batch == 100);
    CHECK(p->window == 8);
    CHECK(p->credit == 1024); /* default */
    CHECK(p->nactors == 3);
    CHECK(p->nchans == 2);
    int sq = plan_find_actor(p, "sq");
    CHECK(sq == 1);
    CHECK(p->actors[sq].instances == 4);
    int news = plan_find_chan(p, "news");
    CHECK(news >= 0 && p->chans[news].mode == CHAN_BROADCAST);
    CHECK(p->chans[plan_find_chan(p, "nums")].mode == CHAN_PIPE);
    CHECK(p->actors[0].nargs == 1);
    CHECK_STR(p->actors[0].args[0].value, "20");
    CHECK(p->actors[2].ordered == 1); /* print asks for order */
    CHECK(p->actors[sq].ordered == 0);
    CHECK(p->actors[0].module_path && strstr(p->actors[0].module_path, "seq.so"));
    plan_destroy(&p);
    CHECK(p == NULL);
}

static void expect_error(const char *text, const char *want)
{
    char *errors = NULL;
    plan_t *p = load_text(text, NULL, 0, &errors);
    CHECK(p == NULL);
    plan_destroy(&p);
    char full[256];
    snprintf(full, sizeof full, "%s%s", path, want);
    if (!errors || !strstr(errors, full)) {
        fprintf(stderr, "want an error containing \"%s\", got:\n%s\n", full,
                errors ? errors : "(nothing)");
        check_failures++;
    }
    free(errors);
}

static void test_errors(void)
{
    expect_error("actor = a\n    module = seq\n   out = x\n", ":3: bad indentation");
    expect_error("actor = a\n    module = seq\n    out = x\n    instances = 0\n",
                 ":4: actor 'a': instances: '0' is not a whole number from 1 to 1024");
    expect_error("actor = a\n    module = nosuch\n    out = x\n"
                 "actor = b\n    module = print\n    in = x\n",
                 ":2: actor 'a': unknown module 'nosuch'");
    expect_error("actor = a\n    module = seq\n    out = x\n"
                 "actor = b\n    module = print\n    in = y\n",
                 ":6: channel 'y' is read but no actor writes it");
    expect_error("actor = a\n    module = seq\n    out = x\n    args\n        cuont = 3\n"
                 "actor = b\n    module = print\n    in = x\n",
                 ":5: actor 'a': module 'seq' takes no argument 'cuont'");
    expect_error("actor = a\n    module = square\n    in = x\n    out = y\n"
                 "actor = b\n    module = square\n    in = y\n    out = x\n",
                 ":1: the pipeline has a cycle: a -> b -> a");
    expect_error("actors = a\n", ":1: unknown key 'actors' at the top");
    expect_error("actor = a\n    module = seq\n    module = seq\n    out = x\n"
                 "actor = b\n    module = print\n    in = x\n",
                 ":3: actor 'a': 'module' is given twice");
    expect_error("actor = a\n    module = seq\n    out = x\n"
                 "actor = b\n    module = print\n    in = x\n    instances = 2\n",
                 ":5: actor 'b': ordered input needs instances = 1");
    expect_error("actor = a\n    module = seq\n    in = x\n    out = y\n"
                 "actor = b\n    module = print\n    in = y\n",
                 ":2: actor 'a': module 'seq' is a source");
    expect_error("", ": no actor defined");
}

static void test_missing_file(void)
{
    char *errors = NULL;
    plan_t *p = config_load("/nonexistent/x.zpl", NULL, 0, &errors);
    CHECK(p == NULL);
    CHECK(errors && strstr(errors, "/nonexistent/x.zpl: cannot read: No such file"));
    free(errors);
}

int main(void)
{
    test_good();
    test_errors();
    test_missing_file();
    CHECK_DONE();
}
