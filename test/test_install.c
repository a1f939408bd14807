/* make install into a private prefix, then everything a user of the installed library does:
 *   - the installed files: sealed static library, shared library with its soname and link, the
 *     header (identical to include/cliptrase.h), cliptrase.pc, every tool;
 *   - nm on the INSTALLED static and shared libraries lists exactly the header's functions
 *     (test/check-symbols.sh on the installed files);
 *   - the tools compile out of tree against the installed header alone: the C files of tools/
 *     and tools/common/ are copied away from the source tree (no include/ or lib/ beside them),
 *     compiled with `pkg-config --cflags cliptrase`, and every one with a main() is linked twice,
 *     with `pkg-config --libs cliptrase` (shared) and with `pkg-config --static --libs cliptrase`
 *     against libcliptrase.a; the dynamic section shows which library each one uses; ct-info
 *     runs both ways with the same output;
 *   - examples/segment.c builds and segments the fixture image both ways, with equal output;
 *   - README.md's "Install and link" block runs line by line exactly as written, with HOME in a
 *     fresh folder (PREFIX=$HOME/.local), in a folder holding examples/segment.c, weights/ and
 *     photo.jpg (the tiny fixture): both programs it builds start without LD_LIBRARY_PATH and
 *     print the same shares; make uninstall then leaves nothing in $HOME/.local;
 *   - the usage example of include/cliptrase.h and README.md's "API in ten lines", as written
 *     (wrapped in main), build against the installed library and segment with ViT-B/32 shapes
 *     (random weights from ct-random-weights): status OK, short side 352;
 *   - make uninstall leaves no file or link (make install-python's package included); DESTDIR
 *     stages under another root.
 * The install is of the release build (what `make install` installs): under the sanitizers it is
 * skipped, make test runs it. */
#include "harness.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/wait.h>

