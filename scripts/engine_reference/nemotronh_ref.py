"""Shared helpers for the NemotronH reference scripts (run on the GPU machine, where PyTorch and
transformers are): hub-layout random weights, writing checkpoints, loading them into transformers.

Checkpoints are written in the layout of the released Hugging Face checkpoints (`backbone.` prefix,
one tensor per expert), because that is what the C++ engine must read. transformers renames and
stacks them itself when it loads; `load_into_hf` does that mapping by hand so a mismatch shows up
as an error here rather than as silently random-initialised tensors.
"""
import json
import os
import re

import torch
from safetensors.torch import save_file

LAYER_NAMES = {"M": "linear_attention", "*": "full_attention", "-": "mlp", "E": "moe"}


def layer_chars(cfg):
    if "hybrid_override_pattern" in cfg:
        return list(cfg["hybrid_override_pattern"])
    reverse = {v: k for k, v in LAYER_NAMES.items()}
    return [reverse[t] for t in cfg["layers_block_type"]]


def _randn(g, *shape, std=1.0, mean=0.0):
    return torch.randn(*shape, generator=g) * std + mean


def _mlp(W, prefix, g, d_in, d_hidden):
    W[prefix + "up_proj.weight"] = _randn(g, d_hidden, d_in, std=d_in ** -0.5)
    # relu(N(0,1))^2 has mean 0.5 and std ~1.1: scale down so the block output stays O(1).
    W[prefix + "down_proj.weight"] = _randn(g, d_in, d_hidden, std=0.7 * d_hidden ** -0.5)


def _moe(W, m, g, cfg):
    H = cfg["hidden_size"]
    E = cfg["n_routed_experts"]
    L = cfg.get("moe_latent_size") or H
    W[m + "gate.weight"] = _randn(g, E, H, std=H ** -0.5)
    W[m + "gate.e_score_correction_bias"] = _randn(g, E, std=0.2)
    for j in range(E):
        _mlp(W, f"{m}experts.{j}.", g, L, cfg["moe_intermediate_size"])
    _mlp(W, m + "shared_experts.", g, H, cfg["moe_shared_expert_intermediate_size"])
    if cfg.get("moe_latent_size"):
        W[m + "fc1_latent_proj.weight"] = _randn(g, L, H, std=H ** -0.5)
        W[m + "fc2_latent_proj.weight"] = _randn(g, H, L, std=L ** -0.5)


def _attention(W, m, g, cfg):
    H = cfg["hidden_size"]
    hd = cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    W[m + "q_proj.weight"] = _randn(g, q, H, std=H ** -0.5)
    W[m + "k_proj.weight"] = _randn(g, kv, H, std=H ** -0.5)
    W[m + "v_proj.weight"] = _randn(g, kv, H, std=H ** -0.5)
    W[m + "o_proj.weight"] = _randn(g, H, q, std=q ** -0.5)


def hub_weights(cfg, seed):
    """Random fp32 weights in the released checkpoints' layout, scaled so every block changes
    the residual stream visibly (transformers' own init is too small to test anything)."""
    g = torch.Generator().manual_seed(seed)
    H, V = cfg["hidden_size"], cfg["vocab_size"]
    W = {}
    W["backbone.embeddings.weight"] = _randn(g, V, H)
    for l, c in enumerate(layer_chars(cfg)):
        p = f"backbone.layers.{l}."
        W[p + "norm.weight"] = _randn(g, H, std=0.1, mean=1.0)
        m = p + "mixer."
        if c == "M":
            Hm, P, N, G, K = (cfg["mamba_num_heads"], cfg["mamba_head_dim"], cfg["ssm_state_size"],
                              cfg["n_groups"], cfg["conv_kernel"])
            d_inner = Hm * P
            conv_dim = d_inner + 2 * G * N
            W[m + "in_proj.weight"] = _randn(g, 2 * d_inner + 2 * G * N + Hm, H, std=H ** -0.5)
            W[m + "conv1d.weight"] = _randn(g, conv_dim, 1, K, std=0.5)
            W[m + "conv1d.bias"] = _randn(g, conv_dim, std=0.1)
            # A in [-16, -1] and dt around softplus(-2): decays from ~0.97 to ~1e-3 per step, so the
            # state carries information across chunk boundaries and some heads forget fast.
            W[m + "A_log"] = torch.log(torch.rand(Hm, generator=g) * 15 + 1)
            W[m + "dt_bias"] = _randn(g, Hm, std=1.0, mean=-2.0)
            W[m + "D"] = _randn(g, Hm, std=0.1, mean=1.0)
            W[m + "norm.weight"] = _randn(g, d_inner, std=0.1, mean=1.0)
            W[m + "out_proj.weight"] = _randn(g, H, d_inner, std=d_inner ** -0.5)
        elif c == "*":
            _attention(W, m, g, cfg)
        elif c == "-":
            _mlp(W, m, g, H, cfg["intermediate_size"])
        elif c == "E":
            _moe(W, m, g, cfg)
    W["backbone.norm_f.weight"] = _randn(g, H, std=0.1, mean=1.0)
    W["lm_head.weight"] = _randn(g, V, H, std=H ** -0.5)
    for d in range(cfg.get("num_nextn_predict_layers", 0) or 0):
        # MTP head (Super): transformers ignores mtp.*, the engine validates it.
        chars = list(cfg.get("mtp_hybrid_override_pattern", "*E"))
        for i, c in enumerate(chars):
            p = f"mtp.layers.{i}."
            if i == 0:
                W[p + "enorm.weight"] = _randn(g, H, std=0.1, mean=1.0)
                W[p + "hnorm.weight"] = _randn(g, H, std=0.1, mean=1.0)
                W[p + "eh_proj.weight"] = _randn(g, H, 2 * H, std=(2 * H) ** -0.5)
            W[p + "norm.weight"] = _randn(g, H, std=0.1, mean=1.0)
            if c == "*":
                _attention(W, p + "mixer.", g, cfg)
            elif c == "E":
                _moe(W, p + "mixer.", g, cfg)
            if i == len(chars) - 1:
                W[p + "final_layernorm.weight"] = _randn(g, H, std=0.1, mean=1.0)
    return W


