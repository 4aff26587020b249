#!/usr/bin/env bash
# `make test-asan`: the torch-free libraries, the torch-free rlvr binary, their tests and the
# torch-free fuzz replays, built with AddressSanitizer + UndefinedBehaviorSanitizer (gcc) in
# build-asan/, and run. Any memory error, leak or undefined behaviour fails the test that hit it.
# (The torch tests and the torch plugin are not in it: instrumenting them multiplies the build and
# run time of CI for code that the fuzz targets already run under the sanitizers.)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${ASAN_BUILD:-build-asan}"
tests=(test_core test_tokenizer test_data test_answer test_rewards test_code_reward test_eval test_layout
       test_jinja test_chat_template test_quant
       fuzz_replay_answer fuzz_replay_dataset fuzz_replay_tokenizer_json fuzz_replay_tokenizer_encode
       fuzz_replay_code_extract fuzz_replay_external_reply fuzz_replay_chat_template)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRLVR_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target rlvr "${tests[@]}"
regex="^($(IFS='|'; echo "${tests[*]}"))\$"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
cd "$build" && ctest --output-on-failure -j "$(nproc)" -R "$regex"
