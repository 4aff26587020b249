#!/usr/bin/env bash
# One-shot GPU check on the workplace's device machine (Ubuntu image: python3 with torch 2.x+cu13x
# and transformers, nvcc in /usr/local/cuda, cmake and ninja; no network). From the repo root:
#   bash scripts/device-check.sh            (run scripts/device-prep.sh here first;
#                                             carry [".debs", ".shared-data"])
# Phases, each under its own time limit inside one overall budget (DEVICE_CHECK_BUDGET seconds,
# default 480), each logged, none stopping the others:
#   env       machine, compilers, torch/CUDA facts
#   deps      .debs/*.deb unpacked into a private prefix (never /), .pc prefixes rewritten
#   golden    scripts/golden_tiny_qwen2.py -> $OUT/tiny-qwen2-golden (in the background, on CPU)
#   configure CMake against pip torch (CMAKE_PREFIX_PATH = prefix + torch.utils.cmake_prefix_path)
#   build     Release, all cores, into build-cuda/
#   test_cuda CUDA == CPU (forward f32/bf16, engine greedy + sampling, LoRA backward, dropout replay)
#   test_golden on the fresh fixture, CPU and CUDA
#   bnb       scripts/bnb_compare.py: rlvr quantize against transformers + bitsandbytes (every tensor
#             of the 4-bit files, nf4 + double quant and fp4), rlvr generate on their 4-bit directory
#   bench     rlvr bench generate --preset gsm8k-8shot-0.5b --device cuda, then with --load-in-4bit
#   train     rlvr train: two GRPO steps on CUDA (tiny model, LoRA, bf16, checkpointing), resume
#   ctest     every other test binary
# Local trial runs: PHASES=env,deps,configure (a comma list) runs only those; TORCH_PREFIX=DIR
# replaces torch.utils.cmake_prefix_path; EXTRA_CMAKE_ARGS are added to the configure line;
# BUILD_DIR and OUT move the outputs; CHECK_DEVICE=cpu and BENCH_ARGS (e.g. --prompts 2) make the
# bench and train phases a rehearsal on a machine without a GPU; PHASE_SCALE=N multiplies every
# phase's time limit (slow machines).
# $OUT gets: summary.txt, logs.tgz (every log), tiny-qwen2-golden/ (the fixture for
# tests/fixtures/tiny-qwen2-golden). At most 8 files come back from the device: keep it so.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/device-out}
BUDGET=${DEVICE_CHECK_BUDGET:-480}
START=$(date +%s)
LOGS=$(mktemp -d /tmp/rlvr-logs.XXXXXX)
PFX=/tmp/rlvr-deps
BUILD=${BUILD_DIR:-$ROOT/build-cuda}
SUMMARY=$LOGS/summary.txt
mkdir -p "$OUT"
: >"$SUMMARY"

note() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $((BUDGET - ($(date +%s) - START))); }
# phase NAME SECONDS COMMAND...: runs COMMAND (a shell string) under min(SECONDS, time left - 15),
# output to $LOGS/NAME.log; records status and duration in the summary.
phase() {
  local name=$1 limit=$(( $2 * ${PHASE_SCALE:-1} )) cmd=$3 l t0 rc
  if [ -n "${PHASES:-}" ] && [[ ",$PHASES," != *",$name,"* ]]; then return 98; fi
  l=$(( $(left) - 15 ))
  [ "$limit" -gt "$l" ] && limit=$l
  if [ "$limit" -lt 5 ]; then note "[$name] SKIPPED: out of time"; return 99; fi
  t0=$(date +%s)
  timeout -k 5 "$limit" bash -c "$cmd" >"$LOGS/$name.log" 2>&1
  rc=$?
  local what="ok"
  [ $rc -ne 0 ] && what="FAILED rc=$rc" && FAILS=$((FAILS + 1))
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && what="TIMED OUT after ${limit}s"
  note "[$name] $what ($(( $(date +%s) - t0 ))s, log $name.log)"
  return $rc
}
FAILS=0
finish() {
  note "total $(( $(date +%s) - START ))s of ${BUDGET}s budget; $FAILS phase(s) failed"
  cp "$SUMMARY" "$OUT/summary.txt"
  tar -czf "$OUT/logs.tgz" -C "$LOGS" . 2>/dev/null
  echo "===== summary ====="
  cat "$OUT/summary.txt"
  exit $(( FAILS > 0 ))  # 0 when every phase that ran passed
}
trap finish EXIT

