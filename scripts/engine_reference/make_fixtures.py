#!/usr/bin/env python3
"""Builds the small random NemotronH checkpoints of tests/fixtures/nemotronh/ with reference logits
from transformers, and writes what transformers actually does (sources of the modules the engine
must match) next to them.

Usage (on the GPU machine): python3 make_fixtures.py OUTDIR
Each fixture directory holds config.json, the weights (model.safetensors, or shards + index) and
reference.safetensors:
  prompt_ids [T] i64, prefill_logits [T,V] f32      full forward over the prompt, every position
  decode_ids [S] i64, decode_logits [S,V] f32        greedy decoding with transformers' cache;
                                                     decode_ids[0] = argmax(prefill_logits[-1]),
                                                     decode_logits[i] = logits after feeding decode_ids[i]
Main references follow NVIDIA's kernels / vLLM (no dt clamp: time_step_limit (0, inf)) and compute
in fp32 on the stored weights, except in dt_clamp_fp32, whose references are transformers' own
behaviour (dt clamped at time_step_min = 0.3 when prefilling, not in the cached decode step).
bf16 checkpoints add *_native keys: transformers computing in bf16.
"""
import copy
import inspect
import json
import os
import sys
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nemotronh_ref as ref  # noqa: E402

PROMPT_LEN = 40   # 3 SSD chunks of 16: prefill crosses chunk boundaries and ends mid-chunk
DECODE_STEPS = 64

BASE = {
    "architectures": ["NemotronHForCausalLM"],
    "model_type": "nemotron_h",
    "vocab_size": 256,
    "hidden_size": 64,
    "tie_word_embeddings": False,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "max_position_embeddings": 4096,
    "sliding_window": None,
    "rope_theta": 10000,
    "partial_rotary_factor": 1.0,
    "intermediate_size": 96,
    "mlp_hidden_act": "relu2",
    "mlp_bias": False,
    "use_mamba_kernels": False,
    "ssm_state_size": 16,
    "mamba_num_heads": 8,
    "mamba_head_dim": 8,
    "mamba_hidden_act": "silu",
    "n_groups": 2,
    "conv_kernel": 4,
    "expand": 2,
    "chunk_size": 16,
    "time_step_min": 0.001,
    "time_step_max": 0.1,
    "time_step_floor": 0.0001,
    "time_step_limit": [0.0, float("inf")],
    "use_conv_bias": True,
    "mamba_proj_bias": False,
    "use_bias": False,
    "mamba_ssm_cache_dtype": "float32",
    "n_routed_experts": 6,
    "n_shared_experts": 1,
    "moe_intermediate_size": 32,
    "moe_shared_expert_intermediate_size": 48,
    "moe_latent_size": None,
    "moe_shared_expert_overlap": False,
    "num_experts_per_tok": 2,
    "routed_scaling_factor": 2.5,
    "n_group": 1,
    "topk_group": 1,
    "norm_topk_prob": True,
    "num_nextn_predict_layers": 0,
    "layer_norm_epsilon": 1e-5,
    "norm_eps": 1e-5,
    "residual_in_fp32": False,
    "initializer_range": 0.02,
    "rescale_prenorm_residual": True,
    "hidden_dropout": 0.0,
    "num_logits_to_keep": 1,
    "use_cache": True,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
}


def fixture_configs():
    # Nano-like: Mamba (2 B/C groups), GQA attention, dense ReLU² MLP, MoE without latent, n_group 1.
    nano = dict(BASE, hybrid_override_pattern="M*-ME", num_hidden_layers=5)
    # Super-like: latent MoE with group-limited routing (4 groups, keep 2), 4 Mamba groups,
    # the list form of the layer pattern, a sharded checkpoint and an MTP head.
    sup = dict(BASE, n_groups=4, n_routed_experts=8, num_experts_per_tok=3, moe_latent_size=32,
               n_group=4, topk_group=2, routed_scaling_factor=5.0, num_nextn_predict_layers=1,
               mtp_hybrid_override_pattern="*E")
    sup["layers_block_type"] = [ref.LAYER_NAMES[c] for c in "MEM*E"]
    # dt clamp: time_step_min large enough that transformers' clamp changes most dt values.
    clamp = dict(BASE, hybrid_override_pattern="M*M", num_hidden_layers=3, hidden_size=32,
                 mamba_num_heads=4, time_step_min=0.3)
    return [
        # name, config, seed, dtype, shards
        ("nano_fp32", nano, 11, torch.float32, 1),
        ("nano_bf16", nano, 11, torch.bfloat16, 1),
        ("super_fp32", sup, 12, torch.float32, 2),
        ("super_bf16", sup, 12, torch.bfloat16, 1),
        ("dt_clamp_fp32", clamp, 13, torch.float32, 1),
    ]


