#!/bin/sh
# Every object of a sanitizer build's library calls into the sanitizer runtime: the build really
# compiled the library with the sanitizer (not objects copied from another build).
# usage: test/check-instrumented.sh libcliptrase-internal.a PREFIX   (PREFIX: __asan_ or __tsan_)
set -u
lib=$1 prefix=$2
[ -f "$lib" ] || { echo "instrumented: $lib is missing"; exit 1; }
members=$(ar t "$lib")
bad=""
n=0
for m in $members; do
  n=$((n + 1))
  # an object with code but no reference to the runtime was not instrumented
  if ! nm -A "$lib" 2>/dev/null | grep "^$lib:$m:" | grep -q " U $prefix"; then
    if nm -A "$lib" 2>/dev/null | grep "^$lib:$m:" | grep -q " [Tt] "; then bad="$bad $m"; fi
  fi
done
if [ -n "$bad" ]; then
  echo "instrumented: objects of $lib without $prefix calls:$bad"
  exit 1
fi
echo "instrumented: all $n objects of $lib call the ${prefix%_} runtime"