static int sh(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* output of a shell command (first cap-1 bytes), trailing newlines removed; "" on failure */
static void sh_out(const char *cmd, char *out, size_t cap) {
    out[0] = 0;
    FILE *f = popen(cmd, "r");
    if (!f) return;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    pclose(f);
    while (n && out[n - 1] == '\n') out[--n] = 0;
}

static char P[4200];   /* the prefix */
static char PKG[4400]; /* PKG_CONFIG_PATH=... for pkg-config */
static char soname[64];
static int installed;

static int skip_reason(char *why, size_t cap) {
    if (getenv("CT_SANITIZER")) return snprintf(why, cap, "the install is of the release build; make test runs it"), 1;
    if (sh("command -v pkg-config >/dev/null && command -v make >/dev/null && command -v nm >/dev/null && command -v readelf >/dev/null") != 0)
        return snprintf(why, cap, "pkg-config, make, nm or readelf not installed"), 1;
    if (!file_exists("Makefile") || !file_exists("include/cliptrase.h")) return snprintf(why, cap, "not run from the repository root"), 1;
    return 0;
}

static void install_layout(void) {
    char why[128], cmd[9000], out[4096];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    FMT(P, "%s/prefix", t_tmpdir());
    FMT(PKG, "PKG_CONFIG_PATH='%s/lib/pkgconfig'", P);
    FMT(soname, "libcliptrase.so.%d.%d", CT_VERSION_MAJOR, CT_VERSION_MINOR);
    FMT(cmd, "make -s install PREFIX='%s' >'%s/install.log' 2>&1", P, t_tmpdir());
    if (sh(cmd) != 0) {
        FMT(cmd, "sed 's/^/    /' '%s/install.log' | tail -20", t_tmpdir());
        sh(cmd);
        CHECK(0, "make install PREFIX='%s' failed", P);
        return;
    }
    installed = 1;
    const char *files[] = {"lib/libcliptrase.a", "lib/pkgconfig/cliptrase.pc", "include/cliptrase.h", "bin/cliptrase-demo"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        FMT(cmd, "test -f '%s/%s'", P, files[i]);
        CHECK(sh(cmd) == 0, "%s not installed", files[i]);
    }
    FMT(cmd, "test -f '%s/lib/%s' && test \"$(readlink '%s/lib/libcliptrase.so')\" = %s", P, soname, P, soname);
    CHECK(sh(cmd) == 0, "lib/%s and the link libcliptrase.so -> %s", soname, soname);
    FMT(cmd, "readelf -d '%s/lib/%s' | grep SONAME", P, soname);
    sh_out(cmd, out, sizeof out);
    CHECK(strstr(out, soname) != NULL, "soname: %s", out);
    FMT(cmd, "cmp -s include/cliptrase.h '%s/include/cliptrase.h'", P);
    CHECK(sh(cmd) == 0, "the installed header differs from include/cliptrase.h");
    /* every tool the build made is installed (demo as cliptrase-demo) */
    FMT(cmd, "cd '%s/bin' && for t in *; do [ \"$t\" = demo ] && t=cliptrase-demo; test -x \"%s/bin/$t\" || echo \"$t\"; done", build_dir(), P);
    sh_out(cmd, out, sizeof out);
    CHECK(out[0] == 0, "tools built but not installed: %s", out);
}

static void installed_symbols(void) {
    char why[128], cmd[9000];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    if (!installed) { CHECK(0, "nothing installed"); return; }
    FMT(cmd, "sh test/check-symbols.sh '%s/include/cliptrase.h' '%s/lib/libcliptrase.a' '%s/lib/%s' | sed 's/^/  /'; exit $(sh test/check-symbols.sh "
             "'%s/include/cliptrase.h' '%s/lib/libcliptrase.a' '%s/lib/%s' >/dev/null; echo $?)",
        P, P, P, soname, P, P, P, soname);
    CHECK(sh(cmd) == 0, "nm on the installed libraries does not list exactly the header's functions");
    /* the checker itself fails on a library with one symbol too many */
    FMT(cmd, "printf 'int ct_not_in_the_header(void) { return 1; }\\n' > '%s/extra.c' && cc -c -fPIC '%s/extra.c' -o '%s/extra.o' && "
             "cp '%s/lib/libcliptrase.a' '%s/extra.a' && ar r '%s/extra.a' '%s/extra.o' 2>/dev/null && "
             "! sh test/check-symbols.sh include/cliptrase.h '%s/extra.a' >/dev/null",
        t_tmpdir(), t_tmpdir(), t_tmpdir(), P, t_tmpdir(), t_tmpdir(), t_tmpdir(), t_tmpdir());
    CHECK(sh(cmd) == 0, "check-symbols.sh accepts a library exporting a function the header does not declare");
}

static void pkg_config_both_ways(void) {
    char why[128], cmd[9000], out[4096];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    if (!installed) { CHECK(0, "nothing installed"); return; }
    FMT(cmd, "%s pkg-config --modversion cliptrase", PKG);
    sh_out(cmd, out, sizeof out);
    CHECK(!strcmp(out, ct_version()), "pkg-config --modversion: '%s', library %s", out, ct_version());
    FMT(cmd, "%s pkg-config --cflags cliptrase", PKG);
    sh_out(cmd, out, sizeof out);
    char want[4400];
    FMT(want, "-I%s/include", P);
    CHECK(strstr(out, want) != NULL, "--cflags: %s", out);
    FMT(cmd, "%s pkg-config --libs cliptrase", PKG);
    sh_out(cmd, out, sizeof out);
    CHECK(strstr(out, "-lcliptrase") && !strstr(out, "-lutf8proc"), "--libs (shared: the library alone): %s", out);
    FMT(cmd, "%s pkg-config --static --libs cliptrase", PKG);
    sh_out(cmd, out, sizeof out);
    CHECK(strstr(out, "-lcliptrase") && strstr(out, "-lutf8proc") && strstr(out, "-lm") && strstr(out, "thread"),
          "--static --libs (with the dependencies): %s", out);
}

/* Builds every program of the C files of tools/ and tools/common/ (a source with main() is a
 * program; the others are linked into each) from a copy outside the source tree, both ways. */
static void tools_out_of_tree(void) {
    char why[128], cmd[16000], out[8192];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    if (!installed) { CHECK(0, "nothing installed"); return; }
    const char *t = t_tmpdir();
    FMT(cmd, "set -e; rm -rf '%s/src' '%s/shared' '%s/static' '%s/obj'; mkdir -p '%s/src/tools' '%s/shared' '%s/static' '%s/obj'; "
             "cp tools/*.c tools/*.h '%s/src/tools/'; if [ -d tools/common ]; then cp -r tools/common '%s/src/tools/'; fi",
        t, t, t, t, t, t, t, t, t, t);
    CHECK(sh(cmd) == 0, "copy of tools/ failed");
    /* compile: the installed header through pkg-config, tools/ headers, nothing of the tree */
    FMT(cmd, "cd '%s/src/tools' && cflags=$(%s pkg-config --cflags cliptrase) && n=0 && "
             "for f in *.c common/*.c; do [ -f \"$f\" ] || continue; o=\"%s/obj/$(echo \"$f\" | tr / _ | sed 's/\\.c$/.o/')\"; "
             "cc -std=c11 -D_GNU_SOURCE -O1 -Wall -Wextra -Werror=implicit-function-declaration $cflags -I. -Icommon -c \"$f\" -o \"$o\" || exit 1; "
             "n=$((n + 1)); done; echo $n",
        t, PKG, t);
    sh_out(cmd, out, sizeof out);
    int nsrc = atoi(out);
    CHECK(nsrc >= 2, "the tools do not compile against the installed header alone (%s)", out);
    if (nsrc < 2) return;
    /* link: a program is an object that defines main; -lm is the tools' own (sqrtf, ...), a shared
     * libcliptrase brings its dependencies itself */
    FMT(cmd, "cd '%s/obj' && mains=''; rest=''; for o in *.o; do if nm \"$o\" | grep -q ' T main$'; then mains=\"$mains $o\"; else rest=\"$rest $o\"; fi; done; "
             "lshared=$(%s pkg-config --libs cliptrase); lstatic=$(%s pkg-config --static --libs cliptrase | sed 's/-lcliptrase/-l:libcliptrase.a/'); "
             "for o in $mains; do p=${o%%.o}; cc $o $rest $lshared -lm -o ../shared/$p || exit 1; cc $o $rest $lstatic -o ../static/$p || exit 1; done; "
             "echo $mains",
        t, PKG, PKG);
    sh_out(cmd, out, sizeof out);
    printf("  programs built both ways: %s\n", out);
    CHECK(strstr(out, ".o") != NULL, "no program linked against the installed library");
    CHECK(strstr(out, "ct-info.o") != NULL, "ct-info was not among the programs");
    /* which library each uses: the shared builds need the soname, the static ones do not */
    FMT(cmd, "cd '%s' && for p in shared/*; do readelf -d \"$p\" | grep -q 'NEEDED.*%s' || echo \"$p\"; done; "
             "for p in static/*; do readelf -d \"$p\" | grep -q 'NEEDED.*libcliptrase' && echo \"$p\"; done; true",
        t, soname);
    sh_out(cmd, out, sizeof out);
    CHECK(out[0] == 0, "linked against the wrong library: %s", out);
    char model[600], vocab[600];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(vocab, "%s/vocab.json", oracle_dir());
    if (!file_exists(model)) { printf("  (no fixture: ct-info not run)\n"); return; }
    char a[2048], b[2048];
    FMT(cmd, "LD_LIBRARY_PATH='%s/lib' '%s/shared/ct-info' '%s' --vocab '%s' 2>&1", P, t, model, vocab);
    sh_out(cmd, a, sizeof a);
    FMT(cmd, "'%s/static/ct-info' '%s' --vocab '%s' 2>&1", t, model, vocab);
    sh_out(cmd, b, sizeof b);
    printf("  ct-info (shared): %.120s...\n", a);
    CHECK(strstr(a, "vision: width 64") != NULL, "ct-info (shared) output: %s", a);
    CHECK(!strcmp(a, b), "ct-info differs between the shared and the static build:\n%s\n%s", a, b);
}

static void example_both_ways(void) {
    char why[128], cmd[16000], a[2048], b[2048];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    if (!installed) { CHECK(0, "nothing installed"); return; }
    const char *t = t_tmpdir();
    FMT(cmd, "cp examples/segment.c '%s/segment.c' && cd '%s' && cc -std=c11 -Wall -Wextra -Werror segment.c $(%s pkg-config --cflags --libs cliptrase) -o segment-shared && "
             "cc -std=c11 -Wall -Wextra -Werror segment.c $(%s pkg-config --cflags cliptrase) $(%s pkg-config --static --libs cliptrase | sed 's/-lcliptrase/-l:libcliptrase.a/') -o segment-static",
        t, t, PKG, PKG, PKG);
    CHECK(sh(cmd) == 0, "examples/segment.c does not build with pkg-config (shared and static)");
    FMT(cmd, "LD_LIBRARY_PATH='%s/lib' '%s/segment-shared'", P, t);
    sh_out(cmd, a, sizeof a);
    FMT(cmd, "'%s/segment-static'", t);
    sh_out(cmd, b, sizeof b);
    char v[64];
    FMT(v, "libcliptrase %s", ct_version());
    CHECK(!strcmp(a, v) && !strcmp(b, v), "version: '%s' / '%s'", a, b);
    char model[600], vocab[600], img[600];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(vocab, "%s/vocab.json", oracle_dir());
    FMT(img, "%s/tiny_f32_openai/crop64/image.png", oracle_dir());
    if (!file_exists(model)) { printf("  (no fixture: the example only printed its version)\n"); return; }
    FMT(cmd, "LD_LIBRARY_PATH='%s/lib' '%s/segment-shared' '%s' '%s' '%s' cat dog", P, t, model, vocab, img);
    sh_out(cmd, a, sizeof a);
    FMT(cmd, "'%s/segment-static' '%s' '%s' '%s' cat dog", t, model, vocab, img);
    sh_out(cmd, b, sizeof b);
    double s1 = 0, s2 = 0;
    char n1[64], n2[64];
    CHECK(sscanf(a, "%63s %lf %63s %lf", n1, &s1, n2, &s2) == 4 && !strcmp(n1, "cat") && !strcmp(n2, "dog") && fabs(s1 + s2 - 1) < 1e-3,
          "the example's shares: %s", a);
    CHECK(!strcmp(a, b), "shared and static builds differ:\n%s\n%s", a, b);
}

/* The two usage examples as written, wrapped in main(): include/cliptrase.h's comment block (from
 * "Usage:" to "Conventions", the " * " prefix removed) and README.md's "API in ten lines" block;
 * run where weights/clip-vit-base-patch16.safetensors holds random ViT-B/32 weights (patch 32:
 * 336 is not a multiple of it), weights/vocab.json the oracle's, cat.jpg and photo.jpg a picture. */
static void usage_examples_b32(void) {
    char why[128], cmd[16000], out[4096];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    if (!installed) { CHECK(0, "nothing installed"); return; }
    char vocab[600], merges[600], img[600], rw[600];
    FMT(vocab, "%s/vocab.json", oracle_dir());
    FMT(merges, "%s/merges.txt", oracle_dir());
    FMT(img, "%s/small_f16_hf/rect224x320/image.png", oracle_dir());
    FMT(rw, "%s/bin/ct-random-weights", build_dir());
    if (!file_exists(vocab) || !file_exists(merges) || !file_exists(img)) SKIP("vocab.json, merges.txt or the rect224x320 picture not under %s", oracle_dir());
    if (!file_exists(rw)) { CHECK(0, "%s not built", rw); return; }
    const char *t = t_tmpdir();
    char abs_vocab[PATH_MAX], abs_merges[PATH_MAX], abs_img[PATH_MAX], abs_rw[PATH_MAX];
    if (!realpath(vocab, abs_vocab) || !realpath(merges, abs_merges) || !realpath(img, abs_img) || !realpath(rw, abs_rw)) {
        CHECK(0, "realpath");
        return;
    }
    FMT(cmd, "set -e; mkdir -p '%s/usage/weights'; cd '%s/usage'; ln -s '%s' weights/vocab.json; ln -s '%s' weights/merges.txt; "
             "ln -s '%s' cat.jpg; ln -s '%s' photo.jpg; '%s' --arch B/32 --dtype F16 -o weights/clip-vit-base-patch16.safetensors >/dev/null 2>&1",
        t, t, abs_vocab, abs_merges, abs_img, abs_img, abs_rw);
    CHECK(sh(cmd) == 0, "the examples' folder (random B/32 weights) could not be made");
    static const struct { const char *name, *extract, *err; } ex[] = {
        {"header", "sed -n '/^ \\* Usage:/,/^ \\* Conventions/p' include/cliptrase.h | sed '1d;$d' | sed 's/^ \\*//'", "err"},
        {"README", "awk '/^## The API in ten lines/{f=1;next} f&&/^```c/{g=1;next} g&&/^```/{exit} g' README.md", "e"},
    };
    for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
        FMT(cmd, "set -e; cd '%s/usage'; src=%s.c; { echo '#include <stdio.h>'; echo '#include <stdlib.h>'; echo '#include <cliptrase.h>'; "
                 "echo 'int main(void) {'; (cd \"$OLDPWD\" && %s) | grep -v '^#include'; "
                 "echo 'printf(\"%%d %%d\", (int)%s.status, H < W ? H : W); return 0; }'; } > $src; "
                 "cc -std=c11 -w $src $(%s pkg-config --cflags --libs cliptrase) -o %s 2>&1 | head -5; ./%s 2>&1 | tail -3",
            t, ex[i].name, ex[i].extract, ex[i].err, PKG, ex[i].name, ex[i].name);
        sh_out(cmd, out, sizeof out);
        printf("  %s example with ViT-B/32: %s\n", ex[i].name, out);
        CHECK(!strcmp(out, "0 352"), "the %s's usage example with ViT-B/32: '%s' (status 0 and a short side of 352 expected)", ex[i].name, out);
    }
}

