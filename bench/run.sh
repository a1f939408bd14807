#!/bin/sh
# Runs the benchmarks built by `make bench`. Environment (threads, OpenBLAS settings) is left
# exactly as the caller has it.
set -e
for b in bench/bench_*; do
  case "$b" in *.c) continue ;; esac
  echo "== $b"
  "./$b"
done