def stored(W, dtype):
    """The tensors as they go to disk: everything in `dtype` except the router correction bias,
    which the released checkpoints keep in fp32."""
    return {k: (v if k.endswith("e_score_correction_bias") else v.to(dtype)).contiguous() for k, v in W.items()}


def write_checkpoint(directory, cfg, W, shards=1):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    names = list(W.keys())
    if shards == 1:
        save_file(W, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map, total = {}, 0
    for s in range(shards):
        part = names[s::shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: W[k] for k in part}, os.path.join(directory, fname), metadata={"format": "pt"})
        for k in part:
            weight_map[k] = fname
            total += W[k].numel() * W[k].element_size()
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)


def hf_state_dict(W):
    """Hub layout -> transformers' internal layout (model. prefix, experts stacked [E, out, in])."""
    out, experts = {}, {}
    for name, t in W.items():
        if name.startswith("mtp."):
            continue
        n = "model." + name[len("backbone."):] if name.startswith("backbone.") else name
        m = re.match(r"(model\.layers\.\d+\.mixer\.experts)\.(\d+)\.(up_proj|down_proj)\.weight$", n)
        if m:
            experts.setdefault((m[1], m[3]), {})[int(m[2])] = t
            continue
        out[n] = t
    for (prefix, which), d in experts.items():
        out[f"{prefix}.{which}"] = torch.stack([d[j] for j in range(len(d))])
    return out


def load_into_hf(directory, W, compute_dtype, log):
    """A transformers model for the checkpoint in `directory` with exactly the tensors W."""
    from transformers import AutoConfig, NemotronHForCausalLM

    config = AutoConfig.from_pretrained(directory)
    config._attn_implementation = "eager"
    model = NemotronHForCausalLM(config).eval()
    sd = hf_state_dict(W)
    want = model.state_dict()
    missing = sorted(set(want) - set(sd))
    extra = sorted(set(sd) - set(want))
    bad = [k for k in sd if k in want and tuple(want[k].shape) != tuple(sd[k].shape)]
    if missing or extra or bad:
        raise RuntimeError(f"state dict mismatch: missing={missing} extra={extra} bad_shape={bad}")
    model.load_state_dict(sd, strict=True)
    model.to(compute_dtype)
    for mod in model.modules():
        # The released checkpoints keep the correction bias in fp32 and transformers keeps it so.
        if hasattr(mod, "e_score_correction_bias"):
            mod.e_score_correction_bias.data = mod.e_score_correction_bias.data.float()
    return model


def set_dt_floor(model, floor):
    """transformers 5.17 clamps dt at time_step_min in its chunked (prefill) path: the mixer keeps
    time_step_limit = (config.time_step_min, inf) and passes it as dt_limit; its one-token cached
    step applies no clamp. NVIDIA's kernels and vLLM clamp to config.time_step_limit ((0, inf)).
    floor=0.0 gives NVIDIA's behaviour. Older transformers read the attribute time_step_min."""
    n = 0
    for mod in model.modules():
        if type(mod).__name__ == "NemotronHMamba2Mixer":
            mod.time_step_limit = (floor, float("inf"))
            mod.time_step_min = floor
            n += 1
    return n


def hub_state_dict(sd):
    """transformers' internal layout -> hub layout (the inverse of hf_state_dict)."""
    out = {}
    for n, t in sd.items():
        name = "backbone." + n[len("model."):] if n.startswith("model.") else n
        m = re.match(r"(backbone\.layers\.\d+\.mixer\.experts)\.(up_proj|down_proj)$", name)
        if m:
            for j in range(t.shape[0]):
                out[f"{m[1]}.{j}.{m[2]}.weight"] = t[j].contiguous()
            continue
        out[name] = t.contiguous()
    return out