static void uninstall_leaves_nothing(void) {
    char why[128], cmd[9000], out[4096];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    if (!installed) { CHECK(0, "nothing installed"); return; }
    FMT(cmd, "make -s uninstall PREFIX='%s' >/dev/null 2>&1", P);
    CHECK(sh(cmd) == 0, "make uninstall");
    FMT(cmd, "find '%s' -type f -o -type l", P);
    sh_out(cmd, out, sizeof out);
    CHECK(out[0] == 0, "left after uninstall:\n%s", out);
    /* DESTDIR: staged under another root, the .pc naming the final prefix */
    const char *t = t_tmpdir();
    FMT(cmd, "make -s install DESTDIR='%s/stage' PREFIX=/opt/ct >/dev/null 2>&1 && test -f '%s/stage/opt/ct/lib/libcliptrase.a' && "
             "grep -qx 'prefix=/opt/ct' '%s/stage/opt/ct/lib/pkgconfig/cliptrase.pc' && make -s uninstall DESTDIR='%s/stage' PREFIX=/opt/ct >/dev/null 2>&1",
        t, t, t, t);
    CHECK(sh(cmd) == 0, "install / uninstall with DESTDIR");
    FMT(cmd, "find '%s/stage' -type f -o -type l", t);
    sh_out(cmd, out, sizeof out);
    CHECK(out[0] == 0, "left after uninstall with DESTDIR:\n%s", out);
}

