#!/usr/bin/env python3
"""Golden outputs of Hugging Face transformers for tests/test_golden.cpp.

Builds a tiny random Qwen2ForCausalLM (hidden 64, 2 layers, 4 heads / 2 KV heads, vocab 300) with
non-zero q/k/v biases, non-unit RMSNorm weights, an untied lm_head and RoPE theta 1e6, saves it
with save_pretrained (config.json + model.safetensors, float32), and writes golden.json: a few
ragged prompts, every logit transformers computes for them (one prompt at a time, no padding), and
the greedy continuation of each (argmax of a full recompute at every step). The prompts share
their first tokens, so the engine's shared-prefix path can be held to the same outputs. A LoRA adapter (PEFT
when installed, else the PEFT file layout written by hand and merged by hand) goes to adapter/,
with the logits through it. Deterministic: the seed is the first one from --seed on whose greedy
runs never have a top-2 logit gap under --min-margin (so 1e-4 logit noise cannot flip a token).

usage: golden_tiny_qwen2.py OUT_DIR [--seed N] [--new-tokens N]
Runs on CPU in float32 (a few seconds); needs torch, transformers, safetensors (peft optional).
"""
import argparse
import copy
import inspect
import json
import os
import shutil
import sys

import torch

HIDDEN, LAYERS, HEADS, KV_HEADS, INTER, VOCAB = 64, 2, 4, 2, 128, 300
ROPE_THETA, RMS_EPS = 1000000.0, 1e-6
PROMPT_LENS = (12, 7, 5)  # ragged; all start with the same SHARED_PREFIX tokens (the engine's
SHARED_PREFIX = 3         # shared-prefix path is checked against them too)
LORA_R, LORA_ALPHA, LORA_TARGETS = 4, 8, ["q_proj", "v_proj", "down_proj"]


def make_config():
    from transformers import Qwen2Config

    kw = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
              num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=256,
              rms_norm_eps=RMS_EPS, tie_word_embeddings=False, initializer_range=0.1, hidden_act="silu",
              use_sliding_window=False, attention_dropout=0.0, bos_token_id=1, eos_token_id=2,
              use_cache=False)
    params = inspect.signature(Qwen2Config.__init__).parameters
    if "rope_parameters" in params:  # transformers >= 5
        kw["rope_parameters"] = {"rope_type": "default", "rope_theta": ROPE_THETA}
    else:
        kw["rope_theta"] = ROPE_THETA
    cfg = Qwen2Config(**kw)
    try:
        cfg._attn_implementation = "eager"  # the plain softmax(QK^T)V reference
    except Exception as e:  # noqa: BLE001 - sdpa gives the same float32 logits to ~1e-7
        print(f"note: could not select eager attention ({e}); using the default", file=sys.stderr)
    return cfg


