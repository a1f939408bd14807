#!/bin/sh
# Runs the benchmark binaries given (make bench builds them), in order, in this one run.
# Environment (threads, OpenBLAS settings) is left exactly as the caller has it.
set -e
for b in "$@"; do
  echo "== $b"
  "./$b"
  echo
done
