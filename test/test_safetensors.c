/* Safetensors loader and model binding: hostile or broken files give a status and a message that
 * names the problem (and the tensor), never a crash; outputs stay untouched on failure. */
#include "harness.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[600];

static void write_st(const char *hdr, const void *data, size_t dlen) {
    FILE *f = fopen(tmp, "wb");
    uint64_t n = strlen(hdr);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(n >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(hdr, 1, n, f);
    if (dlen) fwrite(data, 1, dlen, f);
    fclose(f);
}

static void write_bytes(const void *d, size_t n) {
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

static ct_status parse(const char *hdr, size_t dlen, ct_error *err) {
    static uint8_t zeros[4096];
    write_st(hdr, zeros, dlen);
    ct_st_file f;
    ct_status st = ct_st_open(tmp, &f, err);
    if (!st) ct_st_close(&f);
    return st;
}

static void header_validation(void) {
    ct_error err;
    struct { const char *hdr; size_t dlen; ct_status want; const char *msg; } c[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, CT_OK, ""},
        {"{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}}", 6, CT_OK, ""},
        {"[1,2]", 0, CT_ERR_FORMAT, "not a JSON object"},
        {"{\"a\":", 0, CT_ERR_FORMAT, "JSON"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, CT_ERR_UNSUPPORTED, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,32]}}", 16, CT_ERR_FORMAT, "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16, CT_ERR_FORMAT, "need 16"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, CT_ERR_FORMAT, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}", 8, CT_ERR_FORMAT, "overflow"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, CT_ERR_FORMAT, "duplicate"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8, CT_ERR_FORMAT, "shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, CT_ERR_FORMAT, "data_offsets"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, CT_ERR_FORMAT, "lacks"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        ct_status st = parse(c[i].hdr, c[i].dlen, &err);
        CHECK(st == c[i].want, "case %zu: status %s (%s), want %s", i, ct_status_str(st), err.msg, ct_status_str(c[i].want));
        if (c[i].want) CHECK(strstr(err.msg, c[i].msg) != NULL, "case %zu: message '%s' lacks '%s'", i, err.msg, c[i].msg);
    }
    /* empty file, absurd and past-the-end header lengths */
    write_bytes("", 0);
    ct_st_file sf;
    CHECK(ct_st_open(tmp, &sf, &err) == CT_ERR_FORMAT, "empty: %s", err.msg);
    uint8_t big[10] = {0, 0, 0, 0x40, 0, 0, 0, 0, '{', '}'}; /* 1 GiB header */
    write_bytes(big, sizeof big);
    CHECK(ct_st_open(tmp, &sf, &err) == CT_ERR_FORMAT && strstr(err.msg, "not a safetensors file") && strstr(err.msg, "limit"),
          "absurd header: %s", err.msg);
    uint8_t past[10] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    write_bytes(past, sizeof past);
    CHECK(ct_st_open(tmp, &sf, &err) == CT_ERR_FORMAT && strstr(err.msg, "past the end"), "past end: %s", err.msg);
    CHECK(ct_st_open("/nonexistent.safetensors", &sf, &err) == CT_ERR_IO, "missing file");
    remove(tmp);
}

