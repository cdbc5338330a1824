#!/usr/bin/env python3
"""PyTorch-eager GPU baseline for bench/engine_cuda.cpp: transformers' NemotronHForCausalLM
(eager attention, its PyTorch Mamba path: the GPU machine has no mamba_ssm) with random bf16
weights on the GPU, the same shape as the CUDA engine's benchmark, timed the same way: batch-1
greedy decode after a PROMPT-token prompt, and one PREFILL-token prefill (last-position logits
only, as generation does).

Usage: python3 bench_torch_cuda.py CONFIG_JSON [--ours BENCH_LOG]
Prints one JSON line; with --ours (bench_engine_cuda's output from the same machine) also the
ratios engine / PyTorch.
"""
import argparse
import json
import os
import re
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

PROMPT = 1024
DECODE = 16
PREFILL = 8192


def sync_time():
    torch.cuda.synchronize()
    return time.perf_counter()


@torch.no_grad()
def decode_ms(model, vocab):
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(3, vocab, (1, PROMPT), generator=g).cuda()
    out = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
    cache, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(3):  # warm-up
        out = model(input_ids=nxt, past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
    t0 = sync_time()
    for _ in range(DECODE):
        out = model(input_ids=nxt, past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
    return (sync_time() - t0) * 1e3 / DECODE


@torch.no_grad()
def prefill_s(model, vocab, n):
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(3, vocab, (1, n), generator=g).cuda()
    t0 = sync_time()
    model(input_ids=ids, use_cache=False, logits_to_keep=1)
    return sync_time() - t0


def ours(log_path):
    """bench_engine_cuda's batch-1 decode tokens/s and prefill tokens/s, from its table."""
    text = open(log_path).read()
    dec = re.search(r"decode batch 1, context \d+\s+([\d.]+) t/s", text)
    pre = re.search(r"prefill \d+ tokens\s+([\d.]+) t/s", text)
    return (float(dec[1]) if dec else None), (float(pre[1]) if pre else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--ours", default=None)
    a = ap.parse_args()
    from transformers import NemotronHConfig, NemotronHForCausalLM

    with open(a.config) as f:
        cfg = json.load(f)
    cfg.update(use_mamba_kernels=False, torch_dtype="bfloat16")
    config = NemotronHConfig(**cfg)
    config._attn_implementation = "eager"
    t0 = time.perf_counter()
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = NemotronHForCausalLM(config).eval()
    torch.set_default_dtype(torch.float32)
    load_s = time.perf_counter() - t0
    vocab = cfg["vocab_size"]
    result = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "init_s": round(load_s, 1),
              "weights_gib": round(sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30, 2)}
    step = decode_ms(model, vocab)
    result.update(decode_context=PROMPT, decode_ms=round(step, 3), decode_tok_s=round(1e3 / step, 2))
    prefill_s(model, vocab, 512)  # warm-up of the prefill kernels
    s = prefill_s(model, vocab, PREFILL)
    result.update(prefill_tokens=PREFILL, prefill_s=round(s, 3), prefill_tok_s=round(PREFILL / s, 1),
                  peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 1))
    if a.ours:
        dec, pre = ours(a.ours)
        if dec:
            result["engine_decode_tok_s"], result["decode_ratio"] = dec, round(dec / result["decode_tok_s"], 2)
        if pre:
            result["engine_prefill_tok_s"], result["prefill_ratio"] = pre, round(pre / result["prefill_tok_s"], 2)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
