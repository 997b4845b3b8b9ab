/*  graph.c: `troupe graph FILE`: a pipeline as Graphviz DOT. One box per
    actor (its name, its module, how many instances), one edge per pair of
    actors a channel joins, labelled with the channel; broadcasts are
    dashed, keyed channels bold and labelled with their key ("words by
    value"). `dot -Tpng` draws it.
*/
#include "plan/graph.h"

#include <string.h>

/*  A DOT string: quotes and backslashes escaped, as the grammar asks. */
static void put_id(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void graph_write(const plan_t *p, FILE *out)
{
    fputs("digraph ", out);
    put_id(out, p->name);
    fputs(" {\n    rankdir=LR;\n"
          "    node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
          "    edge [fontname=\"Helvetica\", fontsize=10];\n",
          out);
    for (int a = 0; a < p->nactors; a++) {
        const plan_actor_t *x = &p->actors[a];
        const char *module = strrchr(x->module, '/') ? strrchr(x->module, '/') + 1
                                                     : x->module;
        char label[512];
        if (x->instances > 1)
            snprintf(label, sizeof label, "%s\\n%s x%u", x->name, module, x->instances);
        else
            snprintf(label, sizeof label, "%s\\n%s", x->name, module);
        fputs("    ", out);
        put_id(out, x->name);
        /* the label's \n is DOT's line break: written as it is, not escaped */
        fprintf(out, " [label=\"");
        for (const char *c = label; *c; c++) {
            if (*c == '"' || (*c == '\\' && c[1] != 'n'))
                fputc('\\', out);
            fputc(*c, out);
        }
        fprintf(out, "\"%s];\n",
                x->ninputs == 0 ? ", style=\"rounded,bold\""
                : x->noutputs == 0 ? ", style=\"rounded,filled\", fillcolor=\"#eeeeee\""
                                   : "");
    }
    for (int c = 0; c < p->nchans; c++) {
        const plan_chan_t *ch = &p->chans[c];
        for (int a = 0; a < p->nactors; a++)
            for (int o = 0; o < p->actors[a].noutputs; o++) {
                if (p->actors[a].outputs[o] != c)
                    continue;
                for (int b = 0; b < p->nactors; b++)
                    for (int i = 0; i < p->actors[b].ninputs; i++) {
                        if (p->actors[b].inputs[i] != c)
                            continue;
                        fputs("    ", out);
                        put_id(out, p->actors[a].name);
                        fputs(" -> ", out);
                        put_id(out, p->actors[b].name);
                        fputs(" [label=", out);
                        if (ch->mode == CHAN_KEYED) { /* "words by word" */
                            char label[256];
                            snprintf(label, sizeof label, "%s by %s", ch->name,
                                     ch->key ? ch->key : "value");
                            put_id(out, label);
                        }
                        else
                            put_id(out, ch->name);
                        fputs(ch->mode == CHAN_BROADCAST ? ", style=dashed]"
                              : ch->mode == CHAN_KEYED   ? ", style=bold]"
                                                         : "]",
                              out);
                        fputs(";\n", out);
                    }
            }
    }
    fputs("}\n", out);
}
