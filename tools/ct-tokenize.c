/* ct-tokenize: CLIP BPE ids of each UTF-8 line on stdin, space-separated, one line per input line.
 *   ct-tokenize [--vocab PATH] [--context]
 * Exit status: 0 ok, 1 usage error, 2 runtime error. */
#include "cliptrase.h"
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: %s [--vocab PATH] [--context]\n"
               "  reads UTF-8 lines from stdin and prints the CLIP BPE ids of each line\n"
               "  -V, --vocab PATH  bpe_simple_vocab_16e6.txt.gz or vocab.json (+ merges.txt beside it)\n"
               "                    (default: bpe_simple_vocab_16e6.txt.gz, else vocab.json, in the first data\n"
               "                    directory that has it: $CT_DATA_DIR, $XDG_DATA_HOME/cliptrase,\n"
               "                    <prefix>/share/cliptrase, ./weights)\n"
               "  -c, --context     print the 77 tokens: start, ids, end, zero padding (cut to fit)\n"
               "  -h, --help        this text\n"
               "Exit status: 0 ok, 1 usage error, 2 runtime error (including a failed write to stdout).\n",
            tool_name);
}

int main(int argc, char **argv) {
    tool_init(argv[0], "ct-tokenize");
    const char *vocab = NULL;
    char *found = NULL;
    int context = 0;
    static const struct option opts[] = {{"vocab", required_argument, 0, 'V'}, {"context", no_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":V:ch", opts, NULL)) != -1) {
        if (c == 'V') vocab = optarg;
        else if (c == 'c') context = 1;
        else if (c == 'h') { usage(stdout); return close_stdout(); }
        else return opts_getopt_error(c, argv);
    }
    if (optind < argc) return usage_error("unexpected argument '%s' (text is read from stdin)", argv[optind]);
    if (!vocab && !(found = data_find("bpe_simple_vocab_16e6.txt.gz")) && !(found = data_find("vocab.json")))
        return runtime_error("no vocabulary in the data directories: pass --vocab PATH");
    if (!vocab) vocab = found;
    ct_tokenizer *tok;
    ct_error err;
    if (ct_tokenizer_load(vocab, &tok, &err)) {
        free(found);
        return runtime_error("%s (pass --vocab PATH)", err.msg);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    size_t idcap = 256;
    int32_t *ids = malloc(idcap * sizeof *ids);
    while (ids && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if (len > 0 && line[len - 1] == '\r') line[--len] = 0;
        if (context) {
            int32_t t[77];
            int cut = 0;
            if (strlen(line) != (size_t)len) { rc = runtime_error("NUL byte in input line"); break; }
            if (ct_tokenize_context(tok, line, t, 77, &cut, &err)) { rc = runtime_error("%s", err.msg); break; }
            for (int i = 0; i < 77; i++) printf(i ? " %d" : "%d", t[i]);
            printf("\n");
            if (cut) warn("line cut to 77 tokens");
            continue;
        }
        size_t n = 0;
        if (ct_tokenize(tok, line, (size_t)len, ids, idcap, &n, &err)) { rc = runtime_error("%s", err.msg); break; }
        if (n > idcap) {
            free(ids);
            idcap = n;
            ids = malloc(idcap * sizeof *ids);
            if (!ids || ct_tokenize(tok, line, (size_t)len, ids, idcap, &n, &err)) { rc = runtime_error("out of memory"); break; }
        }
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        if (ferror(stdout)) break; /* reported by close_stdout */
    }
    if (!ids && !rc) rc = runtime_error("out of memory");
    free(ids);
    free(line);
    free(found);
    ct_tokenizer_free(tok);
    int r2 = close_stdout();
    return rc ? rc : r2;
}
