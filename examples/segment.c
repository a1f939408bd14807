/* A minimal program against the installed library; builds with pkg-config alone:
 *   cc segment.c $(pkg-config --cflags --libs cliptrase) -o segment
 *   ./segment MODEL VOCAB IMAGE name1 [name2 ...]
 * Prints the share of the picture each name covers. Without arguments it prints the version.
 * The input size is the demo's default: the paper's 336 rounded to the model's patch (336 for
 * ViT-B/16 and L/14, 352 for B/32). */
#include <cliptrase.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 5) {
        printf("libcliptrase %s\n", ct_version());
        return argc == 1 ? 0 : 1;
    }
    ct_error e = {CT_OK, ""};
    ct_model *m = NULL;
    ct_tokenizer *t = NULL;
    ct_image *img = NULL;
    float *px = NULL, *emb = NULL; /* px: the library's (ct_free); emb: ours (free) */
    int32_t *labels = NULL;
    int H, W, n = argc - 4, rc = 1;
    if (ct_model_load(argv[1], &m, &e) || ct_tokenizer_load(argv[2], &t, &e) || ct_image_load(argv[3], &img, &e)) goto fail;
    const ct_config *c = ct_model_config(m);
    int size = ct_round_size(CT_DEFAULT_SIZE, c->patch);
    emb = malloc(sizeof(float) * (size_t)n * (size_t)c->embed_dim);
    if (!emb) { snprintf(e.msg, sizeof e.msg, "out of memory for %d class embeddings", n); goto fail; }
    if (ct_class_embeddings(m, t, (const char *const *)argv + 4, n, NULL, 0, 0, emb, &e)) goto fail;
    if (ct_preprocess(img, size, 0, c->patch, &px, &H, &W, &e)) goto fail;
    labels = malloc(sizeof(int32_t) * (size_t)H * (size_t)W);
    if (!labels) { snprintf(e.msg, sizeof e.msg, "out of memory for a %d x %d label map", W, H); goto fail; }
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    if (ct_segment(m, px, H, W, emb, n, NULL, &sp, labels, NULL, &e)) goto fail;
    for (int k = 0; k < n; k++) {
        size_t cnt = 0;
        for (size_t i = 0; i < (size_t)H * W; i++) cnt += labels[i] == k;
        printf("%s\t%.4f\n", argv[4 + k], (double)cnt / ((double)H * W));
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "segment: %s\n", e.msg);
done:
    free(labels);
    free(emb);
    ct_free(px);
    ct_image_free(img);
    ct_tokenizer_free(t);
    ct_model_free(m);
    return rc;
}
