/* ct-tokenize: CLIP BPE ids of each UTF-8 line on stdin, space-separated, one line per input line.
 *   ct-tokenize [--vocab PATH] [--context]
 * Exit status: 0 ok, 1 usage error, 2 runtime error. */
#include "cliptrase.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: ct-tokenize [--vocab PATH] [--context]\n"
               "  reads UTF-8 lines from stdin and prints the CLIP BPE ids of each line\n"
               "  -V, --vocab PATH  bpe_simple_vocab_16e6.txt.gz or vocab.json (+ merges.txt beside it)\n"
               "                    (default weights/bpe_simple_vocab_16e6.txt.gz, else weights/vocab.json)\n"
               "  -c, --context     print the 77 tokens: start, ids, end, zero padding (cut to fit)\n"
               "  -h, --help        this text\n");
}

int main(int argc, char **argv) {
    const char *vocab = NULL;
    int context = 0;
    static const struct option opts[] = {{"vocab", required_argument, 0, 'V'}, {"context", no_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "V:ch", opts, NULL)) != -1) {
        if (c == 'V') vocab = optarg;
        else if (c == 'c') context = 1;
        else if (c == 'h') { usage(stdout); return 0; }
        else { usage(stderr); return 1; }
    }
    if (optind < argc) { fprintf(stderr, "ct-tokenize: unexpected argument '%s' (text is read from stdin)\n", argv[optind]); return 1; }
    if (!vocab) {
        FILE *f = fopen("weights/bpe_simple_vocab_16e6.txt.gz", "rb");
        vocab = f ? "weights/bpe_simple_vocab_16e6.txt.gz" : "weights/vocab.json";
        if (f) fclose(f);
    }
    ct_tokenizer *tok;
    ct_error err;
    if (ct_tokenizer_load(vocab, &tok, &err)) {
        fprintf(stderr, "ct-tokenize: %s (pass --vocab PATH)\n", err.msg);
        return 2;
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
            if (strlen(line) != (size_t)len) { fprintf(stderr, "ct-tokenize: NUL byte in input line\n"); rc = 2; break; }
            if (ct_tokenize_context(tok, line, t, 77, &cut, &err)) { fprintf(stderr, "ct-tokenize: %s\n", err.msg); rc = 2; break; }
            for (int i = 0; i < 77; i++) printf(i ? " %d" : "%d", t[i]);
            printf("\n");
            if (cut) fprintf(stderr, "ct-tokenize: line cut to 77 tokens\n");
            continue;
        }
        size_t n = 0;
        if (ct_tokenize(tok, line, (size_t)len, ids, idcap, &n, &err)) { fprintf(stderr, "ct-tokenize: %s\n", err.msg); rc = 2; break; }
        if (n > idcap) {
            free(ids);
            idcap = n;
            ids = malloc(idcap * sizeof *ids);
            if (!ids || ct_tokenize(tok, line, (size_t)len, ids, idcap, &n, &err)) { fprintf(stderr, "ct-tokenize: out of memory\n"); rc = 2; break; }
        }
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
    }
    free(ids);
    free(line);
    ct_tokenizer_free(tok);
    return rc;
}