/* `make uninstall PREFIX=prefix` (with the environment assignments env) leaves no file or link */
static void uninstall_leaves_no_file(const char *env, const char *prefix) {
    char cmd[9000], out[4096];
    FMT(cmd, "%s make -s uninstall PREFIX='%s' >/dev/null 2>&1 && find '%s' -type f -o -type l", env, prefix, prefix);
    sh_out(cmd, out, sizeof out);
    CHECK(out[0] == 0, "left in %s after make uninstall:\n%s", prefix, out);
}

/* README.md's "Install and link" commands, exactly as written: `make ...` lines from the
 * repository root, the others from a folder laid out as the README assumes. */
static void readme_install_commands(void) {
    char why[128], cmd[16000], out[8192];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    char model[600], vocab[600], merges[600], img[600];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(vocab, "%s/vocab.json", oracle_dir());
    FMT(merges, "%s/merges.txt", oracle_dir());
    FMT(img, "%s/tiny_f32_openai/crop64/image.png", oracle_dir());
    if (!file_exists(model) || !file_exists(vocab) || !file_exists(merges) || !file_exists(img))
        SKIP("the tiny fixture or vocab.json / merges.txt not under %s", oracle_dir());
    const char *t = t_tmpdir();
    char abs_model[PATH_MAX], abs_vocab[PATH_MAX], abs_merges[PATH_MAX], abs_img[PATH_MAX];
    if (!realpath(model, abs_model) || !realpath(vocab, abs_vocab) || !realpath(merges, abs_merges) || !realpath(img, abs_img)) {
        CHECK(0, "realpath of the fixtures");
        return;
    }
    FMT(cmd, "set -e; mkdir -p '%s/home' '%s/readme/examples' '%s/readme/weights'; cp examples/segment.c '%s/readme/examples/'; "
             "ln -s '%s' '%s/readme/weights/clip-vit-base-patch16.safetensors'; ln -s '%s' '%s/readme/weights/vocab.json'; "
             "ln -s '%s' '%s/readme/weights/merges.txt'; ln -s '%s' '%s/readme/photo.jpg'; "
             "awk '/^## Install and link/{f=1;next} f&&/^```sh/{g=1;next} g&&/^```/{exit} g' README.md > '%s/readme.sh'; "
             "test -s '%s/readme.sh'",
        t, t, t, t, abs_model, t, abs_vocab, t, abs_merges, t, abs_img, t, t, t);
    CHECK(sh(cmd) == 0, "the README's layout (or its Install and link block) could not be made");
    /* each line: make from the repository root, the rest from the user's folder; HOME fresh, no
     * LD_LIBRARY_PATH; the outputs of the programs collected */
    FMT(cmd, "root=$(pwd); export HOME='%s/home'; unset LD_LIBRARY_PATH; n=0; : > '%s/readme.out'; "
             "while IFS= read -r line; do n=$((n + 1)); case \"$line\" in make\\ *) d=$root;; *) d='%s/readme';; esac; "
             "case \"$line\" in ./*) o='%s/readme.out';; *) o='%s/readme.log';; esac; "
             "(cd \"$d\" && eval \"$line\") >>\"$o\" 2>>'%s/readme.log' || { echo \"line $n fails: $line\"; tail -5 '%s/readme.log'; exit 1; }; "
             "done < '%s/readme.sh'; echo ran $n",
        t, t, t, t, t, t, t, t);
    sh_out(cmd, out, sizeof out);
    printf("  README block: %s\n", out);
    CHECK(!strncmp(out, "ran ", 4) && atoi(out + 4) >= 3, "%s", out);
    FMT(cmd, "cat '%s/readme.out'", t);
    sh_out(cmd, out, sizeof out);
    size_t len = strlen(out);
    int halves = len % 2 == 1 && out[len / 2] == '\n' && !strncmp(out, out + len / 2 + 1, len / 2);
    CHECK(!strncmp(out, "cat\t", 4) && strstr(out, "\ngrass\t") && halves, "the programs' outputs (the same shares twice expected): %s", out);
    FMT(cmd, "readelf -d '%s/readme/segment' | grep -c 'NEEDED.*libcliptrase'; readelf -d '%s/readme/segment-static' | grep -c 'NEEDED.*libcliptrase'", t, t);
    sh_out(cmd, out, sizeof out);
    CHECK(!strcmp(out, "1\n0"), "segment uses the shared library, segment-static the archive: %s", out);
    char home_env[4300], local[4300];
    FMT(home_env, "HOME='%s/home'", t);
    FMT(local, "%s/home/.local", t);
    uninstall_leaves_no_file(home_env, local);
}

