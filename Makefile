# libcliptrase - see README.md.
#   make            library (static + shared), demo and tools in build/release (./demo links there)
#   make test       installs missing Debian packages, builds, runs the whole suite
#   make asan|tsan  the suite against a library built from the sources with the sanitizer
#   make bench      benchmarks (release build)
# Every flavour is built out of tree, from the sources only, in build/<flavour>/: no object
# is ever shared between flavours.
CC ?= cc
OPT ?= -O3
CFLAGS ?= $(OPT) -g
FLAVOUR ?= release
BUILD ?= build/$(FLAVOUR)
SAN_CFLAGS ?=
PREFIX ?= /usr/local
# The Python package (python/): Debian's interpreter, which tools/install-deps.sh equips.
PYTHON ?= /usr/bin/python3
PYTHON_TEST = python/run-tests.sh

BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN_CFLAGS) $(EXTRA_CFLAGS) -pthread -MMD -MP
LIB_CFLAGS = $(BASE_CFLAGS) -fPIC -fvisibility=hidden -DCT_BUILDING_LIBRARY -Iinclude -Ilib $(BLAS_CFLAGS)
TOOL_CFLAGS = $(BASE_CFLAGS) -Iinclude -Itools
TEST_CFLAGS = $(BASE_CFLAGS) -Iinclude -Ilib -Itools -Itest $(BLAS_CFLAGS)
DEP_LIBS = $(BLAS_LIBS) -lutf8proc -lm -pthread
LDFLAGS_ALL = $(SAN_CFLAGS) $(LDFLAGS)

VERSION := $(shell sed -n 's/^\#define CT_VERSION_MAJOR \([0-9]*\)/\1/p;s/^\#define CT_VERSION_MINOR \([0-9]*\)/\1/p;s/^\#define CT_VERSION_PATCH \([0-9]*\)/\1/p' include/cliptrase.h | paste -sd.)
SOVERSION := $(shell echo $(VERSION) | cut -d. -f1-2)
SONAME = libcliptrase.so.$(SOVERSION)

