#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets (fuzz/fuzz_*.cpp) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in build-fuzz/, and runs each for SECONDS (default 60) from its
# committed corpus (fuzz/corpus/<name>) plus seeds made from ../shared/data. Fails when any target
# finds a crash, leak, timeout or undefined behaviour: the input is in build-fuzz/findings/; copy it
# to fuzz/regressions/<name>/ with the fix so ctest replays it (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build=build-fuzz
shared="$(cd .. && pwd)/shared/data"
CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRLVR_FUZZ=ON >/dev/null
targets=$(cd fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')
cmake --build "$build" -j "$(nproc)" --target $targets
mkdir -p "$build/findings" "$build/seeds/dataset"
# Seeds from the real data: the first GSM8K lines, as each dataset format (first byte: the format).
for fmt in 0 1 2; do
  { printf "\\x0$fmt"; head -n 3 "$shared/gsm8k/train.jsonl"; } > "$build/seeds/dataset/gsm8k_$fmt"
done
export RLVR_FUZZ_TOKENIZER="$shared/qwen-tokenizer/tokenizer.json"
export ASAN_OPTIONS=detect_leaks=1
failed=0
for t in $targets; do
  name=${t#fuzz_}
  mkdir -p "$build/corpus/$name"
  extra=()
  [ -d "$build/seeds/$name" ] && extra+=("$build/seeds/$name")
  log="$build/$t.log"
  if "$build/$t" "$build/corpus/$name" "fuzz/corpus/$name" "${extra[@]}" -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=4096 -max_len=8192 -print_final_stats=1 \
      -artifact_prefix="$build/findings/$name-" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  echo "$t: $status, $runs runs in ${seconds} s ($((runs / seconds)) execs/s), corpus $(ls "$build/corpus/$name" | wc -l) inputs"
  [ "$status" = ok ] || grep -m 5 -E 'ERROR|SUMMARY|Test unit written' "$log" || true
done
exit $failed
