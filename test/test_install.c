/* make install into a temporary prefix, then the example program builds with pkg-config alone
 * and runs against a fixture; make uninstall removes every installed file. */
#include "harness.h"

#include <sys/wait.h>

#define P "/tmp/ct_install_test"

static int sh(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void install_and_example(void) {
    if (sh("command -v pkg-config >/dev/null") != 0) SKIP("pkg-config not installed");
    sh("rm -rf " P);
    CHECK(sh("make -s install PREFIX=" P " >" P ".log 2>&1") == 0, "make install failed (see " P ".log)");
    CHECK(file_exists(P "/lib/libcliptrase.a") && file_exists(P "/include/cliptrase.h") && file_exists(P "/lib/pkgconfig/cliptrase.pc") &&
              file_exists(P "/bin/cliptrase-demo") && file_exists(P "/bin/ct-eval"), "installed files");
    CHECK(sh("PKG_CONFIG_PATH=" P "/lib/pkgconfig cc -std=c11 -Wall -Werror examples/segment.c $(PKG_CONFIG_PATH=" P
             "/lib/pkgconfig pkg-config --cflags --libs cliptrase) -o " P "/segment") == 0, "example does not build with pkg-config");
    char vcmd[256];
    FMT(vcmd, "LD_LIBRARY_PATH=" P "/lib " P "/segment | grep -q '^libcliptrase %d.%d.%d$'", CT_VERSION_MAJOR, CT_VERSION_MINOR, CT_VERSION_PATCH);
    CHECK(sh(vcmd) == 0, "example prints the version");
    char cmd[2048], model[600], vocab[600], img[600];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(vocab, "%s/vocab.json", oracle_dir());
    FMT(img, "%s/tiny_f32_openai/crop64/image.png", oracle_dir());
    if (file_exists(model)) {
        FMT(cmd, "LD_LIBRARY_PATH=" P "/lib " P "/segment '%s' '%s' '%s' cat dog | awk '{s += $2} END {exit !(NR == 2 && s > 0.999 && s < 1.001)}'", model, vocab, img);
        CHECK(sh(cmd) == 0, "example segments the fixture image (shares sum to 1)");
    }
    CHECK(sh("make -s uninstall PREFIX=" P " >/dev/null 2>&1") == 0, "make uninstall");
    CHECK(sh("test -z \"$(find " P " -type f ! -name segment)\"") == 0, "files left after uninstall");
    sh("rm -rf " P " " P ".log");
}

/* tools/fetch-weights.sh against a local mirror (file:// endpoint): downloads, validates by
 * loading, refuses a truncated model, and explains a failed download. */
static void fetch_weights_script(void) {
    char model[600], cmd[4096];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    if (!file_exists(model)) SKIP("tiny fixture not found under %s", oracle_dir());
    if (sh("command -v curl >/dev/null || command -v wget >/dev/null") != 0) SKIP("neither curl nor wget");
    const char *mirror = P "/mirror/openai/clip-vit-base-patch32/resolve/main";
    FMT(cmd, "rm -rf " P " && mkdir -p %s && cp '%s' %s/model.safetensors && cp '%s/vocab.json' '%s/merges.txt' %s/", mirror, model, mirror,
        oracle_dir(), oracle_dir(), mirror);
    CHECK(sh(cmd) == 0, "mirror setup");
    CHECK(sh("WEIGHTS_DIR=" P "/w HF_ENDPOINT=file://" P "/mirror tools/fetch-weights.sh b32 >" P "/log 2>&1") == 0, "download and validate");
    CHECK(sh("grep -q '^ok: ' " P "/log") == 0, "reports ok");
    /* a truncated download is detected by loading it */
    CHECK(sh("truncate -s 1000 " P "/w/clip-vit-base-patch32.safetensors && WEIGHTS_DIR=" P "/w HF_ENDPOINT=file://" P
             "/mirror tools/fetch-weights.sh b32 >" P "/log 2>&1") == 2, "truncated model accepted");
    CHECK(sh("grep -q 'does not load' " P "/log") == 0, "says the model does not load");
    CHECK(sh("WEIGHTS_DIR=" P "/w2 HF_ENDPOINT=file://" P "/nowhere tools/fetch-weights.sh b16 >" P "/log 2>&1") == 2, "failed download exits 2");
    CHECK(sh("grep -q 'download these' " P "/log") == 0, "explains what to do without network");
    CHECK(sh("tools/fetch-weights.sh nosuch >/dev/null 2>&1") == 1, "unknown name exits 1");
    sh("rm -rf " P);
}

/* docs/api.md documents every function the public header declares */
static void api_documented(void) {
    if (!file_exists("docs/api.md")) SKIP("docs/api.md not in this tree");
    CHECK(sh("for f in $(grep -o '\\bct_[a-z0-9_]*(' include/cliptrase.h | sort -u | tr -d '('); do "
             "grep -q \"$f\" docs/api.md || { echo \"  undocumented: $f\"; exit 1; }; done") == 0,
          "a public function is missing from docs/api.md");
}

int main(void) {
    RUN(api_documented);
    RUN(install_and_example);
    RUN(fetch_weights_script);
    DONE();
}