/* make install-python installs the package beside the library; make uninstall removes it. */
static void python_package_uninstalled(void) {
    char why[128], cmd[9000], out[4096];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    FMT(cmd, "for m in pip setuptools wheel; do '%s' -c \"import $m\" 2>/dev/null || exit 1; done", py);
    if (sh(cmd) != 0) SKIP("%s cannot import pip, setuptools and wheel (make python-test says so as a failure)", py);
    const char *t = t_tmpdir();
    FMT(cmd, "make -s install-python PYTHON='%s' PREFIX='%s/py' >'%s/py.log' 2>&1 && find '%s/py' -path '*-packages/cliptrase/__init__.py' | grep -c .", py, t, t, t);
    sh_out(cmd, out, sizeof out);
    CHECK(!strcmp(out, "1"), "make install-python did not install the package under the prefix (%s)", out);
    char py_env[4300], prefix[4300];
    FMT(py_env, "PYTHON='%s'", py);
    FMT(prefix, "%s/py", t);
    uninstall_leaves_no_file(py_env, prefix);
}

/* tools/fetch-weights.sh against a local mirror (file:// endpoint): downloads, validates by
 * loading, refuses a truncated model, and explains a failed download. */
static void fetch_weights_script(void) {
    char model[600], cmd[16000];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    if (!file_exists(model)) SKIP("tiny fixture not found under %s", oracle_dir());
    if (sh("command -v curl >/dev/null || command -v wget >/dev/null") != 0) SKIP("neither curl nor wget");
    char d[4200], mirror[4400];
    FMT(d, "%s/fetch", t_tmpdir());
    FMT(mirror, "%s/mirror/openai/clip-vit-base-patch32/resolve/main", d);
    FMT(cmd, "mkdir -p '%s' && cp '%s' '%s/model.safetensors' && cp '%s/vocab.json' '%s/merges.txt' '%s/'", mirror, model, mirror, oracle_dir(),
        oracle_dir(), mirror);
    CHECK(sh(cmd) == 0, "mirror setup");
    FMT(cmd, "WEIGHTS_DIR='%s/w' HF_ENDPOINT='file://%s/mirror' tools/fetch-weights.sh b32 >'%s/log' 2>&1", d, d, d);
    CHECK(sh(cmd) == 0, "download and validate");
    FMT(cmd, "grep -q '^ok: ' '%s/log'", d);
    CHECK(sh(cmd) == 0, "reports ok");
    /* a truncated download is detected by loading it */
    FMT(cmd, "truncate -s 1000 '%s/w/clip-vit-base-patch32.safetensors' && WEIGHTS_DIR='%s/w' HF_ENDPOINT='file://%s/mirror' tools/fetch-weights.sh b32 >'%s/log' 2>&1",
        d, d, d, d);
    CHECK(sh(cmd) == 2, "truncated model accepted");
    FMT(cmd, "grep -q 'does not load' '%s/log'", d);
    CHECK(sh(cmd) == 0, "says the model does not load");
    FMT(cmd, "WEIGHTS_DIR='%s/w2' HF_ENDPOINT='file://%s/nowhere' tools/fetch-weights.sh b16 >'%s/log' 2>&1", d, d, d);
    CHECK(sh(cmd) == 2, "failed download exits 2");
    FMT(cmd, "grep -q 'download these' '%s/log' && grep -q 'tools/ct-random-weights --arch B/16' '%s/log'", d, d);
    CHECK(sh(cmd) == 0, "explains what to do without network, the offline path (ct-random-weights) included");
    FMT(cmd, "ls -A '%s/w2'", d);
    char left[1024];
    sh_out(cmd, left, sizeof left);
    CHECK(left[0] == 0, "a failed download left in the weights folder: %s", left);
    CHECK(sh("tools/fetch-weights.sh nosuch >/dev/null 2>&1") == 1, "unknown name exits 1");
}

