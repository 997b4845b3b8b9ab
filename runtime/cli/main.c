/*  main.c: the `troupe` command. It parses arguments and decides exit codes;
    everything else is in libtroupe.
*/
#include "wire/auth.h"
#include "plan/config.h"
#include "plan/graph.h"
#include "cli/keygen.h"
#include "base/module.h"
#include "cluster/node.h"
#include "cluster/slurm.h"
#include "supervisor/supervisor.h"
#include "cli/top.h"
#include "troupe.h"

#include <czmq.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EXIT_USAGE 2

static const char *usage_main =
    "usage: troupe COMMAND [OPTIONS] ...\n"
    "\n"
    "troupe runs pipelines of actor processes that pass msgpack items over\n"
    "ZeroMQ, from a config file.\n"
    "\n"
    "commands:\n"
    "  run FILE      run the pipeline FILE describes (troupe run --help)\n"
    "  node          join a head and run actors for it (troupe node --help)\n"
    "  top [NAME]    a live view of a running pipeline (troupe top --help)\n"
    "  check FILE    check FILE without running it; exit 0 when it is good\n"
    "  graph FILE    the pipeline FILE describes as Graphviz DOT, on stdout\n"
    "  modules       list the built-in modules and their arguments\n"
    "  keygen NAME   make a CURVE key pair: files NAME and NAME_secret\n"
    "  version       print the version\n"
    "\n"
    "Config files are ZPL; see docs/CONFIG.md. Exit codes: 0 success, 1 the\n"
    "run failed, 2 a usage or config error, 128+N after signal N.\n";

static const char *usage_run =
    "usage: troupe run [OPTIONS] FILE\n"
    "\n"
    "Runs the pipeline FILE describes, until its sources are exhausted and\n"
    "every item has gone through. Ctrl-C stops the sources and drains what is\n"
    "in flight; a second Ctrl-C kills at once.\n"
    "\n"
    "options:\n"
    "  -s, --set ACTOR.KEY=VALUE  override a config key before the run, e.g.\n"
    "                             -s square.instances=4 -s numbers.args.count=10\n"
    "                             (pipeline.KEY=VALUE for pipeline keys)\n"
    "  -v, --verbose              news (info lines) and a summary per actor at\n"
    "                             the end; twice: every lifecycle event\n"
    "  -q, --quiet                errors only (no warnings, e.g. restarts, no\n"
    "                             progress, no modules' own lines)\n"
    "      --progress             show progress where stderr is not a terminal\n"
    "                             too: a line a second (items out of the sources,\n"
    "                             rate, percent and ETA once their total is known)\n"
    "      --no-progress          no progress bar on a terminal. By default\n"
    "                             stderr on a terminal has one, redrawn in place,\n"
    "                             unless stdout goes to the same terminal\n"
    "      --stats FILE           write the end-of-run summary as JSON to FILE\n"
    "      --grace SECONDS        how long a Ctrl-C drain may take (default 5)\n"
    "      --hang SECONDS         an actor that sends no heartbeat and uses no\n"
    "                             CPU this long is hung, and is killed (default\n"
    "                             10); one computing a long item is not\n"
    "      --transport ipc|tcp    what data channels run on: ipc sockets in the\n"
    "                             run directory (default), or tcp on 127.0.0.1,\n"
    "                             encrypted with CURVE and open only to the\n"
    "                             run's own actors (a key pair made per run)\n"
    "      --data-ports LO-HI     with tcp: every data socket binds a port from\n"
    "                             LO to HI, for a firewall (default: any the\n"
    "                             system picks); one per output of each instance\n"
    "  -h, --help                 this text\n"
    "\n"
    "running across nodes (troupe node; docs/ARCHITECTURE.md, \"Nodes\",\n"
    "docs/SCALE-OUT.md):\n"
    "      --listen tcp://HOST:PORT  be a head: nodes join here; data channels\n"
    "                             run on tcp, the head's own on HOST. Worker\n"
    "                             instances (actors with inputs and outputs) are\n"
    "                             spread over the head and the nodes by cores;\n"
    "                             `place = head` in an actor keeps it home\n"
    "      --key FILE             the head's secret certificate (troupe keygen's\n"
    "                             NAME_secret): the node link is CURVE\n"
    "      --allow DIR            with --key: the folder of the public\n"
    "                             certificates of the nodes that may join;\n"
    "                             any other is refused, and the head says so\n"
    "      --insecure             no keys on a non-loopback HOST: anyone who can\n"
    "                             reach the port can join the run, and the run's\n"
    "                             key crosses the network in the clear. Without\n"
    "                             keys on a loopback HOST, anyone on this machine\n"
    "                             can join (a warning says so)\n"
    "      --nodes N              wait for N nodes before the start (default 1)\n"
    "      --wait SECONDS         ... at most this long, then run with those\n"
    "                             that came (default 10)\n"
    "      --node-timeout SECONDS a node whose link is silent this long is\n"
    "                             lost (default 4, as a node's bound for the\n"
    "                             head; not --hang)\n"
    "      --slurm                inside a Slurm allocation (an sbatch script or\n"
    "                             salloc's shell): be the head of its nodes.\n"
    "                             Starts a troupe node on each allocated node but\n"
    "                             this one (srun, a job step each) with keys made\n"
    "                             for this run, places workers by the CPUs Slurm\n"
    "                             gave, ends the steps with the run. Waits --wait\n"
    "                             seconds (default 30) for every node, and fails\n"
    "                             if one does not join. --listen picks the address\n"
    "                             (default: this host name's, any free port); no\n"
    "                             --key, --allow, --insecure or --nodes\n";