# ---- env ----------------------------------------------------------------------------------------
PY=$(command -v python3 || true)
if ! "${PY:-false}" -c 'import torch' 2>/dev/null; then PY=/opt/torch/.venv/bin/python3; fi
export PATH="/usr/local/cuda/bin:$(dirname "$PY"):$PATH"
export CUDA_HOME=/usr/local/cuda CUDACXX=/usr/local/cuda/bin/nvcc TORCH_CUDA_ARCH_LIST=9.0
export CMAKE_POLICY_VERSION_MINIMUM=3.5  # CMake 4 and old packages' config files
export PYTHONUNBUFFERED=1
phase env 40 "
  set -x
  uname -a; cat /etc/os-release | head -2; nproc; free -g | head -2; df -h /tmp | tail -1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  command -v g++ c++ gcc cmake ninja pkg-config dpkg-deb ar nvcc ccache
  g++ --version | head -1; cmake --version | head -1; ninja --version; nvcc --version | tail -2
  $PY -c 'import torch, sys; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"avail\", torch.cuda.is_available(), \"cxx11abi\", torch._C._GLIBCXX_USE_CXX11_ABI, \"cmake\", torch.utils.cmake_prefix_path); print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"no gpu\")'
  $PY -c 'import transformers, safetensors; print(\"transformers\", transformers.__version__, \"safetensors\", safetensors.__version__)'
  $PY -c 'import peft; print(\"peft\", peft.__version__)' || true
  $PY -c 'import bitsandbytes; print(\"bitsandbytes\", bitsandbytes.__version__)' || true
  ls /usr/local/cuda/lib64 | head -50
"
note "torch: $($PY -c 'import torch;print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1)"
note "gpu: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | head -1)"
note "g++: $(g++ --version 2>&1 | head -1); cmake: $(cmake --version 2>&1 | head -1); ninja: $(ninja --version 2>&1)"

