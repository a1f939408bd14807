/* ct-info: load a checkpoint (and optionally a vocabulary) and print what was derived.
 *   ct-info MODEL.safetensors [--vocab PATH] [--check-finite] [--precision fp32|bf16]
 * Exit status: 0 loads, 1 usage error, 2 does not load (the message says why) or stdout fails. */
#include "cliptrase.h"
#include "common.h"

#include <getopt.h>
#include <stdio.h>

static void usage(FILE *f) {
    fprintf(f, "usage: %s MODEL.safetensors [--vocab PATH] [--check-finite] [--precision fp32|bf16]\n"
               "  prints the architecture derived from the checkpoint (sizes from its tensor shapes; heads,\n"
               "  MLP activation and layer-norm eps from its configuration: the header's metadata,\n"
               "  open_clip_config.json or config.json beside it, else OpenAI's rule; and where each came\n"
               "  from), and how this CPU runs it\n"
               "  -V, --vocab PATH    also load a vocabulary and print its size\n"
               "  -f, --check-finite  refuse weights holding NaN or Inf\n"
               "      --precision P   fp32 or bf16 (default: $CT_PRECISION, $CT_KERNEL, else fp32)\n"
               "  then one line per matrix kernel compiled in: its id (for $CT_KERNEL), precision, and\n"
               "  its label or why this CPU does not run it\n", tool_name);
    fputs("Exit status: 0 loads, 1 usage error, 2 does not load or the output cannot be written.\n", f);
}

int main(int argc, char **argv) {
    tool_init(argv[0], "ct-info");
    tool_opts o;
    opts_init(&o);
    const char *vocab = NULL;
    int check_finite = 0;
    static const struct option opts[] = {{"vocab", required_argument, 0, 'V'}, {"check-finite", no_argument, 0, 'f'},
                                         {"precision", required_argument, 0, 'p'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":V:fh", opts, NULL)) != -1) {
        if (c == 'V') vocab = optarg;
        else if (c == 'f') check_finite = 1;
        else if (c == 'p') {
            ct_precision p;
            if (ct_precision_parse(optarg, &p, NULL)) return usage_error("--precision needs fp32 or bf16, not '%s'", optarg);
            o.precision = optarg;
        } else if (c == 'h') { usage(stdout); return close_stdout(); }
        else return opts_getopt_error(c, argv);
    }
    if (optind != argc - 1) return usage_error("give one MODEL.safetensors");
    ct_load_params lp;
    int rc = opts_load_params(&o, &lp);
    if (rc) return rc;
    lp.check_finite = check_finite;
    ct_error err;
    ct_model *m;
    if (ct_model_load_ex(argv[optind], &lp, &m, &err)) return runtime_error("%s", err.msg);
    warn_random(m, argv[optind]);
    char d[1024];
    ct_model_describe(m, d, sizeof d); /* the architecture, then how this CPU runs it */
    printf("%s: %s\n", argv[optind], d);
    ct_model_free(m);
    const char *id, *note;
    ct_precision kp;
    int runs;
    for (int i = 0; (id = ct_kernel_id(i, &kp, &runs, &note)); i++)
        printf("kernel %-14s %s  %s%s\n", id, ct_precision_name(kp), runs ? "" : "not on this CPU: ", note);
    if (vocab) {
        ct_tokenizer *t;
        if (ct_tokenizer_load(vocab, &t, &err)) {
            close_stdout();
            return runtime_error("%s", err.msg);
        }
        printf("%s: %d tokens\n", vocab, ct_tokenizer_vocab_size(t));
        ct_tokenizer_free(t);
    }
    return close_stdout();
}