LIB_SRC := $(sort $(wildcard lib/*/*.c lib/*/*/*.c lib/*/*/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB_A = $(BUILD)/lib/libcliptrase.a
LIB_SO = $(BUILD)/lib/$(SONAME)
LIB_INTERNAL = $(BUILD)/lib/libcliptrase-internal.a
TOOL_NAMES = demo ct-tokenize ct-info ct-eval ct-random-weights ct-batch
TOOL_BIN = $(TOOL_NAMES:%=$(BUILD)/bin/%)
TOOL_COMMON = $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard tools/common/*.c))) $(BUILD)/obj/tools/npy.o
TOOL_OBJ = $(TOOL_COMMON) $(TOOL_NAMES:%=$(BUILD)/obj/tools/%.o)
.SECONDARY: $(TOOL_OBJ)
TEST_SRC := $(sort $(wildcard test/test_*.c))
TEST_BIN = $(TEST_SRC:%.c=$(BUILD)/%)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN = $(BENCH_SRC:%.c=$(BUILD)/%)

.PHONY: all lib tools tests test check deps asan tsan bench clean install uninstall symbols layers \
        instrumented fuzz fuzz-run valgrind links
.SUFFIXES:

all: lib tools links
lib: $(LIB_A) $(LIB_SO) $(LIB_INTERNAL)
tools: $(TOOL_BIN)
tests: $(TEST_BIN)

$(BUILD)/obj/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

# Internal archive: every object as compiled, for the tests and benchmarks of internals.
$(LIB_INTERNAL): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# Sealed static library: one relocatable object with every hidden symbol made local, so a
# program linking it sees exactly the functions of include/cliptrase.h.
$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(LD) -r -o $(BUILD)/obj/cliptrase-sealed.o $^
	objcopy --localize-hidden $(BUILD)/obj/cliptrase-sealed.o
	rm -f $@ && ar rcs $@ $(BUILD)/obj/cliptrase-sealed.o

$(LIB_SO): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,-z,defs -o $@ $^ $(LDFLAGS_ALL) $(DEP_LIBS)
	ln -sf $(SONAME) $(BUILD)/lib/libcliptrase.so

# Tools see the public header and tools/ only, and link the sealed library.
$(BUILD)/obj/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(CC) $(TOOL_CFLAGS) -c $< -o $@

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(TOOL_COMMON) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) $< $(TOOL_COMMON) -o $@ $(LIB_A) $(DEP_LIBS)

$(BUILD)/test/%: test/%.c $(TOOL_COMMON) $(LIB_INTERNAL)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< $(TOOL_COMMON) -o $@ $(LDFLAGS_ALL) $(TEST_LDFLAGS) $(LIB_INTERNAL) $(DEP_LIBS)

# test_harness runs the deliberately broken test programs of test/harness/ (built beside it).
$(BUILD)/test/test_harness: $(BUILD)/test/harness/cases
# test_api measures what a segmentation allocates: the allocations of everything it links go
# through its own wrappers.
$(BUILD)/test/test_api: private TEST_LDFLAGS = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=aligned_alloc,--wrap=posix_memalign
# test_seg_faults fails every allocation of a segmentation in turn through the same wrappers.
$(BUILD)/test/test_seg_faults: private TEST_LDFLAGS = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=aligned_alloc,--wrap=posix_memalign

$(BUILD)/bench/%: bench/%.c $(LIB_INTERNAL)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(LDFLAGS_ALL) $(LIB_INTERNAL) $(DEP_LIBS)

# Convenience links for the release build: ./demo and tools/ct-* (as the README uses them).
links: $(TOOL_BIN)
	@if [ "$(FLAVOUR)" = release ]; then ln -sf $(BUILD)/bin/demo demo; \
	  for t in $(filter-out demo,$(TOOL_NAMES)); do ln -sf ../$(BUILD)/bin/$$t tools/$$t; done; fi

-include $(LIB_OBJ:.o=.d) $(TOOL_COMMON:.o=.d) $(TOOL_NAMES:%=$(BUILD)/obj/tools/%.d)
-include $(TEST_BIN:=.d) $(BUILD)/test/harness/cases.d

# Debian packages the build needs; installed only when missing (needs root and apt-get).
deps:
	@sh tools/install-deps.sh

test: deps
	$(MAKE) all tests
	$(MAKE) --no-print-directory symbols
	$(MAKE) --no-print-directory layers
	$(MAKE) --no-print-directory instrumented
	CT_BUILD_DIR=$(BUILD) PYTHON=$(PYTHON) sh test/run.sh $(TEST_BIN) $(PYTHON_TEST)

check: test

# The Python package's tests alone: pip-installed into a temporary directory, against $(LIB_SO).
.PHONY: python-test install-python uninstall-python
python-test: deps
	$(MAKE) lib
	CT_BUILD_DIR=$(BUILD) PYTHON=$(PYTHON) sh test/run.sh $(PYTHON_TEST)

# The whole suite against a library, tools and tests compiled with the sanitizers.
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
TSAN_FLAGS = -fsanitize=thread -DCT_NO_CLONES
asan: deps
	$(MAKE) FLAVOUR=asan OPT=-O1 SAN_CFLAGS="$(ASAN_FLAGS)" lib tools tests
	CT_BUILD_DIR=build/asan CT_SANITIZER=address ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  PYTHON=$(PYTHON) sh test/run.sh $(TEST_SRC:%.c=build/asan/%) $(PYTHON_TEST)

# ThreadSanitizer: the threading tests. OpenBLAS is not instrumented, so its own worker threads are
# kept out (one BLAS thread). CPU-dispatched clones are off: their resolvers run before TSan starts.
TSAN_TESTS = test/test_threads test/test_runtime test/test_kernels test/test_postprocess test/test_gemm test/test_amx
tsan: deps
	$(MAKE) FLAVOUR=tsan OPT=-O1 SAN_CFLAGS="$(TSAN_FLAGS)" lib $(addprefix build/tsan/,$(filter $(TSAN_TESTS),$(TEST_SRC:.c=)))
	CT_BUILD_DIR=build/tsan CT_SANITIZER=thread OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 \
	  sh test/run.sh $(addprefix build/tsan/,$(filter $(TSAN_TESTS),$(TEST_SRC:.c=)))

# Proof that the sanitizer flavours really instrument the library: every object of the asan and
# tsan libraries calls into the sanitizer runtime.
instrumented:
	$(MAKE) --no-print-directory FLAVOUR=asan OPT=-O1 SAN_CFLAGS="$(ASAN_FLAGS)" build/asan/lib/libcliptrase-internal.a
	$(MAKE) --no-print-directory FLAVOUR=tsan OPT=-O1 SAN_CFLAGS="$(TSAN_FLAGS)" build/tsan/lib/libcliptrase-internal.a
	sh test/check-instrumented.sh build/asan/lib/libcliptrase-internal.a __asan_
	sh test/check-instrumented.sh build/tsan/lib/libcliptrase-internal.a __tsan_

bench: deps
	$(MAKE) all $(BENCH_BIN)
	CT_BUILD_DIR=$(BUILD) sh bench/run.sh $(BENCH_BIN)

# The exported symbols of the static and the shared library are exactly the functions the
# public header declares.
symbols: $(LIB_A) $(LIB_SO)
	@sh test/check-symbols.sh include/cliptrase.h $(LIB_A) $(LIB_SO)

# lib/ has no include circle, no circle between translation units, and no layer using a higher
# one (core < io < image < nn < model < text < heads < vision < seg; docs/algorithm.md).
layers: $(LIB_INTERNAL)
	@$(PYTHON) test/check_layers.py lib $(BUILD)/obj/lib

# libFuzzer targets (clang, ASan+UBSan) in build/fuzz; `make fuzz-run FUZZ_SECONDS=600`.
FUZZ_TARGETS = safetensors tokenizer vocab image
FUZZ_SECONDS ?= 60
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz: deps
	$(MAKE) FLAVOUR=fuzz CC=clang OPT=-O1 SAN_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" build/fuzz/lib/libcliptrase-internal.a
	for t in $(FUZZ_TARGETS); do \
	  clang -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude -Ilib $(FUZZ_SAN) -fsanitize=fuzzer test/fuzz/fuzz_$$t.c \
	    -o build/fuzz/fuzz_$$t build/fuzz/lib/libcliptrase-internal.a $(DEP_LIBS) || exit 1; done

fuzz-run: fuzz
	sh test/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The demo path under valgrind: any definite leak or memory error fails.
ORACLE ?= $(or $(CT_ORACLE_DIR),../shared/oracle)
valgrind: all
	d=$$(mktemp -d) && valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	  $(BUILD)/bin/demo -q --no-cache -m $(ORACLE)/tiny_f32_openai/model.safetensors -V $(ORACLE)/vocab.json \
	  -i $(ORACLE)/tiny_f32_openai/crop64/image.png -c 'cat;kitten,dog' -b grass -s 64 --crop \
	  -o $$d/out.png --labels $$d/labels.png --json $$d/out.json && rm -rf $$d
	@echo "valgrind: no leaks or memory errors on the demo path"

# pkg-config file: the shared library by default, `pkg-config --static` for the archive (with
# its dependencies). Libs carries -Wl,-rpath,$${libdir}: a program linked with it starts without
# LD_LIBRARY_PATH or ldconfig, whatever the prefix (README's PREFIX=$$HOME/.local included). Written straight into the prefix by make install (nothing shared between
# two installs to different prefixes).
PC_LINES = 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
  'Name: cliptrase' 'Description: training-free open-vocabulary segmentation with CLIP (CLIPtrase and peers)' \
  'Version: $(VERSION)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lcliptrase' \
  'Libs.private: $(BLAS_LIBS) -lutf8proc -lm -pthread'

INSTALL_TOOLS = $(filter-out demo,$(TOOL_NAMES))
install: all
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -d $(DESTDIR)$(PREFIX)/share/cliptrase
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libcliptrase.so
	install -m 644 include/cliptrase.h $(DESTDIR)$(PREFIX)/include/
	printf '%s\n' $(PC_LINES) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cliptrase.pc
	chmod 644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/cliptrase.pc
	install -m 755 $(BUILD)/bin/demo $(DESTDIR)$(PREFIX)/bin/cliptrase-demo
	install -m 755 $(INSTALL_TOOLS:%=$(BUILD)/bin/%) $(DESTDIR)$(PREFIX)/bin/

# The Python package beside the library it records ($(PREFIX)/lib/$(SONAME)), into PYTHON_SITE
# (Debian's python3 reads $(PREFIX)/lib/python3.X/dist-packages for PREFIX /usr/local).
PYTHON_SITE = $(PREFIX)/lib/python$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')/dist-packages
install-python: install
	sh python/pip-install.sh $(PYTHON) $(DESTDIR)$(PYTHON_SITE) $(PREFIX)/lib/$(SONAME)

uninstall-python:
	rm -rf $(DESTDIR)$(PYTHON_SITE)/cliptrase $(DESTDIR)$(PYTHON_SITE)/cliptrase-$(VERSION).dist-info
	rmdir -p $(DESTDIR)$(PYTHON_SITE) 2>/dev/null || true  # the folders make install-python made, when empty

INSTALLED = lib/libcliptrase.a lib/$(SONAME) lib/libcliptrase.so include/cliptrase.h \
            lib/pkgconfig/cliptrase.pc bin/cliptrase-demo $(INSTALL_TOOLS:%=bin/%)
uninstall: uninstall-python
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
	rmdir $(DESTDIR)$(PREFIX)/share/cliptrase 2>/dev/null || true  # kept when it holds weights

clean:
	rm -rf build
	rm -f demo $(addprefix tools/,$(filter-out demo,$(TOOL_NAMES)))