# ---- deps: Debian 12 packages into a private prefix ---------------------------------------------
phase deps 60 "
  set -e
  rm -rf $PFX && mkdir -p $PFX
  ls .debs/*.deb
  for f in .debs/*.deb; do
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x \"\$f\" $PFX
    else d=\$(mktemp -d); (cd \$d && ar x \"$ROOT/\$f\" && tar -xf data.tar.* -C $PFX); rm -rf \$d; fi
  done
  # .pc files say prefix=/usr; point them at the private prefix (CMake configs are relocatable).
  for pc in $PFX/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc $PFX/usr/share/pkgconfig/*.pc; do
    sed -i 's|^prefix=/usr\$|prefix=$PFX/usr|' \"\$pc\"
  done
  grep -H '^prefix=' $PFX/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc $PFX/usr/share/pkgconfig/*.pc
  # The carried pkgconf (for a machine without pkg-config) needs its library beside it: make the
  # prefix's pkg-config a wrapper, since CMake also looks for pkg-config under CMAKE_PREFIX_PATH.
  rm -f $PFX/usr/bin/pkg-config $PFX/usr/bin/x86_64-linux-gnu-pkg-config
  printf '#!/bin/sh\nLD_LIBRARY_PATH=$PFX/usr/lib/x86_64-linux-gnu exec $PFX/usr/bin/pkgconf \"\$@\"\n' > $PFX/usr/bin/pkg-config
  chmod +x $PFX/usr/bin/pkg-config
  $PFX/usr/bin/pkg-config --version
"
export PKG_CONFIG_PATH="$PFX/usr/lib/x86_64-linux-gnu/pkgconfig:$PFX/usr/share/pkgconfig"
PKGCONF=$(command -v pkg-config || echo "$PFX/usr/bin/pkg-config")
note "pkg-config: $PKGCONF -> libpcre2-8 $($PKGCONF --cflags --libs libpcre2-8 2>&1 | tr -d '\n')"

# ---- golden (background, CPU only) --------------------------------------------------------------
GOLDEN=$OUT/tiny-qwen2-golden
( timeout -k 5 150 env CUDA_VISIBLE_DEVICES= "$PY" scripts/golden_tiny_qwen2.py "$GOLDEN" \
    >"$LOGS/golden.log" 2>&1; echo "rc=$?" >>"$LOGS/golden.log" ) &
GOLDEN_PID=$!

# ---- configure + build --------------------------------------------------------------------------
TORCH_PREFIX=${TORCH_PREFIX:-$("$PY" -c 'import torch;print(torch.utils.cmake_prefix_path)' 2>/dev/null)}
SHARED=$ROOT/.shared-data
[ -d "$SHARED" ] || SHARED=$ROOT/../shared/data
GEN=""
command -v ninja >/dev/null && GEN="-G Ninja"
# --allow-shlib-undefined: libtorch_cuda.so needs libraries (cuSPARSELt, NVSHMEM, ...) that only its
# own $ORIGIN run path finds; the loader resolves them at run time, the linker need not.
phase configure 120 "
  set -x
  cmake -S . -B $BUILD $GEN -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH='$PFX/usr;$TORCH_PREFIX' -DPKG_CONFIG_EXECUTABLE=$PKGCONF \
    -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DCUDAToolkit_ROOT=/usr/local/cuda \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DRLVR_SHARED_DATA=$SHARED -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
    -DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined \
    ${EXTRA_CMAKE_ARGS:-}
"
CONF_RC=$?
grep -E "rlvr:|CUDA|cuDNN|Torch|torch|Caffe2|Could NOT|Error|error|WARNING" "$LOGS/configure.log" 2>/dev/null | head -40 >>"$SUMMARY"
# -k 0 / -k: keep going past a failing file so every binary that can be built is.
KEEP="-k 0"
[ -z "$GEN" ] && KEEP="-k"
if [ $CONF_RC -eq 0 ]; then
  # What the GPU checks need first (every test depends on rlvr and so on all libraries), the
  # other test binaries later, just before ctest.
  phase build 330 "cmake --build $BUILD -j $(nproc) --target rlvr test_cuda test_golden -- $KEEP"
  grep -E "error|Error" "$LOGS/build.log" 2>/dev/null | head -30 >>"$SUMMARY"
  (cd "$BUILD" && ls -la rlvr librlvr_torchcli.so test_* 2>&1; for b in test_cuda librlvr_torchcli.so; do
     echo "== ldd $b"; ldd "$b" | grep -E "torch|c10|cuda|yaml|pcre|utf8proc|not found"; done) >"$LOGS/binaries.log" 2>&1
  grep -E "not found" "$LOGS/binaries.log" 2>/dev/null >>"$SUMMARY"
  note "test_cuda loads libtorch_cuda: $(ldd "$BUILD/test_cuda" 2>/dev/null | grep -c 'libtorch_cuda\|libc10_cuda') CUDA libraries"
  grep -E "\-std=|rlvr-deps" "$BUILD/compile_commands.json" 2>/dev/null | head -1 | cut -c1-600 >>"$LOGS/binaries.log"
fi

# ---- tests and runs on the GPU ------------------------------------------------------------------
CHECK_DEVICE=${CHECK_DEVICE:-cuda}  # cpu for a rehearsal without a GPU (with small BENCH_ARGS)
gtest_result() {  # the gtest summary lines of a log
  grep -E "^\[  PASSED  \]|^\[  FAILED  \]|^\[  SKIPPED \] [0-9]+ test|test suites? ran" "$LOGS/$1.log" 2>/dev/null | head -20 >>"$SUMMARY"
}
export RLVR_SHARED_DATA=$SHARED RLVR_BIN=$BUILD/rlvr RLVR_TEST_TMP=$BUILD/test-tmp
if [ -x "$BUILD/test_cuda" ]; then
  phase test_cuda 120 "$BUILD/test_cuda"
  gtest_result test_cuda
fi

wait $GOLDEN_PID
cat "$LOGS/golden.log" >>"$SUMMARY"
grep -q "^rc=0$" "$LOGS/golden.log" 2>/dev/null || { FAILS=$((FAILS + 1)); note "[golden] FAILED (log golden.log)"; }
if [ -x "$BUILD/test_golden" ] && [ -f "$GOLDEN/golden.json" ]; then
  phase test_golden 60 "RLVR_GOLDEN_DIR=$GOLDEN $BUILD/test_golden"
  gtest_result test_golden
fi

if [ -x "$BUILD/rlvr" ]; then
  phase bnb 120 "rm -rf $BUILD/bnb && mkdir -p $BUILD/bnb && $PY scripts/bnb_compare.py $BUILD/rlvr $BUILD/bnb $LOGS/bnb.json"
  tail -30 "$LOGS/bnb.log" 2>/dev/null | cut -c1-300 >>"$SUMMARY"
fi

if [ -x "$BUILD/rlvr" ]; then
  phase bench 150 "$BUILD/rlvr bench generate --preset gsm8k-8shot-0.5b --device $CHECK_DEVICE ${BENCH_ARGS:-}"
  grep -vE "^(model ready|shared-prefix|naive prefill)" "$LOGS/bench.log" 2>/dev/null | tail -15 >>"$SUMMARY"
  phase bench_4bit 150 "$BUILD/rlvr bench generate --preset gsm8k-8shot-0.5b --device $CHECK_DEVICE --load-in-4bit ${BENCH_ARGS:-}"
  grep -vE "^(model ready|shared-prefix|naive prefill)" "$LOGS/bench_4bit.log" 2>/dev/null | tail -15 >>"$SUMMARY"

  T=$BUILD/train-check
  phase train 120 "
    set -ex
    rm -rf $T && mkdir -p $T
    $BUILD/rlvr init-tokenizer --byte-level --out $T/model
    printf '%s' '{\"model_type\": \"qwen2\", \"hidden_size\": 128, \"intermediate_size\": 256, \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 259, \"max_position_embeddings\": 1024, \"tie_word_embeddings\": true, \"eos_token_id\": 258}' > $T/config.json
    $BUILD/rlvr init-model --config $T/config.json --out $T/model --seed 1
    $BUILD/rlvr data synth --n 64 --seed 1 --split train > $T/train.jsonl
    head -c 300 $T/train.jsonl; echo
    sets=(--set model_name_or_path=$T/model --set train_dataset_id_or_path=$T/train.jsonl
          --set output_dir=$T/out --set device=$CHECK_DEVICE --set dtype=bfloat16 --set use_peft=true
          --set lora_r=8 --set lora_alpha=16 --set lora_dropout=0.1 --set gradient_checkpointing=true
          --set num_generations=4 --set per_device_train_batch_size=8 --set gradient_accumulation_steps=2
          --set num_shots=1 --set max_completion_length=32 --set beta=0.04 --set learning_rate=0.001
          --set 'reward_funcs=[gsm8k_correct, any_digit]'
          --set 'reward_options={any_digit: {type: regex, pattern: \"[0-9]\"}}'
          --set logging_steps=1 --set save_steps=1)
    echo 'seed: 3' > $T/recipe.yaml   # the recipe argument is required; --set gives the rest
    $BUILD/rlvr train $T/recipe.yaml \"\${sets[@]}\" --set max_steps=2
    cat $T/out/metrics.jsonl
    ls $T/out $T/out/checkpoint-2
    $BUILD/rlvr train $T/recipe.yaml \"\${sets[@]}\" --set max_steps=3 --resume
    tail -1 $T/out/metrics.jsonl
  "
  tail -4 "$LOGS/train.log" 2>/dev/null | cut -c1-400 >>"$SUMMARY"
fi

if [ -d "$BUILD" ] && [ -f "$BUILD/CTestTestfile.cmake" ]; then
  phase build_tests 200 "cmake --build $BUILD -j $(nproc) -- $KEEP"
  grep -E "error|Error" "$LOGS/build_tests.log" 2>/dev/null | head -30 >>"$SUMMARY"
  # 8 test binaries at once: 2 torch threads each, not one per core each.
  phase ctest 240 "cd $BUILD && OMP_NUM_THREADS=2 ctest --output-on-failure -j 8 -E '^test_cuda\$' --timeout 200"
  grep -E "tests passed|tests failed|\*\*\*|Failed|Passed|Not Run" "$LOGS/ctest.log" 2>/dev/null | head -40 >>"$SUMMARY"
fi
