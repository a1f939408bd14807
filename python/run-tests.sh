#!/bin/sh
# The Python package's tests, as one entry of test/run.sh (make test) or alone (make python-test):
# installs the package with pip, offline, from a copy of python/ into a temporary directory
# (never the system, never the source tree), recording the library of $CT_BUILD_DIR (default
# build/release), then runs pytest on python/tests against that installed copy.
# Ends with the harness's line "N passed, N failed, N skipped". Missing python3, numpy, pytest,
# setuptools, wheel or pip is a failure (tools/install-deps.sh installs them), never a skip.
# Environment: PYTHON (default /usr/bin/python3, the interpreter Debian's packages serve),
# CT_BUILD_DIR, CT_ORACLE_DIR (the parity tests skip, saying so, when the oracle is absent).
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
BUILD=${CT_BUILD_DIR:-build/release}

fail() {
    echo "FAIL python: $*"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
}

command -v "$PY" >/dev/null 2>&1 || fail "no $PY (tools/install-deps.sh installs python3)"
for m in numpy pytest setuptools wheel pip; do
    "$PY" -c "import $m" 2>/dev/null || fail "$PY cannot import $m (tools/install-deps.sh installs python3-$m)"
done
ver=$(sed -n 's/^#define CT_VERSION_\(MAJOR\|MINOR\) \([0-9]*\)$/\2/p' include/cliptrase.h | paste -sd.)
lib="$(cd "$BUILD/lib" 2>/dev/null && pwd)/libcliptrase.so.$ver"
[ -f "$lib" ] || fail "no $BUILD/lib/libcliptrase.so.$ver (make lib)"

tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT INT TERM
# make asan: the library is built with ASan+UBSan; their runtimes must come first in the process.
# Python's own allocations are never freed at exit (no leak check); reports go to files in $tmp.
if [ "${CT_SANITIZER:-}" = address ]; then
    LD_PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
    ASAN_OPTIONS="detect_leaks=0:log_path=$tmp/sanitizer" UBSAN_OPTIONS="print_stacktrace=1:log_path=$tmp/sanitizer"
    export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
fi
t0=$(date +%s%N)
sh python/pip-install.sh "$PY" "$tmp/site" "$lib" || fail "pip install of the package failed"
t1=$(date +%s%N)
echo "installed the package into $tmp/site ($(( (t1 - t0) / 1000000 )) ms), recording $lib"
env -u CLIPTRASE_LIBRARY PYTHONPATH="$tmp/site" PYTHONDONTWRITEBYTECODE=1 CT_PY_INSTALLED="$tmp/site" CT_PY_LIBRARY="$lib" \
    "$PY" -m pytest -p no:cacheprovider --basetemp="$tmp/pytest" -q -rs --durations=5 python/tests
rc=$?
if ls "$tmp"/sanitizer.* >/dev/null 2>&1; then
    cat "$tmp"/sanitizer.*
    fail "sanitizer reports (above)"
fi
exit $rc
