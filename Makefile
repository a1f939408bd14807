# libcliptrase - see README.md. `make` builds the library, demo and tools; `make test` also
# installs missing Debian dependencies and runs the whole suite.
CC ?= cc
OPT ?= -O3
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= $(OPT) -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) -Iinclude -Ilib $(BLAS_CFLAGS) -pthread
LDLIBS = $(BLAS_LIBS) -lutf8proc -lm -pthread
PREFIX ?= /usr/local

LIB_SRC = $(wildcard lib/*.c)
LIB_OBJ = $(LIB_SRC:.c=.o)
LIB = lib/libcliptrase.a
TOOLS = demo tools/ct-tokenize tools/ct-info tools/ct-eval tools/ct-random-weights
TEST_SRC = $(wildcard test/test_*.c)
TEST_BIN = $(TEST_SRC:.c=)
BENCH_SRC = $(wildcard bench/bench_*.c)
BENCH_BIN = $(BENCH_SRC:.c=)

.PHONY: all test check deps asan bench clean install uninstall symbols fuzz fuzz-run valgrind tsan
all: $(LIB) $(TOOLS)

lib/%.o: lib/%.c include/cliptrase.h $(wildcard lib/*.h)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

demo: tools/demo.c tools/common.c tools/common.h $(LIB)
	$(CC) $(ALL_CFLAGS) tools/demo.c tools/common.c -o $@ $(LIB) $(LDLIBS)

tools/ct-eval: tools/ct-eval.c tools/common.c tools/common.h $(LIB)
	$(CC) $(ALL_CFLAGS) tools/ct-eval.c tools/common.c -o $@ $(LIB) $(LDLIBS)

tools/%: tools/%.c $(LIB)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(LIB) $(LDLIBS)

test/test_%: test/test_%.c test/harness.h $(LIB)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(LIB) $(LDLIBS)

bench/bench_%: bench/bench_%.c $(LIB)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(LIB) $(LDLIBS)

# Debian packages the build needs; installed only when missing (needs root and apt-get).
deps:
	@sh tools/install-deps.sh

test: deps
	$(MAKE) all $(TEST_BIN)
	$(MAKE) --no-print-directory symbols
	sh test/run.sh $(TEST_BIN)

check: test

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in a separate tree.
asan: deps
	rm -rf build-asan && mkdir -p build-asan
	cp -r Makefile include lib tools test examples docs build-asan/
	$(MAKE) -C build-asan all $(TEST_BIN) OPT=-O1 EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
	cd build-asan && CT_ASAN=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CT_ORACLE_DIR=$${CT_ORACLE_DIR:-$(CURDIR)/../shared/oracle} sh test/run.sh $(TEST_BIN)

# libFuzzer targets (clang) with ASan+UBSan in build-fuzz/; `make fuzz-run FUZZ_SECONDS=600`
# runs each on a copy of the seed corpus in test/fuzz/seeds (plus oracle files when present).
FUZZ_TARGETS = safetensors tokenizer vocab image
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz: deps
	mkdir -p build-fuzz
	cp -r Makefile include lib build-fuzz/
	$(MAKE) -C build-fuzz lib/libcliptrase.a CC=clang OPT=-O1 EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_FLAGS)"
	for t in $(FUZZ_TARGETS); do \
	  clang -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude -Ilib $(FUZZ_FLAGS) -fsanitize=fuzzer test/fuzz/fuzz_$$t.c \
	    -o build-fuzz/fuzz_$$t build-fuzz/lib/libcliptrase.a $(LDLIBS) || exit 1; done

fuzz-run: fuzz
	sh test/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The demo path under valgrind: any definite leak or memory error fails.
ORACLE ?= $(or $(CT_ORACLE_DIR),../shared/oracle)
valgrind: all
	valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	  ./demo -q --no-cache -m $(ORACLE)/tiny_f32_openai/model.safetensors -V $(ORACLE)/vocab.json \
	  -i $(ORACLE)/tiny_f32_openai/crop64/image.png -c 'cat;kitten,dog' -b grass -s 64 --crop \
	  -o /tmp/ct-valgrind.png --labels /tmp/ct-valgrind-labels.png --json /tmp/ct-valgrind.json
	@echo "valgrind: no leaks or memory errors on the demo path"

# The threading test under ThreadSanitizer. OpenBLAS is not instrumented, so its own worker
# threads are kept out (one BLAS thread); the library's threads and shared model are checked.
# CPU-dispatched clones are off: their ifunc resolvers run before the TSan runtime starts.
tsan: deps
	rm -rf build-tsan && mkdir -p build-tsan
	cp -r Makefile include lib tools test build-tsan/
	$(MAKE) -C build-tsan test/test_threads OPT=-O1 EXTRA_CFLAGS="-fsanitize=thread -DCT_NO_CLONES"
	cd build-tsan && OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 CT_ORACLE_DIR=$${CT_ORACLE_DIR:-$(CURDIR)/../shared/oracle} ./test/test_threads

bench: all $(BENCH_BIN)
	sh bench/run.sh

# Only ct_-prefixed symbols may be exported by the library.
symbols: $(LIB)
	@bad=$$(nm -g --defined-only $(LIB) | awk 'NF==3 {print $$3}' | grep -v '^ct_' || true); \
	if [ -n "$$bad" ]; then echo "non-ct_ exported symbols:"; echo "$$bad"; exit 1; else echo "exports: all ct_"; fi

# pkg-config file: a static library, so every dependency is in Libs
cliptrase.pc: Makefile
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: cliptrase' 'Description: training-free open-vocabulary segmentation with CLIP (CLIPtrase)' \
	  'Version: $(VERSION)' 'Cflags: -I$${includedir}' \
	  'Libs: -L$${libdir} -lcliptrase $(BLAS_LIBS) -lutf8proc -lm -pthread' > $@

VERSION := $(shell sed -n 's/^\#define CT_VERSION_MAJOR \([0-9]*\)/\1/p;s/^\#define CT_VERSION_MINOR \([0-9]*\)/\1/p;s/^\#define CT_VERSION_PATCH \([0-9]*\)/\1/p' include/cliptrase.h | paste -sd.)
INSTALLED = lib/libcliptrase.a include/cliptrase.h lib/pkgconfig/cliptrase.pc bin/cliptrase-demo \
            bin/ct-tokenize bin/ct-info bin/ct-eval

install: all
	rm -f cliptrase.pc && $(MAKE) --no-print-directory cliptrase.pc PREFIX=$(PREFIX)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/cliptrase.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 cliptrase.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 demo $(DESTDIR)$(PREFIX)/bin/cliptrase-demo
	install -m 755 tools/ct-tokenize tools/ct-info tools/ct-eval $(DESTDIR)$(PREFIX)/bin/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))

clean:
	rm -f lib/*.o $(LIB) $(TOOLS) $(TEST_BIN) $(BENCH_BIN) cliptrase.pc
	rm -rf build-asan build-fuzz build-tsan