static const char *usage_node =
    "usage: troupe node --head tcp://HOST:PORT --key FILE --head-key FILE [OPTIONS]\n"
    "       troupe node --head tcp://HOST:PORT --insecure [OPTIONS]\n"
    "\n"
    "Joins the head (troupe run --listen) at HOST:PORT and runs the actor\n"
    "instances it places here, until the head's run ends (exit 0), the head\n"
    "is lost (no word for 4 s: exit 1) or never answers (none at all for\n"
    "--wait, 30 s, as when the head refuses this node: exit 1) or a signal\n"
    "N ends it (exit 128+N). The first SIGTERM asks to leave instead: the\n"
    "head moves this node's work elsewhere, then lets it go (exit 0). Its actors\n"
    "are killed and its run directory removed in every case. Modules and\n"
    "files are found at the paths the head has: the same installation must be\n"
    "at the same place on every machine.\n"
    "\n"
    "options:\n"
    "      --head ENDPOINT   the head's --listen endpoint\n"
    "      --key FILE        this node's secret certificate (troupe keygen's\n"
    "                        NAME_secret; the head's --allow folder must hold\n"
    "                        its public one, NAME)\n"
    "      --head-key FILE   the head's public certificate\n"
    "      --insecure        no keys: the link is in the clear, for a head\n"
    "                        without --key only\n"
    "      --cores N         announced to the head for placement (default: the\n"
    "                        CPUs online here)\n"
    "      --name NAME       how the head calls this node (default: host name)\n"
    "      --wait SECONDS    how long to wait for the head's first word before\n"
    "                        saying it cannot be reached (default 30)\n"
    "      --keys-from-env   this node's secret key and the head's public key,\n"
    "                        Z85, from TROUPE_NODE_SECRET and TROUPE_HEAD_PUBLIC\n"
    "                        (as troupe run --slurm starts its nodes: a key on\n"
    "                        the command line would be in every user's ps)\n"
    "  -v, --verbose         say when it joins and leaves\n"
    "  -h, --help            this text\n";

static const char *usage_check =
    "usage: troupe check [-s ACTOR.KEY=VALUE]... FILE\n"
    "\n"
    "Checks FILE: syntax, keys, numbers, channels (each needs a writer and a\n"
    "reader), cycles, and that every module loads and takes its arguments.\n"
    "Prints every problem as FILE:LINE: message and exits 2, or exits 0.\n";

static const char *usage_graph =
    "usage: troupe graph [-s ACTOR.KEY=VALUE]... FILE\n"
    "\n"
    "Writes the pipeline FILE describes as a Graphviz DOT digraph on stdout:\n"
    "a box per actor (name, module, instances; sources bold, sinks grey), an\n"
    "edge per pair of actors a channel joins, labelled with the channel,\n"
    "dashed for a broadcast. Draw it with: troupe graph FILE | dot -Tpng > FILE.png\n"
    "A config with errors is refused as troupe check refuses it (exit 2).\n";

static const char *usage_keygen =
    "usage: troupe keygen [OPTIONS] NAME\n"
    "\n"
    "Makes a CURVE key pair with czmq's zcert and writes two certificate\n"
    "files, as zcert_save does:\n"
    "\n"
    "  NAME         the public certificate: the public key and the metadata.\n"
    "               Safe to copy. Copied into a folder, it is an allowlist\n"
    "               entry: czmq's zauth (CURVE with a folder) admits the\n"
    "               holders of the public keys of the files in that folder.\n"
    "  NAME_secret  the secret certificate: both keys, mode 0600. It stays on\n"
    "               the machine that owns the pair; do not copy it elsewhere.\n"
    "\n"
    "Both are ZPL text that zcert_load reads. A head takes its NAME_secret\n"
    "with `troupe run --listen ... --key` and a folder of its nodes' NAME\n"
    "files with --allow; a node takes its own NAME_secret with `troupe node\n"
    "--key` and the head's NAME with --head-key (docs/SCALE-OUT.md).\n"
    "\n"
    "The folder of NAME must exist. The metadata: name (the last part of\n"
    "NAME, or --name), created-by (this troupe's version) and hostname.\n"
    "\n"
    "options:\n"
    "  -f, --force      replace NAME and NAME_secret if they exist (a new\n"
    "                   pair: copy the new NAME wherever the old one went)\n"
    "  -n, --name TEXT  the certificate's name\n"
    "  -h, --help       this text\n"
    "\n"
    "Exit codes: 0 written, 1 writing failed, 2 a usage error, a missing\n"
    "folder, or a file that exists (without --force).\n";

