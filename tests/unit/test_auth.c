/*  test_auth: CURVE as auth.c sets it up, in a process not linked with
    czmq: czmq is mapped only once a key pair is asked for; key pairs are
    real and new each time; the allowlist folder is private, holds each key
    as a zcert public certificate, and is never half written; and a CURVE
    server guarded by auth_new's zauth answers a client whose key is in the
    folder and not one whose key is not (nor one in the clear). */
#include "wire/auth.h"
#include "check.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static bool czmq_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    bool found = false;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, "libczmq") != NULL;
    if (f)
        fclose(f);
    return found;
}

static bool file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

/*  Whether a DEALER with this pair (NULL: no CURVE) reaches the server at
    endpoint: it sends "hi" and the server must get it within 500 ms. */
static bool reaches(void *server, const char *endpoint, const char *public_txt,
                    const char *secret_txt, const char *server_txt)
{
    void *ctx = zmq_ctx_new();
    void *c = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(c, ZMQ_LINGER, &zero, sizeof zero);
    if (public_txt)
        CHECK(auth_set_client(c, public_txt, secret_txt, server_txt) == 0);
    zmq_connect(c, endpoint);
    zmq_send(c, "hi", 2, ZMQ_DONTWAIT);
    zmq_pollitem_t it = { .socket = server, .events = ZMQ_POLLIN };
    bool got = zmq_poll(&it, 1, 500) == 1;
    if (got) { /* routing id, then "hi" */
        char buf[64];
        zmq_recv(server, buf, sizeof buf, 0);
        CHECK(zmq_recv(server, buf, sizeof buf, 0) == 2);
    }
    zmq_close(c);
    zmq_ctx_term(ctx);
    return got;
}

int main(void)
{
    char err[512];
    CHECK(!auth_key_ok(NULL));
    CHECK(!auth_key_ok(""));
    CHECK(!auth_key_ok("too short"));
    CHECK(!auth_key_ok("~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~")); /* 40, not Z85 */

    /* czmq comes in with the first key pair, not before */
    CHECK(!czmq_mapped());
    auth_keys_t run, other;
    CHECK(auth_keys_new(&run, err, sizeof err) == 0);
    CHECK(czmq_mapped());
    CHECK(auth_keys_new(&other, err, sizeof err) == 0);
    CHECK(auth_key_ok(run.public_txt) && auth_key_ok(run.secret_txt));
    CHECK(strcmp(run.public_txt, other.public_txt) != 0);
    char derived[41];
    CHECK(zmq_curve_public(derived, run.secret_txt) == 0);
    CHECK_STR(derived, run.public_txt); /* a real pair */

    /* the allowlist folder */
    char tmp[] = "/tmp/test_auth.XXXXXX", dir[PATH_MAX], path[PATH_MAX + 16];
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(dir, sizeof dir, "%s/allow", tmp);
    const char *bad[] = { run.public_txt, "not a key" };
    CHECK(auth_allow_write(dir, bad, 2, err, sizeof err) < 0);
    CHECK(strstr(err, "not a Z85 key") != NULL);
    CHECK(access(dir, F_OK) != 0); /* nothing left half written */
    const char *allow[] = { run.public_txt };
    CHECK(auth_allow_write(dir, allow, 1, err, sizeof err) == 0);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    snprintf(path, sizeof path, "%s/key-0", dir);
    char line[64];
    snprintf(line, sizeof line, "public-key = \"%s\"", run.public_txt);
    CHECK(file_has(path, line));
    CHECK(!file_has(path, run.secret_txt));
    CHECK(auth_allow_write(dir, allow, 1, err, sizeof err) < 0); /* exists */

    /* zauth guarding a CURVE server */
    snprintf(path, sizeof path, "%s/missing", tmp);
    CHECK(auth_new(path, err, sizeof err) == NULL);
    CHECK(strstr(err, "no CURVE allowlist folder") != NULL);
    auth_t *auth = auth_new(dir, err, sizeof err);
    CHECK(auth != NULL);
    if (auth) {
        void *server = zmq_socket(auth_zctx(auth), ZMQ_ROUTER);
        int zero = 0;
        zmq_setsockopt(server, ZMQ_LINGER, &zero, sizeof zero);
        CHECK(auth_set_server(server, "not a key") < 0);
        CHECK(auth_set_server(server, run.secret_txt) == 0);
        CHECK(zmq_bind(server, "tcp://127.0.0.1:*") == 0);
        char endpoint[256];
        size_t len = sizeof endpoint;
        zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &len);
        CHECK(reaches(server, endpoint, run.public_txt, run.secret_txt, run.public_txt));
        CHECK(!reaches(server, endpoint, other.public_txt, other.secret_txt,
                       run.public_txt));
        CHECK(!reaches(server, endpoint, NULL, NULL, NULL));
        zmq_close(server);
        auth_destroy(&auth);
        CHECK(auth == NULL);
        auth_destroy(&auth); /* harmless */
    }
    auth_allow_remove(dir, 1);
    CHECK(access(dir, F_OK) != 0);
    rmdir(tmp);
    auth_keys_clear(&run);
    CHECK(run.secret_txt[0] == '\0');
    CHECK_DONE();
}