@torch.no_grad()
def run_reference(model, prompt):
    """Prefill logits at every position, then greedy decoding through transformers' cache."""
    out = model(input_ids=prompt[None], use_cache=True)
    prefill = out.logits[0].float().clone()
    cache = out.past_key_values
    nxt = int(prefill[-1].argmax())
    ids, logits = [], []
    for _ in range(DECODE_STEPS):
        ids.append(nxt)
        out = model(input_ids=torch.tensor([[nxt]]), past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        row = out.logits[0, -1].float().clone()
        logits.append(row)
        nxt = int(row.argmax())
    return prefill, torch.tensor(ids, dtype=torch.int64), torch.stack(logits)


@torch.no_grad()
def reprefill_error(model, prompt, ids, decode_logits):
    """transformers' own decode-vs-full-forward consistency (logged, not stored)."""
    seq = torch.cat([prompt, ids])
    full = model(input_ids=seq[None]).logits[0].float()
    tail = full[len(prompt):]
    return float((tail - decode_logits).norm() / decode_logits.norm())


def rel(a, b):
    return float((a - b).norm() / b.norm())


def build(outdir, log):
    os.makedirs(outdir, exist_ok=True)
    for name, cfg, seed, dtype, shards in fixture_configs():
        t0 = time.time()
        try:
            cfg = copy.deepcopy(cfg)
            cfg["torch_dtype"] = "bfloat16" if dtype == torch.bfloat16 else "float32"
            directory = os.path.join(outdir, name)
            W = ref.stored(ref.hub_weights(cfg, seed), dtype)
            ref.write_checkpoint(directory, cfg, W, shards)
            Wf = {k: v.float() for k, v in W.items()}   # the stored values, computed in fp32
            g = torch.Generator().manual_seed(seed + 1000)
            prompt = torch.randint(3, cfg["vocab_size"], (PROMPT_LEN,), generator=g)

            model = ref.load_into_hf(directory, Wf, torch.float32, log)
            if not name.startswith("dt_clamp"):
                ref.set_dt_floor(model, 0.0)
            prefill, ids, dec = run_reference(model, prompt)
            tensors = {"prompt_ids": prompt.to(torch.int64), "prefill_logits": prefill,
                       "decode_ids": ids, "decode_logits": dec}
            log(f"{name}: transformers decode vs re-prefill rel err {reprefill_error(model, prompt, ids, dec):.3e}")
            if dtype == torch.bfloat16:
                native = ref.load_into_hf(directory, W, torch.bfloat16, log)
                ref.set_dt_floor(native, 0.0)
                p3, i3, d3 = run_reference(native, prompt)
                tensors.update(prefill_logits_native=p3, decode_ids_native=i3, decode_logits_native=d3)
                log(f"{name}: bf16-native vs fp32-compute prefill rel err {rel(p3, prefill):.3e}; "
                    f"greedy ids equal for {int((i3 == ids).cumprod(0).sum())} of {DECODE_STEPS} steps")

            # The released-checkpoint path: transformers' own loader must read our hub layout.
            from transformers import NemotronHForCausalLM
            loaded, info = NemotronHForCausalLM.from_pretrained(directory, dtype=torch.float32,
                                                               output_loading_info=True)
            loaded.eval()
            ref.set_dt_floor(loaded, 0.0)
            with torch.no_grad():
                lp = loaded(input_ids=prompt[None]).logits[0].float()
            log(f"{name}: from_pretrained loading info {dict((k, list(v)[:8]) for k, v in info.items())}; "
                f"logits vs manual load rel err {rel(lp, prefill):.3e}")

            save_file({k: v.contiguous() for k, v in tensors.items()},
                      os.path.join(directory, "reference.safetensors"), metadata={"format": "pt"})
            log(f"{name}: ok in {time.time() - t0:.1f}s; last-position logits std {float(prefill[-1].std()):.3f}")
        except Exception:
            log(f"{name}: FAILED\n{traceback.format_exc()}")


def dump_semantics(path, log):
    """Writes the transformers sources the engine mirrors, to check the reference doc's claims."""
    import transformers
    from transformers.models.nemotron_h import modeling_nemotron_h as mh
    parts = [f"transformers {transformers.__version__}, torch {torch.__version__}\n"]
    for obj in ["NemotronHMamba2Mixer.torch_forward", "NemotronHMoE.route_tokens_to_experts",
                "NemotronHMoE.forward", "NemotronHTopkRouter.forward", "NemotronHAttention.forward",
                "NemotronHBlock.forward", "NemotronHRMSNorm.forward", "NemotronHMLP.forward",
                "NemotronHModel.forward", "NemotronHForCausalLM.forward"]:
        try:
            cls, meth = obj.split(".")
            parts.append(f"===== {obj}\n{inspect.getsource(getattr(getattr(mh, cls), meth))}")
        except Exception as e:  # noqa: BLE001
            parts.append(f"===== {obj}: {e}\n")
    try:
        parts.append("===== gated norm\n" + inspect.getsource(mh.Zamba2RMSNormGated.forward))
    except Exception as e:  # noqa: BLE001
        parts.append(f"===== gated norm: {e}\n")
    try:
        from transformers import conversion_mapping as cm
        src = inspect.getsource(cm)
        i = src.find("nemotron_h")
        parts.append("===== conversion_mapping around nemotron_h\n" + src[max(0, i - 3000):i + 3000])
    except Exception as e:  # noqa: BLE001
        parts.append(f"===== conversion_mapping: {e}\n")
    try:
        import transformers.models.nemotron_h.configuration_nemotron_h as cfgmod
        parts.append("===== configuration\n" + inspect.getsource(cfgmod))
    except Exception as e:  # noqa: BLE001
        parts.append(f"===== configuration: {e}\n")
    with open(path, "w") as f:
        f.write("\n".join(parts))
    log(f"semantics written to {path}")


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    lines = []

    def log(msg):
        print(msg, flush=True)
        lines.append(msg)

    build(os.path.join(outdir, "nemotronh"), log)
    if len(sys.argv) > 2:
        dump_semantics(sys.argv[2], log)
    with open(os.path.join(outdir, "make_fixtures.log"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
