#!/usr/bin/env bash
# Data-parallel benchmark (docs/distributed.md, "Performance"): the demo's GRPO run (full
# fine-tuning, 128 completions per step) for 8 steps as 1 rank x 1 thread and as 2 ranks x 1 thread
# (--nproc-per-node 2, ZeRO-1), alternating, REPEATS times; prints the medians of the per-run
# median step time (generate + score + log-probs + train, first step left out), the ratio, and the
# communication shares of the 2-rank step.
#   scripts/bench-ddp.sh [DEMO_OUT=demo-out] [REPEATS=3] [BIN=build/rlvr]
# DEMO_OUT is a finished `make demo` folder (its sft/ model, train.jsonl and grpo/recipe.json).
set -euo pipefail
demo="$(cd "${1:-demo-out}" && pwd)"
repeats="${2:-3}"
bin="$(cd "$(dirname "${3:-build/rlvr}")" && pwd)/$(basename "${3:-build/rlvr}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$demo" "$work" <<'PY'
import json, sys
demo, work = sys.argv[1:]
r = json.load(open(f"{demo}/grpo/recipe.json"))
r.update(model_name_or_path=f"{demo}/sft", train_dataset_id_or_path=f"{demo}/train.jsonl", max_steps=8,
         overwrite_output_dir=True, log_completions=False)
for w in (1, 2):
    r.update(per_device_train_batch_size=128 // w, output_dir=f"{work}/out{w}")
    json.dump(r, open(f"{work}/w{w}.json", "w"))
PY
for i in $(seq "$repeats"); do
  for w in 1 2; do
    OMP_NUM_THREADS=1 "$bin" train "$work/w$w.json" --nproc-per-node "$w" >/dev/null 2>"$work/err$w.log" ||
      { cat "$work/err$w.log" >&2; exit 1; }
    cp "$work/out$w/metrics.jsonl" "$work/m$w-$i.jsonl"
  done
  echo "run $i of $repeats done" >&2
done
python3 - "$work" <<'PY'
import glob, json, statistics as st, sys
work = sys.argv[1]
parts = ["time/generate_s", "time/score_s", "time/logprob_s", "time/train_s"]
def medians(w):
    out = []
    for f in sorted(glob.glob(f"{work}/m{w}-*.jsonl")):
        rows = [json.loads(l) for l in open(f)][1:]
        out.append([st.median(sum(r.get(k) or 0 for k in parts) for r in rows),
                    st.median(r.get("time/comm_s") or 0 for r in rows),
                    st.median(r.get("time/grad_sync_s") or 0 for r in rows)])
    return [st.median(c) for c in zip(*out)]
one, two = medians(1), medians(2)
print(f"1 rank x 1 thread : {one[0]:.3f} s/step")
print(f"2 ranks x 1 thread: {two[0]:.3f} s/step  -> {one[0] / two[0]:.2f}x steps/s")
print(f"2 ranks: gradient sync {two[2]:.4f} s = {100 * two[2] / two[0]:.2f}% of the step; "
      f"all communication (with waits for the slower rank) {two[1]:.4f} s = {100 * two[1] / two[0]:.2f}%")
PY
