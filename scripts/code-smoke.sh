#!/usr/bin/env bash
# The code pipeline end to end on a tiny model (issue 17, acceptance 4): writes a random byte-level
# model, runs recipes/code-tasks-smoke.yaml (5 GRPO steps with the `code` reward on data/code-tasks)
# and evaluates the result on the same tasks with pass@1 and pass@4.
#   scripts/code-smoke.sh [path/to/rlvr] [run folder, default runs/code-smoke]
# Run from the repository root. Prints the counters of the last step and the eval table.
set -euo pipefail
RLVR=${1:-build/rlvr}
RUN=${2:-runs/code-smoke}
"$RLVR" init-tokenizer --byte-level --out "$RUN/model" --force
"$RLVR" init-model --config recipes/tiny-byte-qwen2.json --out "$RUN/model" --force
"$RLVR" train recipes/code-tasks-smoke.yaml --set "model_name_or_path=$RUN/model" --set "output_dir=$RUN/out"
echo "last step's reward metrics:"
tail -n 1 "$RUN/out/metrics.jsonl" | python3 -c 'import json, sys
m = json.loads(sys.stdin.read())
for k in sorted(m):
    if k.startswith("rewards/"): print(f"  {k} = {m[k]}")'
"$RLVR" eval --model "$RUN/out" --data data/code-tasks/train.jsonl --prompt-style code --rewards code \
  --n-samples 4 --temperature 1 --max-new-tokens 64 --out "$RUN/eval"