/* docs/api.md documents every function the public header declares */
static void api_documented(void) {
    if (!file_exists("docs/api.md")) SKIP("docs/api.md not in this tree");
    CHECK(sh("for f in $(grep -o '\\bct_[a-z0-9_]*(' include/cliptrase.h | sort -u | tr -d '('); do "
             "grep -q \"$f\" docs/api.md || { echo \"  undocumented: $f\"; exit 1; }; done") == 0,
          "a public function is missing from docs/api.md");
}

/* docs/heads.md: every head's row has its measured cost (no empty last cell) */
static void heads_costs_documented(void) {
    if (!file_exists("docs/heads.md")) SKIP("docs/heads.md not in this tree");
    CHECK(sh("n=$(grep '^| `' docs/heads.md | grep -c '| *|$'); [ \"$n\" = 0 ] || { echo \"  $n head rows without a measured cost\"; exit 1; }") == 0,
          "an empty cell in docs/heads.md's head table");
}

int main(void) {
    RUN(api_documented);
    RUN(heads_costs_documented);
    RUN(install_layout);
    RUN(installed_symbols);
    RUN(pkg_config_both_ways);
    RUN(tools_out_of_tree);
    RUN(example_both_ways);
    RUN(usage_examples_b32);
    RUN(uninstall_leaves_nothing);
    RUN(readme_install_commands);
    RUN(python_package_uninstalled);
    RUN(fetch_weights_script);
    DONE();
}
