#!/usr/bin/env python3
"""PyTorch-eager CPU baseline for bench/engine_cpu.cpp: writes a ~100M-parameter NemotronH
checkpoint with random weights (hub layout) and times transformers on the CPU, batch 1.

Usage: python3 bench_torch.py CKPT_DIR THREADS [fp32|bf16 ...] > torch.json
Prints one JSON object: the prompt ids and, per dtype, prefill tokens/s (PREFILL tokens,
last-position logits only, as generation does), decode tokens/s (DECODE greedy steps through
transformers' cache) and the path of the prompt's last-position logits (float32 little-endian),
which bench_engine_cpu checks its own against.
"""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nemotronh_ref as ref  # noqa: E402

PREFILL = 128
DECODE = 32

# ~104M parameters: 6 Mamba (d_inner 1536), 2 GQA attention, 6 ReLU² MLP layers, H=768, vocab 32000.
CONFIG = {
    "architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
    "vocab_size": 32000, "hidden_size": 768, "tie_word_embeddings": False,
    "hybrid_override_pattern": "M-M-M*-M-M-M*-", "num_hidden_layers": 14,
    "num_attention_heads": 12, "num_key_value_heads": 4, "head_dim": 64,
    "intermediate_size": 3072, "mlp_hidden_act": "relu2",
    "ssm_state_size": 64, "mamba_num_heads": 24, "mamba_head_dim": 64, "n_groups": 4,
    "conv_kernel": 4, "chunk_size": 128, "use_conv_bias": True, "use_mamba_kernels": False,
    "time_step_min": 0.001, "time_step_max": 0.1, "time_step_limit": [0.0, float("inf")],
    "layer_norm_epsilon": 1e-5, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
}


def write(ckpt_dir, dtype):
    cfg = dict(CONFIG, torch_dtype="bfloat16" if dtype == torch.bfloat16 else "float32")
    W = ref.stored(ref.hub_weights(cfg, 7), dtype)
    ref.write_checkpoint(ckpt_dir, cfg, W)
    return W


@torch.no_grad()
def time_model(model, vocab):
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(3, vocab, (1, PREFILL), generator=g)
    best_prefill, best_decode = float("inf"), float("inf")
    last_logits = None
    for _ in range(3):
        t0 = time.perf_counter()
        out = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
        t1 = time.perf_counter()
        cache = out.past_key_values
        last_logits = out.logits[0, -1].float().numpy()
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t2 = time.perf_counter()
        for _ in range(DECODE):
            out = model(input_ids=nxt, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t3 = time.perf_counter()
        best_prefill = min(best_prefill, t1 - t0)
        best_decode = min(best_decode, t3 - t2)
    return PREFILL / best_prefill, DECODE / best_decode, prompt[0].tolist(), last_logits


def main():
    base, threads = sys.argv[1], int(sys.argv[2])
    dtypes = sys.argv[3:] or ["bf16", "fp32"]
    torch.set_num_threads(threads)
    result = {"threads": threads, "prefill_tokens": PREFILL, "decode_tokens": DECODE,
              "torch": torch.__version__}
    for name in dtypes:
        dtype = torch.bfloat16 if name == "bf16" else torch.float32
        d = os.path.join(base, name)
        W = write(d, dtype)
        model = ref.load_into_hf(d, {k: v.float() for k, v in W.items()}, dtype, print)
        result["params"] = sum(p.numel() for p in model.parameters())
        pf, dc, prompt, last_logits = time_model(model, CONFIG["vocab_size"])
        logits_path = os.path.join(d, "last_logits.f32")
        last_logits.astype("<f4").tofile(logits_path)
        result["prompt_ids"] = prompt
        result[name] = {"prefill_tok_s": pf, "decode_tok_s": dc, "last_logits": logits_path}
        print(f"torch eager {name} threads={threads}: prefill {pf:.1f} tok/s, decode {dc:.2f} tok/s",
              file=sys.stderr, flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
