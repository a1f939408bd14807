/* Tokenizer: every oracle case (both vocabulary formats) must match the reference ids exactly;
 * round trips; malformed vocabularies give errors, not crashes. */
#include "harness.h"
#include "io/json.h"

#include <unistd.h>

static ct_tokenizer *tok_gz, *tok_hf;
static char path_gz[512], path_vocab[512], path_merges[512];

static void load_both(void) {
    ct_error err;
    snprintf(path_gz, sizeof path_gz, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    snprintf(path_vocab, sizeof path_vocab, "%s/vocab.json", oracle_dir());
    snprintf(path_merges, sizeof path_merges, "%s/merges.txt", oracle_dir());
    if (!file_exists(path_gz)) SKIP("oracle vocabulary not found at %s (set CT_ORACLE_DIR)", path_gz);
    CHECK(ct_tokenizer_load(path_gz, &tok_gz, &err) == CT_OK, "load gz: %s", err.msg);
    CHECK(ct_tokenizer_load(path_vocab, &tok_hf, &err) == CT_OK, "load hf: %s", err.msg);
    if (tok_gz) CHECK(ct_tokenizer_vocab_size(tok_gz) == 49408, "vocab size %d", ct_tokenizer_vocab_size(tok_gz));
    if (tok_hf) CHECK(ct_tokenizer_vocab_size(tok_hf) == 49408, "vocab size %d", ct_tokenizer_vocab_size(tok_hf));
}

/* every line of tokenizer_cases.jsonl, with both vocabularies: exact ids */
static void oracle_cases(void) {
    if (!tok_gz || !tok_hf) SKIP("vocabularies not loaded");
    char p[512];
    snprintf(p, sizeof p, "%s/tokenizer_cases.jsonl", oracle_dir());
    char *all = slurp(p, NULL);
    if (!all) SKIP("%s not found", p);
    int n = 0, bad = 0;
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        ct_json *j = ct_json_parse(line, strlen(line), NULL, 0);
        CHECK(j != NULL, "bad jsonl line");
        if (!j) continue;
        const ct_json *text = ct_json_get(j, "text"), *ids = ct_json_get(j, "ids");
        for (int v = 0; v < 2; v++) {
            int32_t got[4096];
            size_t ng = 0;
            ct_error err;
            ct_status st = ct_tokenize(v ? tok_hf : tok_gz, text->str, text->len, got, 4096, &ng, &err);
            int same = st == CT_OK && ng == ids->n;
            for (size_t i = 0; same && i < ng; i++) same = got[i] == ids->items[i].i;
            if (!same && bad++ < 10) {
                printf("  mismatch (%s) for \"%s\": got", v ? "hf" : "gz", text->str);
                for (size_t i = 0; i < ng && i < 20; i++) printf(" %d", got[i]);
                printf(" want");
                for (size_t i = 0; i < ids->n && i < 20; i++) printf(" %lld", (long long)ids->items[i].i);
                printf("\n");
            }
        }
        n++;
        ct_json_free(j);
    }
    free(all);
    CHECK(bad == 0, "%d of %d cases (x2 formats) differ", bad, n);
    CHECK(n > 1000, "only %d cases read", n);
    printf("  %d oracle cases, both formats, exact\n", n);
}

static void oracle_context(void) {
    if (!tok_gz || !tok_hf) SKIP("vocabularies not loaded");
    char p[512];
    snprintf(p, sizeof p, "%s/tokenizer_context.jsonl", oracle_dir());
    char *all = slurp(p, NULL);
    if (!all) SKIP("%s not found", p);
    int n = 0;
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        ct_json *j = ct_json_parse(line, strlen(line), NULL, 0);
        if (!j) { CHECK(0, "bad jsonl"); continue; }
        const ct_json *text = ct_json_get(j, "text"), *toks = ct_json_get(j, "tokens");
        for (int v = 0; v < 2; v++) {
            int32_t got[77];
            int cut = -1;
            ct_error err;
            CHECK(ct_tokenize_context(v ? tok_hf : tok_gz, text->str, got, 77, &cut, &err) == CT_OK, "%s", err.msg);
            int same = toks->n == 77;
            for (int i = 0; same && i < 77; i++) same = got[i] == toks->items[i].i;
            CHECK(same, "context mismatch for '%.40s'", text->str);
            size_t nids = 0;
            ct_tokenize(tok_gz, text->str, strlen(text->str), NULL, 0, &nids, &err);
            CHECK(cut == (nids + 2 > 77), "truncation flag %d for %zu ids", cut, nids);
        }
        n++;
        ct_json_free(j);
    }
    free(all);
    CHECK(n == 4, "read %d context cases", n);
}