static void model_errors_name_tensor(void) {
    ct_error err;
    ct_model *m = (ct_model *)0x1;
    write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "\0\0\0\0\0\0\0\0", 8);
    CHECK(ct_model_load(tmp, &m, &err) == CT_ERR_MISSING && m == (ct_model *)0x1, "not CLIP: %s", err.msg);
    CHECK(strstr(err.msg, "visual.conv1.weight") != NULL, "message names the expected tensor: %s", err.msg);
    /* a real fixture with one tensor renamed or reshaped */
    char p[600];
    FMT(p, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    size_t len;
    char *buf = slurp(p, &len);
    if (!buf) { remove(tmp); SKIP("tiny fixture not found under %s", oracle_dir()); }
    char *k = strstr(buf + 8, "visual.ln_post.bias");
    CHECK(k != NULL, "fixture layout");
    if (k) {
        k[7] = 'X'; /* visual.lX_post.bias */
        write_bytes(buf, len);
        CHECK(ct_model_load(tmp, &m, &err) == CT_ERR_MISSING && strstr(err.msg, "visual.ln_post.bias"), "missing tensor: %s", err.msg);
        printf("  %s\n", err.msg);
        k[7] = 'l';
    }
    /* wrong shape: the text projection's dimensions swapped in the header (same byte size) */
    char *s = strstr(buf + 8, "\"text_projection\":{\"dtype\":\"F32\",\"shape\":[64,32]");
    if (s) {
        memcpy(strstr(s, "[64,32]"), "[32,64]", 7);
        write_bytes(buf, len);
        CHECK(ct_model_load(tmp, &m, &err) == CT_ERR_SHAPE && strstr(err.msg, "text_projection"), "wrong shape: %s", err.msg);
        printf("  %s\n", err.msg);
        memcpy(strstr(s, "[32,64]"), "[64,32]", 7);
    } else printf("  (header spacing differs; wrong-shape case not built)\n");
    /* NaN weights reported on request */
    char *cls = strstr(buf + 8, "\"visual.class_embedding\"");
    if (cls) {
        char *off = strstr(cls, "data_offsets\":[");
        long b0 = off ? strtol(off + 15, NULL, 10) : -1;
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = (hl << 8) | (uint8_t)buf[i];
        if (b0 >= 0) {
            float nan = NAN;
            memcpy(buf + 8 + hl + b0, &nan, 4);
            write_bytes(buf, len);
            ct_load_params lp;
            ct_load_params_default(&lp);
            lp.check_finite = 1;
            CHECK(ct_model_load_ex(tmp, &lp, &m, &err) == CT_ERR_NONFINITE && strstr(err.msg, "visual.class_embedding"), "nan: %s", err.msg);
            CHECK(ct_model_load(tmp, &m, &err) == CT_OK, "NaN accepted without the check: %s", err.msg);
            if (m != (ct_model *)0x1) ct_model_free(m);
        }
    }
    free(buf);
    remove(tmp);
}

/* Files that are not safetensors are named as such, with what they look like (issue 11, item 19:
 * a PNG given as a model used to report a header length of 727905341920923785) */
static void not_safetensors(void) {
    static const struct { const char *bytes; size_t n; const char *like; } c[] = {
        {"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "PNG"},
        {"PK\x03\x04\x14\0\0\0\0\0", 10, "zip"},
        {"\x80\x02}q\0(X\x05\0\0\0", 12, "pickle"},
        {"\x1f\x8b\x08\0\0\0\0\0\0\x03", 10, "gzip"},
        {"{\"a\": 1}\n          ", 20, "JSON"},
        {"\xff\xd8\xff\xe0\0\x10JFIF\0", 11, "JPEG"},
        {"hello world, this is text", 25, NULL},
    };
    for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
        write_bytes(c[k].bytes, c[k].n);
        ct_model *m = (ct_model *)0x1;
        ct_error err;
        CHECK(ct_model_load(tmp, &m, &err) == CT_ERR_FORMAT && strstr(err.msg, "not a safetensors file") && m == (ct_model *)0x1 &&
                  (!c[k].like || strstr(err.msg, c[k].like)),
              "case %zu: %s", k, err.msg);
        if (!k) printf("  %s\n", err.msg);
    }
    /* too short, a header that is not a JSON object, a directory, a FIFO (must not block) */
    write_bytes("\x05\0\0", 3);
    ct_st_file sf;
    ct_error err;
    CHECK(ct_st_open(tmp, &sf, &err) == CT_ERR_FORMAT && strstr(err.msg, "not a safetensors file"), "short: %s", err.msg);
    write_bytes("\x04\0\0\0\0\0\0\0[1] ", 12);
    CHECK(ct_st_open(tmp, &sf, &err) == CT_ERR_FORMAT && strstr(err.msg, "not a JSON object"), "array header: %s", err.msg);
    CHECK(ct_st_open(t_tmpdir(), &sf, &err) == CT_ERR_IO && strstr(err.msg, "directory"), "directory: %s", err.msg);
    char fifo[700];
    FMT(fifo, "%s/fifo", t_tmpdir());
    if (mkfifo(fifo, 0600) == 0) CHECK(ct_st_open(fifo, &sf, &err) == CT_ERR_IO && strstr(err.msg, "regular"), "fifo: %s", err.msg);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "%s/st_test.safetensors", t_tmpdir());
    RUN(header_validation);
    RUN(not_safetensors);
    RUN(model_errors_name_tensor);
    DONE();
}