typedef struct {
    char **sets;
    int nsets;
    supervisor_opts_t sup;
    const char *file;
    bool tcp;
    unsigned port_lo, port_hi; /* --data-ports */
    bool insecure;
    const char *key_file, *allow_dir;
    bool slurm, nodes_given, wait_given; /* --slurm; --nodes, --wait said */
} cli_t;

/*  N of --nodes into *out: 0, or an exit code having said why not. */
static int parse_nodes(const char *arg, unsigned *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end || end == arg || v < 0 || v > 32) {
        fprintf(stderr, "troupe: --nodes: '%s' is not a number from 0 to 32\n", arg);
        return EXIT_USAGE;
    }
    *out = (unsigned)v;
    return 0;
}

/*  SECONDS of --grace, --wait or --hang (opt) into *out: 0, or an exit code
    having said why not. */
static int parse_seconds(const char *opt, const char *arg, double *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (*end || end == arg || v <= 0 || v > 86400) {
        fprintf(stderr, "troupe: --%s: '%s' is not a number of seconds\n", opt, arg);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/*  LO-HI of --data-ports into cli: 0, or an exit code having said why not. */
static int parse_ports(const char *arg, cli_t *cli)
{
    char *end;
    unsigned long lo = strtoul(arg, &end, 10), hi = 0;
    if (end != arg && *end == '-')
        hi = strtoul(end + 1, &end, 10);
    if (*end || lo < 1024 || hi > 65535 || hi < lo) {
        fprintf(stderr, "troupe: --data-ports: '%s' is not a range LO-HI of "
                "ports from 1024 to 65535\n", arg);
        return EXIT_USAGE;
    }
    cli->port_lo = (unsigned)lo;
    cli->port_hi = (unsigned)hi;
    return 0;
}

/*  ipc or tcp of --transport into cli: 0, or an exit code having said why
    not. */
static int parse_transport(const char *arg, cli_t *cli)
{
    if (strcmp(arg, "ipc") && strcmp(arg, "tcp")) {
        fprintf(stderr, "troupe: --transport: '%s' is not ipc or tcp\n", arg);
        return EXIT_USAGE;
    }
    cli->tcp = !strcmp(arg, "tcp");
    return 0;
}

/*  Takes option c (getopt_long's answer, its argument in optarg) into cli.
    Returns -1 to go on, or an exit code: 0 after --help, EXIT_USAGE having
    said what is wrong. */
static int take_option(int c, char **argv, cli_t *cli, const char *usage)
{
    int rc = 0;
    switch (c) {
    case 's': cli->sets[cli->nsets++] = optarg; break;
    case 'v': cli->sup.verbose++; break;
    case 'q': cli->sup.verbose = -1; break;
    case 'S': cli->sup.stats = optarg; break;
    case 'P': cli->sup.progress = 1; break;
    case 'O': cli->sup.progress = -1; break;
    case 'L': cli->sup.listen = optarg; break;
    case 'I': cli->insecure = true; break;
    case 'K': cli->key_file = optarg; break;
    case 'A': cli->allow_dir = optarg; break;
    case 'U': cli->slurm = true; break;
    case 'N':
        cli->nodes_given = true;
        rc = parse_nodes(optarg, &cli->sup.nodes);
        break;
    case 'g': rc = parse_seconds("grace", optarg, &cli->sup.grace); break;
    case 'W':
        cli->wait_given = true;
        rc = parse_seconds("wait", optarg, &cli->sup.wait);
        break;
    case 'H': rc = parse_seconds("hang", optarg, &cli->sup.hang); break;
    case 'X': rc = parse_seconds("node-timeout", optarg, &cli->sup.node_timeout); break;
    case 'D': rc = parse_ports(optarg, cli); break;
    case 'T': rc = parse_transport(optarg, cli); break;
    case 'h': fputs(usage, stdout); return 0;
    default:
        fprintf(stderr, "troupe: unknown or incomplete option '%s'\n\n%s",
                argv[optind - 1], usage);
        return EXIT_USAGE;
    }
    return rc ? rc : -1;
}

/*  The options and FILE of troupe run, check and graph into cli. Returns
    -1 to go on, or an exit code (0 after --help). */
static int parse_args(int argc, char **argv, cli_t *cli, const char *usage)
{
    static const struct option longopts[] = {
        { "set", required_argument, NULL, 's' },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { "stats", required_argument, NULL, 'S' },
        { "progress", no_argument, NULL, 'P' },
        { "no-progress", no_argument, NULL, 'O' },
        { "grace", required_argument, NULL, 'g' },
        { "hang", required_argument, NULL, 'H' },
        { "transport", required_argument, NULL, 'T' },
        { "data-ports", required_argument, NULL, 'D' },
        { "listen", required_argument, NULL, 'L' },
        { "insecure", no_argument, NULL, 'I' },
        { "key", required_argument, NULL, 'K' },
        { "allow", required_argument, NULL, 'A' },
        { "nodes", required_argument, NULL, 'N' },
        { "wait", required_argument, NULL, 'W' },
        { "node-timeout", required_argument, NULL, 'X' },
        { "slurm", no_argument, NULL, 'U' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    cli->sets = calloc(argc + 1, sizeof *cli->sets);
    cli->sup.verbose = 0;
    cli->sup.grace = 5.0;
    cli->sup.hang = 10.0;
    cli->sup.nodes = 1;
    cli->sup.wait = 10.0;
    optind = 1;
    opterr = 0;
    int c, rc = -1;
    while (rc < 0 && (c = getopt_long(argc, argv, "+s:vqh", longopts, NULL)) != -1)
        rc = take_option(c, argv, cli, usage);
    if (rc >= 0)
        return rc;
    if (optind != argc - 1) {
        fprintf(stderr, "troupe: %s\n\n%s",
                optind >= argc ? "which config file?" : "one config file at a time",
                usage);
        return EXIT_USAGE;
    }
    cli->file = argv[optind];
    return -1; /* go on */
}

/*  The HOST of tcp://HOST:PORT, in buf; -1 when it is not such an endpoint
    or HOST is a wildcard (the head's actors bind there and nodes connect to
    it: it must be an address they can reach). */
static int tcp_host_of(const char *ep, char *buf, size_t len)
{
    if (strncmp(ep, "tcp://", 6) != 0)
        return -1;
    const char *host = ep + 6, *colon = strrchr(host, ':');
    if (!colon || colon == host || !colon[1] || (size_t)(colon - host) >= len)
        return -1;
    snprintf(buf, len, "%.*s", (int)(colon - host), host);
    return strcmp(buf, "*") && strcmp(buf, "0.0.0.0") && strcmp(buf, "[::]") ? 0 : -1;
}

/*  Whether HOST is this machine's loopback: only its own users reach it. */
static bool loopback_host(const char *host)
{
    return !strncmp(host, "127.", 4) || !strcmp(host, "localhost")
        || !strcmp(host, "::1") || !strcmp(host, "[::1]");
}

/*  The endpoint must be tcp://ADDRESS:PORT; keys, or the user's word
    (--insecure) for a link in the clear. Returns an exit code, or -1 to go
    on. */
static int check_listen(const char *what, const char *ep, bool keyed, bool insecure,
                        char *host, size_t len)
{
    if (tcp_host_of(ep, host, len) < 0) {
        fprintf(stderr, "troupe: %s: '%s' is not tcp://ADDRESS:PORT (an address the "
                "nodes can reach, not a wildcard)\n", what, ep);
        return EXIT_USAGE;
    }
    if (keyed && insecure) {
        fprintf(stderr, "troupe: %s: --insecure and keys contradict each other: "
                "give one or the other\n", what);
        return EXIT_USAGE;
    }
    return -1;
}

/*  Loads a certificate for the command line: 0, or an exit code. */
static int load_keys(const char *opt, const char *path, auth_keys_t *keys,
                     bool need_secret)
{
    char err[1024];
    if (auth_keys_load(path, keys, need_secret, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "troupe: %s: %s\n", opt, err);
    return EXIT_USAGE;
}

/*  The keys of a link to a head (troupe node, troupe top --head): both
    certificates, or --insecure, never both. Loads them into keys (ours,
    with its secret) and head (its public key). Returns -1 to go on, with
    *keyed saying whether there are keys, or an exit code. */
static int link_keys(const char *cmd, const char *head_ep, const char *key_file,
                     const char *head_key_file, bool insecure, auth_keys_t *keys,
                     auth_keys_t *head, bool *keyed)
{
    char host[256], what[64];
    *keyed = key_file || head_key_file;
    snprintf(what, sizeof what, "%s --head", cmd);
    int rc = check_listen(what, head_ep, *keyed, insecure, host, sizeof host);
    if (rc >= 0)
        return rc;
    if (*keyed && !(key_file && head_key_file)) {
        fprintf(stderr, "troupe: %s: --key and --head-key go together: this side's "
                "secret certificate and the head's public one\n", cmd);
        return EXIT_USAGE;
    }
    if (!*keyed && !insecure) {
        fprintf(stderr, "troupe: %s: no keys: give --key FILE --head-key FILE (see "
                "troupe keygen), or say --insecure to reach a head without keys\n", cmd);
        return EXIT_USAGE;
    }
    if (!*keyed)
        return -1;
    snprintf(what, sizeof what, "%s --key", cmd);
    if ((rc = load_keys(what, key_file, keys, true)) != 0)
        return rc;
    snprintf(what, sizeof what, "%s --head-key", cmd);
    if ((rc = load_keys(what, head_key_file, head, false)) != 0) {
        auth_keys_clear(keys);
        return rc;
    }
    return -1;
}

/*  A head's keys (--key and --allow, given together): loads the secret
    certificate into head_keys and hands both to the supervisor's options.
    Returns -1 to go on, or an exit code having said why not. */
static int head_keys_load(cli_t *cli, auth_keys_t *head_keys)
{
    if (!(cli->key_file && cli->allow_dir)) {
        fprintf(stderr, "troupe: --listen: --key and --allow go together: the "
                "head's secret certificate and the folder of the nodes allowed\n");
        return EXIT_USAGE;
    }
    int rc = load_keys("--key", cli->key_file, head_keys, true);
    if (rc != 0)
        return rc;
    struct stat st;
    if (stat(cli->allow_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "troupe: --allow: %s is not a folder\n", cli->allow_dir);
        return EXIT_USAGE;
    }
    cli->sup.listen_keys = head_keys;
    cli->sup.allow_dir = cli->allow_dir;
    return -1;
}

/*  troupe run's head options. --key, --allow and --insecure need --listen;
    with --listen, checks its endpoint (its HOST into host), loads the
    head's keys into head_keys or warns of a node link without keys, and
    puts the data channels on tcp. Returns -1 to go on, or an exit code. */
static int head_setup(cli_t *cli, auth_keys_t *head_keys, char *host, size_t len)
{
    if (!cli->sup.listen) {
        if (!cli->key_file && !cli->allow_dir && !cli->insecure)
            return -1;
        fprintf(stderr, "troupe: --key, --allow and --insecure are for a head: they "
                "need --listen\n");
        return EXIT_USAGE;
    }
    bool keyed = cli->key_file || cli->allow_dir;
    int rc = check_listen("--listen", cli->sup.listen, keyed, cli->insecure, host, len);
    if (rc < 0 && keyed)
        rc = head_keys_load(cli, head_keys);
    if (rc < 0 && !keyed && !loopback_host(host) && !cli->insecure) {
        fprintf(stderr, "troupe: --listen: %s is not a loopback address: give the "
                "head's keys (--key FILE --allow DIR), or say --insecure to run "
                "the node link in the clear\n", host);
        rc = EXIT_USAGE;
    }
    if (rc >= 0)
        return rc;
    if (!keyed && cli->insecure)
        fprintf(stderr, "troupe: warning: --insecure: anyone who can reach %s can "
                "join this run as a node and read or change its data\n",
                cli->sup.listen);
    else if (!keyed)
        fprintf(stderr, "troupe: warning: no keys (--key, --allow): anyone on this "
                "machine can join this run as a node at %s\n", cli->sup.listen);
    cli->tcp = true; /* nodes reach the head's actors on tcp */
    return -1;
}

/* ==== troupe run --slurm (cluster/slurm.c) ====================================== */

/*  The supervisor's launcher hooks, over a slurm_t. */
static int slurm_start_hook(void *arg, const char *endpoint, char *err, size_t errlen)
{
    return slurm_start(arg, endpoint, err, errlen);
}

static int slurm_exited_hook(void *arg, pid_t pid, int status, char *why, size_t len)
{
    return slurm_exited(arg, pid, status, why, len);
}

static int slurm_joined_hook(void *arg, const char *const *names, int n, char *err,
                             size_t errlen)
{
    return slurm_joined(arg, names, n, err, errlen);
}

static void slurm_stop_hook(void *arg)
{
    slurm_stop(arg);
}

/*  Says what the allocation is, with -v. */
static void slurm_tell(const slurm_alloc_t *a)
{
    fprintf(stderr, "troupe: --slurm: job %s, %d node(s): ", a->job, a->total);
    if (a->self[0])
        fprintf(stderr, "the head on %s (%u CPUs)", a->self, a->self_cpus);
    else
        fprintf(stderr, "the head on no node of the job (its workers go to the nodes)");
    for (int i = 0; i < a->nnodes; i++)
        fprintf(stderr, "%s%s (%u CPUs)", i ? ", " : "; troupe node on ", a->names[i],
                a->cpus[i]);
    fputc('\n', stderr);
}

/*  Where the head listens: --listen, else this host name's address and a
    port the system picks; into listen (the endpoint) and host. Returns -1
    to go on, or an exit code. */
static int slurm_listen(cli_t *cli, char *listen, size_t listen_len, char *host,
                        size_t len)
{
    if (cli->sup.listen) {
        snprintf(listen, listen_len, "%s", cli->sup.listen);
        return check_listen("--listen", listen, true, false, host, len);
    }
    char err[512];
    bool loopback = false;
    if (slurm_head_address(host, len, &loopback, err, sizeof err) < 0) {
        fprintf(stderr, "troupe: --slurm: %s\n", err);
        return EXIT_USAGE;
    }
    snprintf(listen, listen_len, "tcp://%s:*", host);
    if (loopback)
        fprintf(stderr, "troupe: warning: --slurm: this host's name resolves to %s, a "
                "loopback address: nodes on other hosts cannot reach the head there "
                "(--listen tcp://ADDRESS:* names one they can)\n", host);
    return -1;
}

/*  troupe run --slurm: reads the allocation and, when it has nodes besides
    the head's, makes the run's keys (slurm_new) and makes the run a head
    that starts them. Returns -1 to go on, or an exit code. */
static int slurm_setup(cli_t *cli, slurm_t **slurm, supervisor_launcher_t *launcher,
                       char *listen, size_t listen_len, char *host, size_t len)
{
    if (cli->key_file || cli->allow_dir || cli->insecure || cli->nodes_given) {
        fprintf(stderr, "troupe: --slurm makes the run's keys and starts its nodes "
                "itself: no --key, --allow, --insecure or --nodes\n");
        return EXIT_USAGE;
    }
    slurm_alloc_t alloc;
    char err[1024];
    if (slurm_alloc_read(&alloc, err, sizeof err) < 0) {
        fprintf(stderr, "troupe: --slurm: %s\n", err);
        return EXIT_USAGE;
    }
    if (cli->sup.verbose > 0)
        slurm_tell(&alloc);
    cli->sup.term_kills = true; /* scancel: SIGTERM to every process */
    if (alloc.nnodes == 0) { /* the job is this node: an ordinary run */
        cli->sup.listen = NULL;
        return -1;
    }
    int rc = slurm_listen(cli, listen, listen_len, host, len);
    if (rc >= 0)
        return rc;
    if (!(*slurm = slurm_new(&alloc, cli->sup.verbose, err, sizeof err))) {
        fprintf(stderr, "troupe: --slurm: %s\n", err);
        return EXIT_USAGE;
    }
    *launcher = (supervisor_launcher_t){ .arg = *slurm,
                                         .start = slurm_start_hook,
                                         .exited = slurm_exited_hook,
                                         .joined = slurm_joined_hook,
                                         .stop = slurm_stop_hook };
    cli->sup.listen = listen;
    cli->sup.listen_keys = slurm_head_keys(*slurm);
    cli->sup.allow_dir = slurm_allow_dir(*slurm);
    cli->sup.nodes = (unsigned)alloc.nnodes;
    cli->sup.wait = cli->wait_given ? cli->sup.wait : 30.0;
    cli->sup.head_cores = alloc.self_cpus ? (int)alloc.self_cpus : -1;
    cli->sup.launcher = launcher;
    cli->tcp = true; /* nodes reach the head's actors on tcp */
    return -1;
}

/*  What run, check and graph each do with the plan they loaded; host is
    --listen's HOST. Returns the exit code. */
static int use_plan(cli_t *cli, plan_t *plan, bool run, bool graph, const char *host,
                    zygote_t *zygote)
{
    if (cli->port_lo && !cli->tcp) {
        fprintf(stderr, "troupe: --data-ports: the data channels are on ipc: give "
                "--transport tcp or --listen too\n");
        zygote_stop(&zygote);
        return EXIT_USAGE;
    }
    if (run && cli->tcp
        && !(plan->tcp_host = strdup(cli->sup.listen ? host : "127.0.0.1"))) {
        zygote_stop(&zygote);
        return 1;
    }
    if (run) { /* supervisor_run stops the zygote */
        plan->port_lo = cli->port_lo;
        plan->port_hi = cli->port_hi;
        return supervisor_run(plan, &cli->sup, zygote);
    }
    if (graph) {
        graph_write(plan, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    printf("%s: ok: pipeline '%s', %d actors\n", cli->file, plan->name, plan->nactors);
    return 0;
}

/*  troupe run, check (neither run nor graph) and graph. */
static int cmd_run_or_check(int argc, char **argv, bool run, bool graph)
{
    cli_t cli;
    memset(&cli, 0, sizeof cli);
    char host[256], listen[300];
    auth_keys_t head_keys;
    memset(&head_keys, 0, sizeof head_keys);
    slurm_t *slurm = NULL;
    supervisor_launcher_t launcher;
    int rc = parse_args(argc, argv, &cli,
                        run ? usage_run : graph ? usage_graph : usage_check);
    if (rc < 0 && run)
        rc = cli.slurm ? slurm_setup(&cli, &slurm, &launcher, listen, sizeof listen, host,
                                     sizeof host)
                       : head_setup(&cli, &head_keys, host, sizeof host);
    if (rc >= 0) {
        slurm_destroy(&slurm);
        auth_keys_clear(&head_keys);
        free(cli.sets);
        return rc;
    }
    /* the zygote's exec and linking overlap loading the config */
    zygote_t *zygote = run ? zygote_prestart() : NULL;
    char *errors = NULL;
    plan_t *plan = config_load(cli.file, cli.sets, cli.nsets, &errors);
    if (plan)
        rc = use_plan(&cli, plan, run, graph, host, zygote);
    else {
        zygote_stop(&zygote);
        fputs(errors, stderr);
        free(errors);
        rc = EXIT_USAGE;
    }
    plan_destroy(&plan);
    slurm_destroy(&slurm); /* after the run: its steps are over */
    auth_keys_clear(&head_keys);
    free(cli.sets);
    return rc;
}

/*  troupe node --keys-from-env: the keys a head that started this node
    (troupe run --slurm) put in its environment. Returns -1 to go on, or
    an exit code. */
static int node_env_keys(const node_opts_t *opts, bool other_keys, auth_keys_t *keys,
                         auth_keys_t *head, bool *keyed)
{
    char host[256], err[512];
    if (other_keys) {
        fprintf(stderr, "troupe: node: --keys-from-env takes the place of --key, "
                "--head-key and --insecure\n");
        return EXIT_USAGE;
    }
    int rc = check_listen("node --head", opts->head, true, false, host, sizeof host);
    if (rc >= 0)
        return rc;
    memset(head, 0, sizeof *head);
    if (slurm_node_keys(keys, head->public_txt, err, sizeof err) < 0) {
        fprintf(stderr, "troupe: node: --keys-from-env: %s\n", err);
        return EXIT_USAGE;
    }
    *keyed = true;
    return -1;
}

static int cmd_node(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "head", required_argument, NULL, 'H' },
        { "insecure", no_argument, NULL, 'I' },
        { "key", required_argument, NULL, 'K' },
        { "head-key", required_argument, NULL, 'P' },
        { "cores", required_argument, NULL, 'c' },
        { "name", required_argument, NULL, 'n' },
        { "keys-from-env", no_argument, NULL, 'E' },
        { "wait", required_argument, NULL, 'W' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    node_opts_t opts = { 0 };
    bool insecure = false, from_env = false;
    const char *key_file = NULL, *head_key_file = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'H': opts.head = optarg; break;
        case 'I': insecure = true; break;
        case 'K': key_file = optarg; break;
        case 'P': head_key_file = optarg; break;
        case 'n': opts.name = optarg; break;
        case 'E': from_env = true; break;
        case 'W':
            if (parse_seconds("wait", optarg, &opts.first_wait) != 0)
                return EXIT_USAGE;
            break;
        case 'v': opts.verbose++; break;
        case 'c': {
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 1 || v > 4096) {
                fprintf(stderr, "troupe: node: --cores: '%s' is not a number from 1 "
                        "to 4096\n", optarg);
                return EXIT_USAGE;
            }
            opts.cores = (unsigned)v;
            break;
        }
        case 'h': fputs(usage_node, stdout); return 0;
        default:
            fprintf(stderr, "troupe: unknown or incomplete option '%s'\n\n%s",
                    argv[optind - 1], usage_node);
            return EXIT_USAGE;
        }
    }
    if (optind != argc || !opts.head) {
        fprintf(stderr, "troupe: node: %s\n\n%s",
                opts.head ? "no arguments besides the options" : "which head? --head",
                usage_node);
        return EXIT_USAGE;
    }
    auth_keys_t keys, head;
    bool keyed;
    int rc = from_env ? node_env_keys(&opts, key_file || head_key_file || insecure, &keys,
                                      &head, &keyed)
                      : link_keys("node", opts.head, key_file, head_key_file, insecure,
                                  &keys, &head, &keyed);
    if (rc >= 0)
        return rc;
    if (keyed) {
        opts.keys = &keys;
        opts.head_public = head.public_txt;
    }
    rc = node_run(&opts);
    if (keyed)
        auth_keys_clear(&keys);
    return rc;
}

static const char *usage_top =
    "usage: troupe top [OPTIONS] [NAME | RUNDIR]\n"
    "\n"
    "A live view of a running pipeline: one row per actor instance with its\n"
    "node, pid, state, items in and out, rate, input batches held, output\n"
    "batches not yet acknowledged, failed items, restarts and CPU%. It reads\n"
    "what the run's supervisor publishes anyway, so watching costs the run\n"
    "nothing; q or Ctrl-C leaves, and the run goes on. When the run ends, its\n"
    "last view is printed and troupe top exits.\n"
    "\n"
    "Without NAME, the one run going on; NAME picks a run by its pipeline's\n"
    "name, RUNDIR by its run directory (troupe top --list shows both).\n"
    "\n"
    "options:\n"
    "  --once                one view as text, then exit (also when stdout is\n"
    "                        not a terminal)\n"
    "  --list                the runs going on: pipeline, supervisor pid, run\n"
    "                        directory\n"
    "  --head tcp://HOST:PORT  watch the run of a head on another machine,\n"
    "                        over its --listen endpoint\n"
    "  --key FILE            with --head: this side's secret certificate, on\n"
    "                        the head's --allow list (troupe keygen)\n"
    "  --head-key FILE       with --head: the head's public certificate\n"
    "  --insecure            with --head: a head listening without keys\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit codes: 0, 1 no such run (or it went silent), 2 a usage error or a\n"
    "NAME that several runs have.\n";

static int cmd_top(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "once", no_argument, NULL, 'o' },
        { "list", no_argument, NULL, 'l' },
        { "head", required_argument, NULL, 'H' },
        { "insecure", no_argument, NULL, 'I' },
        { "key", required_argument, NULL, 'K' },
        { "head-key", required_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    top_opts_t opts = { 0 };
    bool insecure = false;
    const char *key_file = NULL, *head_key_file = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': opts.once = true; break;
        case 'l': opts.list = true; break;
        case 'H': opts.head = optarg; break;
        case 'I': insecure = true; break;
        case 'K': key_file = optarg; break;
        case 'P': head_key_file = optarg; break;
        case 'h': fputs(usage_top, stdout); return 0;
        default:
            fprintf(stderr, "troupe: unknown or incomplete option '%s'\n\n%s",
                    argv[optind - 1], usage_top);
            return EXIT_USAGE;
        }
    }
    if (argc - optind > 1 || (opts.head && optind < argc)) {
        fprintf(stderr, "troupe: top: %s\n\n%s",
                opts.head ? "--head watches the head's run: no NAME besides it"
                          : "one NAME or RUNDIR at most",
                usage_top);
        return EXIT_USAGE;
    }
    opts.target = optind < argc ? argv[optind] : NULL;
    if (!opts.head) {
        if (key_file || head_key_file || insecure) {
            fprintf(stderr, "troupe: top: --key, --head-key and --insecure go with "
                    "--head\n");
            return EXIT_USAGE;
        }
        return top_run(&opts);
    }
    auth_keys_t keys, head;
    bool keyed;
    int rc = link_keys("top", opts.head, key_file, head_key_file, insecure, &keys, &head,
                       &keyed);
    if (rc >= 0)
        return rc;
    if (keyed) {
        opts.keys = &keys;
        opts.head_public = head.public_txt;
    }
    rc = top_run(&opts);
    if (keyed)
        auth_keys_clear(&keys);
    return rc;
}

static void print_module(const char *path, const char *name, void *arg)
{
    (void)arg;
    void *handle;
    char err[512];
    const troupe_module_t *mod = module_load(path, &handle, err, sizeof err);
    if (!mod) {
        printf("%-10s (cannot load: %s)\n", name, err);
        return;
    }
    printf("%-10s %s\n", name, mod->summary ? mod->summary : "");
    if (mod->args && *mod->args) {
        printf("%-10s args:", "");
        for (const char *const *a = mod->args; *a; a++)
            printf(" %s", *a);
        printf("\n");
    }
    dlclose(handle);
}

static int cmd_modules(void)
{
    if (module_each(print_module, NULL) == 0) {
        fprintf(stderr, "troupe: no modules found (set TROUPE_MODULE_PATH)\n");
        return 1;
    }
    return 0;
}

static int cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "force", no_argument, NULL, 'f' },
        { "name", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    keygen_opts_t opts = { 0 };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+fn:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': opts.force = true; break;
        case 'n': opts.name = optarg; break;
        case 'h': fputs(usage_keygen, stdout); return 0;
        default:
            fprintf(stderr, "troupe: unknown or incomplete option '%s'\n\n%s",
                    argv[optind - 1], usage_keygen);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "troupe: keygen: %s\n\n%s",
                optind >= argc ? "which NAME? e.g. troupe keygen keys/node1"
                               : "one NAME at a time",
                usage_keygen);
        return EXIT_USAGE;
    }
    opts.path = argv[optind];
    char public_txt[41], err[1024];
    if (keygen_write(&opts, public_txt, err, sizeof err) < 0) {
        /* what the user asked for cannot be done as asked: nothing was
           tried; anything else is a failure to write */
        bool usage = errno == EEXIST || errno == ENOENT || errno == ENOTDIR
                  || errno == EISDIR || errno == EINVAL;
        fprintf(stderr, "troupe: keygen: %s%s\n", err,
                errno == EEXIST ? " (--force replaces the pair)" : "");
        return usage ? EXIT_USAGE : 1;
    }
    printf("wrote %s (public) and %s_secret (secret, keep it private)\n"
           "public key: %s\n", opts.path, opts.path, public_txt);
    return 0;
}

int main(int argc, char **argv)
{
    /* czmq would install its own SIGINT/SIGTERM handlers on first use */
    zsys_handler_set(NULL);
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run_or_check(argc - 1, argv + 1, true, false);
    if (!strcmp(cmd, "check"))
        return cmd_run_or_check(argc - 1, argv + 1, false, false);
    if (!strcmp(cmd, "graph"))
        return cmd_run_or_check(argc - 1, argv + 1, false, true);
    if (!strcmp(cmd, "node"))
        return cmd_node(argc - 1, argv + 1);
    if (!strcmp(cmd, "top"))
        return cmd_top(argc - 1, argv + 1);
    if (!strcmp(cmd, "modules"))
        return cmd_modules();
    if (!strcmp(cmd, "keygen"))
        return cmd_keygen(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("troupe %d.%d.%d (module ABI %d)\n", TROUPE_VERSION_MAJOR,
               TROUPE_VERSION_MINOR, TROUPE_VERSION_PATCH, TROUPE_ABI_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_main, stdout);
        return 0;
    }
    fprintf(stderr, "troupe: unknown command '%s'\n\n%s", cmd, usage_main);
    return EXIT_USAGE;
}