def build(seed):
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(make_config()).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.3)  # HF initialises biases to zero: make them matter
            elif "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
    emb, head = model.model.embed_tokens.weight, model.lm_head.weight
    assert emb.data_ptr() != head.data_ptr() and not torch.equal(emb, head), "lm_head must be untied"
    # The rotary tables must use the theta asked for (transformers 4 and 5 spell it differently).
    inv = getattr(model.model.rotary_emb, "inv_freq", None)
    if inv is not None:
        d = HIDDEN // HEADS
        want = 1.0 / (ROPE_THETA ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        assert torch.allclose(inv.float().cpu(), want), f"rope theta not applied: {inv} vs {want}"
    return model


@torch.no_grad()
def logits_of(model, ids):
    return model(input_ids=torch.tensor([ids])).logits[0].float()  # (T, V)


@torch.no_grad()
def greedy(model, ids, steps):
    seq, out, margin = list(ids), [], float("inf")
    for _ in range(steps):
        last = logits_of(model, seq)[-1]
        top2 = torch.topk(last, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        nxt = int(last.argmax())
        out.append(nxt)
        seq.append(nxt)
    return out, margin


def rounded(t):
    # 9 significant digits keep float32 exact enough (the test tolerance is 1e-4) and the file small.
    return [[float(f"{v:.9g}") for v in r] for r in t.tolist()]


def add_adapter(model, prompts, out_dir, seed):
    """LoRA on LORA_TARGETS with random A and B; returns (logits per prompt, how it was made)."""
    adir = os.path.join(out_dir, "adapter")
    os.makedirs(adir, exist_ok=True)
    gen = torch.Generator().manual_seed(seed + 1000)
    try:
        import peft
        from peft import LoraConfig, get_peft_model
    except ImportError:
        peft = None
    logits = None
    if peft is not None:
        try:
            pm = get_peft_model(copy.deepcopy(model), LoraConfig(
                r=LORA_R, lora_alpha=LORA_ALPHA, target_modules=LORA_TARGETS, lora_dropout=0.0,
                bias="none", task_type="CAUSAL_LM"))
            with torch.no_grad():
                for name, p in sorted(pm.named_parameters()):
                    if "lora_" in name:
                        p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
            pm.eval()
            logits = [rounded(logits_of(pm, ids)) for ids in prompts]
            pm.save_pretrained(adir)
            source = f"peft {peft.__version__}"
        except Exception as e:  # noqa: BLE001 - fall back to the hand-written layout below
            print(f"note: peft {peft.__version__} failed ({e!r}); writing the adapter by hand", file=sys.stderr)
            shutil.rmtree(adir)
            os.makedirs(adir)
            gen = torch.Generator().manual_seed(seed + 1000)
            logits = None
    if logits is None:
        from safetensors.torch import save_file

        merged = copy.deepcopy(model)
        tensors = {}
        scaling = LORA_ALPHA / LORA_R
        with torch.no_grad():
            for name, mod in sorted(merged.named_modules()):
                if name.split(".")[-1] not in LORA_TARGETS:
                    continue
                a = torch.randn(LORA_R, mod.in_features, generator=gen) * 0.2
                b = torch.randn(mod.out_features, LORA_R, generator=gen) * 0.2
                tensors[f"base_model.model.{name}.lora_A.weight"] = a.contiguous()
                tensors[f"base_model.model.{name}.lora_B.weight"] = b.contiguous()
                mod.weight += (b @ a) * scaling
        logits = [rounded(logits_of(merged, ids)) for ids in prompts]
        save_file(tensors, os.path.join(adir, "adapter_model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(adir, "adapter_config.json"), "w") as f:
            json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": LORA_R, "lora_alpha": LORA_ALPHA,
                       "lora_dropout": 0.0, "target_modules": LORA_TARGETS, "bias": "none",
                       "fan_in_fan_out": False, "use_rslora": False, "use_dora": False}, f, indent=2)
        source = "hand-merged (peft unavailable)"
    for extra in os.listdir(adir):  # PEFT also writes a README.md
        if extra not in ("adapter_config.json", "adapter_model.safetensors"):
            os.remove(os.path.join(adir, extra))
    return logits, source


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--min-margin", type=float, default=2e-3)
    ap.add_argument("--no-adapter", action="store_true")
    args = ap.parse_args()
    import transformers

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for seed in range(args.seed, args.seed + 50):
        model = build(seed)
        g = torch.Generator().manual_seed(seed)
        common = [int(x) for x in torch.randint(3, VOCAB, (SHARED_PREFIX,), generator=g)]
        prompts = [common + [int(x) for x in torch.randint(3, VOCAB, (n - SHARED_PREFIX,), generator=g)]
                   for n in PROMPT_LENS]
        runs = [greedy(model, p, args.new_tokens) for p in prompts]
        margin = min(m for _, m in runs)
        if margin >= args.min_margin:
            break
        print(f"seed {seed}: greedy top-2 margin {margin:.2e} < {args.min_margin}; next seed", file=sys.stderr)
    else:
        sys.exit("no seed gave well-separated greedy runs")

    out = args.out_dir
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    model.save_pretrained(out)  # safetensors by default (transformers >= 4.35)
    for extra in os.listdir(out):  # generation_config.json etc.: not part of the fixture
        if extra not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(out, extra))
    with open(os.path.join(out, "config.json")) as f:
        saved_cfg = json.load(f)
    golden = {
        "note": "written by scripts/golden_tiny_qwen2.py; checked by tests/test_golden.cpp",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "seed": seed,
        "config": {"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                   "num_key_value_heads": KV_HEADS, "head_dim": HIDDEN // HEADS, "intermediate_size": INTER,
                   "vocab_size": VOCAB, "rope_theta": ROPE_THETA, "rms_norm_eps": RMS_EPS,
                   "tie_word_embeddings": False},
        "prompts": prompts,
        "logits": [rounded(logits_of(model, p)) for p in prompts],
        "greedy": [ids for ids, _ in runs],
        "greedy_min_top2_margin": margin,
    }
    if not args.no_adapter:
        golden["adapter_logits"], golden["adapter_source"] = add_adapter(model, prompts, out, seed)
        golden["adapter"] = {"r": LORA_R, "lora_alpha": LORA_ALPHA, "target_modules": LORA_TARGETS}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    total = 0
    for root, _, files in os.walk(out):
        for name in sorted(files):
            size = os.path.getsize(os.path.join(root, name))
            total += size
            print(f"  {os.path.relpath(os.path.join(root, name), out)}: {size} bytes")
    print(f"golden: seed {seed}, transformers {transformers.__version__}, torch {torch.__version__}, "
          f"config keys {sorted(k for k in saved_cfg if 'rope' in k or 'dtype' in k)}, "
          f"min top-2 margin {margin:.3g}, {total} bytes in {out}")
    assert total < 1 << 20, "fixture must stay under 1 MiB"


if __name__ == "__main__":
    main()