static void roundtrip(void) {
    if (!tok_gz) SKIP("vocabulary not loaded");
    const char *texts[] = {"a photo of a cat.", "the quick brown fox jumps over the lazy dog", "café au lait",
                           "東京タワー", "rock'n'roll 3.14159", "🐱 emoji"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t ids[256];
        size_t n = 0;
        ct_error err;
        CHECK(ct_tokenize(tok_gz, texts[i], strlen(texts[i]), ids, 256, &n, &err) == CT_OK, "%s", err.msg);
        char out[512];
        size_t len = ct_detokenize(tok_gz, ids, n, out, sizeof out);
        /* BPE words join with single spaces: "3.14159" -> "3 . 1 4 1 5 9" is not a round trip, so
         * compare with spaces removed */
        char a[512], b[512];
        size_t na = 0, nb = 0;
        for (const char *s = texts[i]; *s; s++) if (*s != ' ') a[na++] = *s;
        for (size_t k = 0; k < len; k++) if (out[k] != ' ') b[nb++] = out[k];
        a[na] = b[nb] = 0;
        CHECK(!strcmp(a, b), "round trip '%s' -> '%s'", texts[i], out);
    }
    /* the decoder reports the full length even when the buffer is small */
    int32_t ids[8];
    size_t n = 0;
    ct_tokenize(tok_gz, "hello world", 11, ids, 8, &n, NULL);
    char small[4];
    size_t need = ct_detokenize(tok_gz, ids, n, small, sizeof small);
    CHECK(need == 11 && strlen(small) == 3, "need %zu, wrote '%s'", need, small);
}

static void invalid_utf8(void) {
    if (!tok_gz) SKIP("vocabulary not loaded");
    const char bad[] = "caf\xc3 \xff\xfe dog \xe2\x82";
    int32_t ids[64];
    size_t n = 0;
    ct_error err;
    CHECK(ct_tokenize(tok_gz, bad, sizeof bad - 1, ids, 64, &n, &err) == CT_OK, "%s", err.msg);
    CHECK(n > 0, "no ids");
    /* U+FFFD replacement: same ids as the text with the replacement character spelled out */
    const char rep[] = "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd dog \xef\xbf\xbd";
    int32_t ids2[64];
    size_t n2 = 0;
    ct_tokenize(tok_gz, rep, sizeof rep - 1, ids2, 64, &n2, &err);
    CHECK(n == n2 && !memcmp(ids, ids2, n * 4), "replacement differs");
}

static void write_file(const char *p, const void *d, size_t n) {
    FILE *f = fopen(p, "wb");
    if (f) { fwrite(d, 1, n, f); fclose(f); }
}

static void malformed_vocab(void) {
    ct_error err;
    ct_tokenizer *t = NULL;
    char dir[] = "/tmp/ct_tok_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char p[600], q[600];
    /* truncated gzip */
    size_t len = 0;
    char *gz = file_exists(path_gz) ? slurp(path_gz, &len) : NULL;
    if (gz) {
        snprintf(p, sizeof p, "%s/trunc.txt.gz", dir);
        write_file(p, gz, len / 2);
        CHECK(ct_tokenizer_load(p, &t, &err) == CT_ERR_FORMAT && t == NULL, "truncated gzip: %s", err.msg);
        printf("  truncated gzip: %s\n", err.msg);
        /* flipped byte in the middle: checksum or inflate error */
        gz[len / 2] ^= 0x55;
        write_file(p, gz, len);
        CHECK(ct_tokenizer_load(p, &t, &err) != CT_OK && t == NULL, "corrupt gzip accepted");
        free(gz);
    }
    /* too few merges (plain text) */
    snprintf(p, sizeof p, "%s/few.txt", dir);
    write_file(p, "#version: 0.2\ni n\nt h\n", 22);
    CHECK(ct_tokenizer_load(p, &t, &err) == CT_ERR_FORMAT, "few merges: %s", err.msg);
    printf("  few merges: %s\n", err.msg);
    /* bad JSON */
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    snprintf(q, sizeof q, "%s/merges.txt", dir);
    write_file(p, "{\"a\": 0, \"b\": ", 13);
    write_file(q, "#version: 0.2\na b\n", 18);
    CHECK(ct_tokenizer_load(p, &t, &err) == CT_ERR_FORMAT, "bad json: %s", err.msg);
    printf("  bad json: %s\n", err.msg);
    /* missing merges file */
    remove(q);
    CHECK(ct_tokenizer_load(p, &t, &err) == CT_ERR_IO, "missing merges: %s", err.msg);
    /* merges that disagree with the vocabulary */
    if (file_exists(path_vocab)) {
        write_file(q, "#version: 0.2\nzz qq\n", 20);
        CHECK(ct_tokenizer_load_hf(path_vocab, q, &t, &err) == CT_ERR_FORMAT, "disagreeing merges: %s", err.msg);
        printf("  disagreeing merges: %s\n", err.msg);
    }
    /* invalid UTF-8 in merges */
    write_file(q, "#version: 0.2\n\xff\xfe x\n", 19);
    if (file_exists(path_vocab)) CHECK(ct_tokenizer_load_hf(path_vocab, q, &t, &err) == CT_ERR_FORMAT, "bad utf8: %s", err.msg);
    CHECK(ct_tokenizer_load("/nonexistent/vocab.txt.gz", &t, &err) == CT_ERR_IO, "missing file");
    CHECK(ct_tokenizer_load(NULL, &t, &err) == CT_ERR_INVALID_ARG, "NULL path");
    CHECK(t == NULL, "output touched on failure");
    remove(p); remove(q);
    snprintf(p, sizeof p, "%s/trunc.txt.gz", dir); remove(p);
    snprintf(p, sizeof p, "%s/few.txt", dir); remove(p);
    rmdir(dir);
}

int main(void) {
    RUN(load_both);
    RUN(oracle_cases);
    RUN(oracle_context);
    RUN(roundtrip);
    RUN(invalid_utf8);
    RUN(malformed_vocab);
    ct_tokenizer_free(tok_gz);
    ct_tokenizer_free(tok_hf);
    DONE();
}
