#!/bin/sh
# Runs every test binary given (paths relative to the current directory, or absolute) and prints
# the summed closing line "P passed, F failed, S skipped"; exits 1 when anything failed.
# A binary adds the counts of its own summary line (the last line of the form above), and one
# failure more when it
#   - is missing or not executable,
#   - prints no summary line (crash, exit before DONE, ...), or was killed by a signal,
#   - exits with a non-zero status although its summary reports no failure,
#   - reports no test at all,
#   - runs longer than $CT_TEST_TIMEOUT seconds (default 900; 0: no limit).
# Giving no binary at all is a failure too. The run also fails when /dev/null or /dev/full (or
# the paths in $CT_WATCH_DEVICES; set and empty: none) is not the same node afterwards (same
# inode, type and numbers): no test may replace them.
pass=0; fail=0; skip=0; bad=""
if [ $# -eq 0 ]; then
  echo "run.sh: no test binaries given"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
limit=${CT_TEST_TIMEOUT:-900}
devices() { for d in ${CT_WATCH_DEVICES-/dev/null /dev/full}; do [ -e "$d" ] && stat -c "$d %i %F %t:%T" "$d"; done; }
dev_before=$(devices)
for t in "$@"; do
  case $t in
    /*|./*|../*) cmd=$t ;;
    *) cmd=./$t ;;
  esac
  echo "== $t"
  if [ ! -f "$cmd" ] || [ ! -x "$cmd" ]; then
    echo "FAIL $t: no such executable"
    fail=$((fail + 1)); bad="$bad $t"; continue
  fi
  t0=$(date +%s)
  if [ "$limit" != 0 ] && command -v timeout >/dev/null 2>&1; then
    out=$(timeout -k 10 "$limit" "$cmd" </dev/null 2>&1); rc=$?
  else
    out=$("$cmd" </dev/null 2>&1); rc=$?
  fi
  printf '%s\n' "$out"
  echo "-- $t: $(($(date +%s) - t0)) s"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -n 1)
  why=""
  if [ -n "$line" ]; then
    p=$(echo "$line" | cut -d' ' -f1); f=$(echo "$line" | cut -d' ' -f3); s=$(echo "$line" | cut -d' ' -f5)
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then why="exited with status $rc after reporting no failure"
    elif [ $((p + f + s)) = 0 ]; then why="reported no test"
    fi
  else
    why="exited with status $rc before reporting (no summary line)"
  fi
  if [ "$rc" = 124 ] && [ "$limit" != 0 ]; then why="timed out after ${limit}s"
  elif [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then why="killed by signal $((rc - 128)) $([ -n "$line" ] && echo after || echo before) reporting"
  fi
  if [ -n "$why" ]; then
    echo "FAIL $t: $why"
    fail=$((fail + 1)); bad="$bad $t"
  fi
done
dev_after=$(devices)
if [ "$dev_before" != "$dev_after" ]; then
  echo "FAIL: a test replaced a device of the machine:"
  echo "  before: $dev_before" | tr '\n' ' '; echo
  echo "  after:  $dev_after" | tr '\n' ' '; echo
  fail=$((fail + 1)); bad="$bad (/dev/null or /dev/full)"
fi
[ -n "$bad" ] && echo "crashed or failed to finish:$bad"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
