#!/bin/sh
# Runs the benchmark binaries given (make bench builds them), in order, in this one run.
# Environment (threads, OpenBLAS settings) is left exactly as the caller has it.
# A benchmark that cannot measure (a timed command failed) prints no ratio and exits non-zero;
# this script then names it, runs the others, and exits non-zero itself: a failed bench is never
# a figure.
status=0
for b in "$@"; do
  case $b in /*) p=$b ;; *) p=./$b ;; esac
  echo "== $b"
  "$p"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "bench: $b failed (exit $rc): it measured nothing valid"
    status=1
  fi
  echo
done
[ "$status" -eq 0 ] || echo "bench: FAILED: no figure above from a failed benchmark is valid"
exit $status
