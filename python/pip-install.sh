#!/bin/sh
# pip-install.sh PYTHON TARGET LIBRARY: installs the package, offline, into the directory TARGET,
# recording LIBRARY as the shared library it loads. Builds from a copy of python/ in a temporary
# directory, so the source tree gets no build/ or .egg-info. Used by `make install-python` and
# python/run-tests.sh. pip's output goes to stderr only when it fails.
[ $# -eq 3 ] || { echo "usage: $0 PYTHON TARGET LIBRARY" >&2; exit 1; }
PY=$1 TARGET=$2 LIBRARY=$3
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cp -R "$src/cliptrase" "$src/pyproject.toml" "$src/setup.py" "$src/README.md" "$tmp/" || exit 1
rm -rf "$tmp/cliptrase/__pycache__" "$tmp/cliptrase/_build_info.py"
if ! CLIPTRASE_LIBRARY="$LIBRARY" "$PY" -m pip install --no-build-isolation --no-index --no-deps --upgrade \
        --disable-pip-version-check --root-user-action=ignore --quiet --target "$TARGET" "$tmp" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    echo "$0: pip install of the package into $TARGET failed" >&2
    exit 1
fi
