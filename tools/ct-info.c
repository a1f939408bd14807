/* ct-info: load a checkpoint (and optionally a vocabulary) and print what was derived.
 *   ct-info MODEL.safetensors [--vocab PATH] [--check-finite]
 * Exit status: 0 loads, 1 usage error, 2 does not load (the message says why). */
#include "cliptrase.h"

#include <getopt.h>
#include <stdio.h>

int main(int argc, char **argv) {
    const char *vocab = NULL;
    ct_load_params lp = {0};
    static const struct option opts[] = {{"vocab", required_argument, 0, 'V'}, {"check-finite", no_argument, 0, 'f'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "V:fh", opts, NULL)) != -1) {
        if (c == 'V') vocab = optarg;
        else if (c == 'f') lp.check_finite = 1;
        else if (c == 'h') { printf("usage: ct-info MODEL.safetensors [--vocab PATH] [--check-finite]\n"); return 0; }
        else return 1;
    }
    if (optind != argc - 1) { fprintf(stderr, "usage: ct-info MODEL.safetensors [--vocab PATH] [--check-finite]\n"); return 1; }
    ct_error err;
    ct_model *m;
    if (ct_model_load_ex(argv[optind], &lp, &m, &err)) { fprintf(stderr, "ct-info: %s\n", err.msg); return 2; }
    char d[512];
    ct_config_describe(ct_model_config(m), d, sizeof d);
    printf("%s: %s\n", argv[optind], d);
    ct_model_free(m);
    if (vocab) {
        ct_tokenizer *t;
        if (ct_tokenizer_load(vocab, &t, &err)) { fprintf(stderr, "ct-info: %s\n", err.msg); return 2; }
        printf("%s: %d tokens\n", vocab, ct_tokenizer_vocab_size(t));
        ct_tokenizer_free(t);
    }
    return 0;
}
