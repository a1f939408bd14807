#!/bin/sh
# Runs every test binary given, from the repository root, and prints the summed closing line.
pass=0; fail=0; skip=0; crashed=""
for t in "$@"; do
  echo "== $t"
  out=$("./$t" 2>&1); rc=$?
  echo "$out"
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -1)
  if [ -z "$line" ]; then
    echo "FAIL $t: exited with status $rc before reporting"
    fail=$((fail + 1)); crashed="$crashed $t"; continue
  fi
  p=$(echo "$line" | cut -d' ' -f1); f=$(echo "$line" | cut -d' ' -f3); s=$(echo "$line" | cut -d' ' -f5)
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then fail=$((fail + 1)); crashed="$crashed $t"; fi
done
[ -n "$crashed" ] && echo "crashed or failed to finish:$crashed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
