#!/usr/bin/env python3
"""Issue 16 on the device machine: rlvr's 4-bit layout against transformers + bitsandbytes.

usage: bnb_compare.py RLVR_BIN WORK_DIR OUT_JSON

1. Writes a tiny random Qwen2 model in bf16 whose Linear shapes are not multiples of 64, with an
   all-zero block and an outlier row (transformers' save_pretrained).
2. For nf4 + double quantization and fp4 without it: `rlvr quantize` writes one 4-bit copy (CPU),
   transformers + bitsandbytes another (from_pretrained with BitsAndBytesConfig on the GPU, then
   save_pretrained). Every tensor of the two files is compared (the quant_state JSON as parsed).
3. `rlvr generate` greedy on the transformers-written directory against transformers' own greedy
   generation on its 4-bit model: the token ids, and the log-probs of the chosen tokens.
Writes a JSON report; exits 1 when a packed code, statistic or token differs.
"""
import json
import subprocess
import sys

import torch
from safetensors.torch import load_file
from transformers import BitsAndBytesConfig, Qwen2Config, Qwen2ForCausalLM


def make_base(path):
    cfg = Qwen2Config(hidden_size=72, intermediate_size=100, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=259, max_position_embeddings=256,
                      tie_word_embeddings=True, torch_dtype="bfloat16", eos_token_id=258)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    with torch.no_grad():
        w = model.model.layers[0].mlp.up_proj.weight
        w.view(-1)[128:192] = 0  # an all-zero 64-value block
        w[3] *= 40               # an outlier row
    model.save_pretrained(path, safe_serialization=True)


def compare_files(a, b):
    ta, tb = load_file(a), load_file(b)
    report = {"only_rlvr": sorted(set(ta) - set(tb)), "only_transformers": sorted(set(tb) - set(ta)), "differ": {}}
    for k in sorted(set(ta) & set(tb)):
        x, y = ta[k], tb[k]
        if ".quant_state." in k:
            sx, sy = json.loads(bytes(x.tolist())), json.loads(bytes(y.tolist()))
            if sx != sy:
                report["differ"][k] = {"rlvr": sx, "transformers": sy}
        elif x.shape != y.shape or x.dtype != y.dtype:
            report["differ"][k] = f"shape/dtype {tuple(x.shape)} {x.dtype} vs {tuple(y.shape)} {y.dtype}"
        elif not torch.equal(x, y):
            n = int((x != y).sum())
            report["differ"][k] = f"{n} of {x.numel()} values differ"
    return report


def greedy(rlvr, model_dir, ids, new_tokens):
    q = Qwen2ForCausalLM.from_pretrained(model_dir, device_map={"": 0}, torch_dtype=torch.bfloat16)
    out = q.generate(torch.tensor([ids], device="cuda"), max_new_tokens=new_tokens, do_sample=False,
                     output_scores=True, return_dict_in_generate=True, pad_token_id=258, eos_token_id=None)
    hf_ids = out.sequences[0, len(ids):].tolist()
    hf_lp = [torch.log_softmax(s[0].float(), -1)[t].item() for s, t in zip(out.scores, hf_ids)]
    res = subprocess.run([rlvr, "generate", "--model", model_dir, "--prompt-ids", ",".join(map(str, ids)),
                          "--max-new-tokens", str(new_tokens), "--temperature", "0", "--dtype", "bfloat16"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": res.stderr.strip()}
    line = json.loads(res.stdout.strip().splitlines()[0])
    lp_diff = max(abs(a - b) for a, b in zip(line["logprobs"], hf_lp)) if hf_ids == line["completion_ids"] else None
    return {"transformers": hf_ids, "rlvr": line["completion_ids"], "same_ids": hf_ids == line["completion_ids"],
            "max_logprob_diff": lp_diff}


def main():
    rlvr, work, out_json = sys.argv[1:4]
    base = f"{work}/base"
    make_base(base)
    report, bad = {}, False
    for qt, dq in (("nf4", True), ("fp4", False)):
        name = f"{qt}{'-dq' if dq else ''}"
        mine, theirs = f"{work}/rlvr-{name}", f"{work}/hf-{name}"
        args = [rlvr, "quantize", "--model", base, "--out", mine, "--quant-type", qt] + ([] if dq else ["--no-double-quant"])
        subprocess.run(args, check=True)
        bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=qt, bnb_4bit_use_double_quant=dq,
                                 bnb_4bit_compute_dtype=torch.bfloat16)
        Qwen2ForCausalLM.from_pretrained(base, quantization_config=bnb, device_map={"": 0},
                                         torch_dtype=torch.bfloat16).save_pretrained(theirs)
        files = compare_files(f"{mine}/model.safetensors", f"{theirs}/model.safetensors")
        gen = greedy(rlvr, theirs, [1, 17, 42, 99, 7], 24)
        report[name] = {"tensors": files, "generate": gen}
        bad |= bool(files["differ"] or files["only_rlvr"] or files["only_transformers"] or not gen.get("same_ids"))
    with open(out_json, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1)[:4000])
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
