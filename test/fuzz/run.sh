#!/bin/sh
# Runs each libFuzzer target for the given seconds on a scratch copy of its seed corpus; crashes
# are saved under build/fuzz/crashes-<target>/ (turn each into a regression test).
# usage: test/fuzz/run.sh SECONDS target...
set -u
secs=$1; shift
oracle=${CT_ORACLE_DIR:-../shared/oracle}
status=0
for t in "$@"; do
  corpus=build/fuzz/corpus-$t; crashes=build/fuzz/crashes-$t
  mkdir -p "$corpus" "$crashes"
  cp test/fuzz/seeds/$t/* "$corpus"/ 2>/dev/null
  case $t in
    image) for f in "$oracle"/*/*/image.png; do [ -f "$f" ] && cp "$f" "$corpus/oracle-$(basename "$(dirname "$f")").png"; done ;;
    tokenizer) [ -f "$oracle/tokenizer_cases.jsonl" ] && head -200 "$oracle/tokenizer_cases.jsonl" | split -l 1 - "$corpus/oracle-" ;;
  esac
  echo "== fuzz_$t for ${secs}s"
  CT_FUZZ_VOCAB=${CT_FUZZ_VOCAB:-$oracle/bpe_simple_vocab_16e6.txt.gz} \
    ./build/fuzz/fuzz_$t "$corpus" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 \
      -artifact_prefix="$crashes/" -print_final_stats=1 2>&1 | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' 
  if ls "$crashes"/* >/dev/null 2>&1; then echo "fuzz_$t: findings in $crashes"; status=1; fi
done
exit $status
