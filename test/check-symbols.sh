#!/bin/sh
# The symbols a program linking libcliptrase sees are exactly the functions the public header
# declares: compared as sets, for the static and the shared library.
# usage: test/check-symbols.sh include/cliptrase.h libcliptrase.a libcliptrase.so.X
set -u
hdr=$1; shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# declarations: "CT_API <type> [*]ct_name(" possibly over several lines
tr '\n' ' ' < "$hdr" | grep -o 'CT_API[^;{]*(' | grep -o 'ct_[A-Za-z0-9_]*[ ]*($' | tr -d ' (' | sort -u > "$tmp/header"
n=$(wc -l < "$tmp/header")
[ "$n" -gt 0 ] || { echo "symbols: no CT_API declarations found in $hdr"; exit 1; }
status=0
for lib in "$@"; do
  case "$lib" in
    *.a) nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /[TWDBRV]/ {print $3}' ;;
    *) nm -D --defined-only "$lib" | awk 'NF == 3 && $2 ~ /[TWDBRViu]/ {print $3}' ;;
  esac | sort -u > "$tmp/lib"
  if ! cmp -s "$tmp/header" "$tmp/lib"; then
    echo "symbols: $lib does not export exactly the header's functions"
    echo "  exported but not declared:"; comm -13 "$tmp/header" "$tmp/lib" | sed 's/^/    /'
    echo "  declared but not exported:"; comm -23 "$tmp/header" "$tmp/lib" | sed 's/^/    /'
    status=1
  else
    echo "symbols: $lib exports exactly the $n functions of $(basename "$hdr")"
  fi
done
exit $status
