"""A training-speed NemotronH in plain PyTorch: the same function as transformers'
NemotronHForCausalLM (and nagent's engine), with the same parameter names, so state dicts move
between the two unchanged. train.py checks the two agree on random input before it trains.

Why not transformers' model itself: its pure-PyTorch Mamba path (no mamba_ssm on the GPU
machine) and eager attention made training launch- and memory-bound (56k tokens/s on an H200).
Here attention goes through scaled_dot_product_attention (flash, GQA), the SSD scan is a few
batched einsums per chunk grid in fp32, and the MoE block evaluates all (few) experts densely,
weighting the unchosen ones by exactly zero, which is the same function.

Math: ../../shared/reference/nemotronh.md sections 1.5-1.8 (no positional encoding in attention,
ReLU² MLPs, sigmoid router with correction bias for choosing only, gated grouped RMSNorm in the
Mamba mixer, dt = softplus(dt + dt_bias) with no clamp, as NVIDIA's kernels and nagent do).
"""
import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class GatedGroupNorm(nn.Module):
    """RMSNorm of y * silu(z) over groups of d_inner / n_groups channels, in fp32."""

    def __init__(self, n, groups, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.groups, self.eps = groups, eps

    def forward(self, y, z):
        dtype = y.dtype
        u = y.float() * F.silu(z.float())
        shape = u.shape
        u = u.view(*shape[:-1], self.groups, shape[-1] // self.groups)
        u = u * torch.rsqrt(u.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * u.view(shape).to(dtype)


def ssd_scan(x, dt, A, B, C, Q):
    """Chunked SSD with zero initial state. x [b,T,h,p], dt [b,T,h], A [h], B/C [b,T,g,n];
    T a multiple of Q. Returns y [b,T,h,p] (without the D skip). All fp32."""
    b, T, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    r, c = h // g, T // Q
    a = (dt * A).view(b, c, Q, h).permute(0, 3, 1, 2)           # [b,h,c,Q]
    acum = torch.cumsum(a, dim=-1)
    X = (x * dt.unsqueeze(-1)).view(b, c, Q, h, p)
    Bc, Cc = B.view(b, c, Q, g, n), C.view(b, c, Q, g, n)
    causal = torch.ones(Q, Q, dtype=torch.bool, device=x.device).tril()
    # within chunks: (C_i . B_j) exp(acum_i - acum_j) X_j for j <= i
    seg = (acum.unsqueeze(-1) - acum.unsqueeze(-2)).masked_fill(~causal, float("-inf"))
    Lmat = torch.exp(seg).view(b, g, r, c, Q, Q)
    CB = torch.einsum("bcign,bcjgn->bgcij", Cc, Bc).unsqueeze(2)  # shared by a group's heads
    W = (CB * Lmat).view(b, h, c, Q, Q)
    y = torch.einsum("bhcij,bcjhp->bcihp", W, X)
    # each chunk's own state, then the states carried across chunks
    to_end = torch.exp(acum[..., -1:] - acum)                     # [b,h,c,Q]
    Bh = Bc.repeat_interleave(r, dim=3)                           # [b,c,Q,h,n]
    states = torch.einsum("bcjhn,bhcj,bcjhp->bchpn", Bh, to_end, X)
    totals = F.pad(acum[..., -1], (1, 0))                         # [b,h,c+1]
    tcum = torch.cumsum(totals, dim=-1)
    carry_mask = torch.ones(c + 1, c + 1, dtype=torch.bool, device=x.device).tril()
    decay = torch.exp((tcum.unsqueeze(-1) - tcum.unsqueeze(-2)).masked_fill(~carry_mask, float("-inf")))
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    carried = torch.einsum("bhzc,bchpn->bzhpn", decay, states)[:, :-1]  # state entering chunk z
    Ch = Cc.repeat_interleave(r, dim=3)
    y = y + torch.einsum("bcihn,bchpn,bhci->bcihp", Ch, carried, torch.exp(acum))
    return y.reshape(b, T, h, p)


class Mamba2Mixer(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c.hidden_size
        self.heads, self.P, self.N, self.G = c.mamba_num_heads, c.mamba_head_dim, c.ssm_state_size, c.n_groups
        self.d_inner = self.heads * self.P
        self.conv_dim = self.d_inner + 2 * self.G * self.N
        self.K, self.Q = c.conv_kernel, c.chunk_size
        self.in_proj = nn.Linear(H, self.d_inner + self.conv_dim + self.heads, bias=c.use_bias)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, self.K, groups=self.conv_dim, padding=self.K - 1,
                                bias=c.use_conv_bias)
        self.dt_bias = nn.Parameter(torch.ones(self.heads))
        self.A_log = nn.Parameter(torch.zeros(self.heads))
        self.D = nn.Parameter(torch.ones(self.heads))
        self.norm = GatedGroupNorm(self.d_inner, self.G, c.layer_norm_epsilon)
        self.out_proj = nn.Linear(self.d_inner, H, bias=c.use_bias)

    def forward(self, x):
        b, T, _ = x.shape
        z, xBC, dt = torch.split(self.in_proj(x), [self.d_inner, self.conv_dim, self.heads], dim=-1)
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :T].transpose(1, 2))
        xs, B, C = torch.split(xBC, [self.d_inner, self.G * self.N, self.G * self.N], dim=-1)
        with torch.autocast("cuda", enabled=False):
            dt = F.softplus(dt.float() + self.dt_bias.float())
            A = -torch.exp(self.A_log.float())
            xs4 = xs.float().view(b, T, self.heads, self.P)
            y = ssd_scan(xs4, dt, A, B.float().view(b, T, self.G, self.N), C.float().view(b, T, self.G, self.N),
                         self.Q)
            y = y + xs4 * self.D.float().view(1, 1, -1, 1)
        y = self.norm(y.reshape(b, T, self.d_inner).to(x.dtype), z)
        return self.out_proj(y)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c.hidden_size
        self.hq, self.hkv, self.hd = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.q_proj = nn.Linear(H, self.hq * self.hd, bias=c.attention_bias)
        self.k_proj = nn.Linear(H, self.hkv * self.hd, bias=c.attention_bias)
        self.v_proj = nn.Linear(H, self.hkv * self.hd, bias=c.attention_bias)
        self.o_proj = nn.Linear(self.hq * self.hd, H, bias=c.attention_bias)

    def forward(self, x):
        b, T, _ = x.shape
        q = self.q_proj(x).view(b, T, self.hq, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, T, self.hkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, T, self.hkv, self.hd).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.o_proj(o.transpose(1, 2).reshape(b, T, self.hq * self.hd))


class MLP(nn.Module):
    def __init__(self, H, inner, bias):
        super().__init__()
        self.up_proj = nn.Linear(H, inner, bias=bias)
        self.down_proj = nn.Linear(inner, H, bias=bias)

    def forward(self, x):
        return self.down_proj(F.relu(self.up_proj(x)).square())


class Router(nn.Module):
    def __init__(self, H, E):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(E, H))
        self.register_buffer("e_score_correction_bias", torch.zeros(E))


class Experts(nn.Module):
    """Routed experts stacked as transformers keeps them: up_proj [E, I, H], down_proj [E, H, I]."""

    def __init__(self, E, H, inner):
        super().__init__()
        self.up_proj = nn.Parameter(torch.empty(E, inner, H).normal_(std=0.02))
        self.down_proj = nn.Parameter(torch.empty(E, H, inner).normal_(std=0.02))


class MoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        if c.n_group != 1 or c.moe_latent_size:
            raise ValueError("fast_nemotronh: group-limited routing and latent MoE are not implemented here")
        H, E = c.hidden_size, c.n_routed_experts
        self.k, self.scale, self.norm_topk = c.num_experts_per_tok, c.routed_scaling_factor, c.norm_topk_prob
        self.gate = Router(H, E)
        self.experts = Experts(E, H, c.moe_intermediate_size)
        self.shared_experts = MLP(H, c.moe_shared_expert_intermediate_size, c.mlp_bias)

    def forward(self, x):
        with torch.autocast("cuda", enabled=False):
            s = torch.sigmoid(F.linear(x.float(), self.gate.weight.float()))
            idx = torch.topk(s + self.gate.e_score_correction_bias.float(), self.k, dim=-1).indices
            w = s.gather(-1, idx)
            if self.norm_topk:
                w = w / (w.sum(-1, keepdim=True) + 1e-20)
            w = w * self.scale
            weights = torch.zeros_like(s).scatter(-1, idx, w)  # [b,T,E], zero for unchosen experts
        h = F.relu(torch.einsum("bth,eih->btei", x, self.experts.up_proj.to(x.dtype))).square()
        y = torch.einsum("btei,ehi->bteh", h, self.experts.down_proj.to(x.dtype))
        routed = (y.float() * weights.unsqueeze(-1)).sum(2).to(x.dtype)
        return routed + self.shared_experts(x)


class Block(nn.Module):
    def __init__(self, c, kind):
        super().__init__()
        self.norm = RMSNorm(c.hidden_size, c.layer_norm_epsilon)
        if kind == "M":
            self.mixer = Mamba2Mixer(c)
        elif kind == "*":
            self.mixer = Attention(c)
        elif kind == "-":
            self.mixer = MLP(c.hidden_size, c.intermediate_size, c.mlp_bias)
        elif kind == "E":
            self.mixer = MoE(c)
        else:
            raise ValueError(f"unknown block type {kind!r}")

    def forward(self, h):
        return h + self.mixer(self.norm(h))


class Backbone(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(Block(c, kind) for kind in c.hybrid_override_pattern)
        self.norm_f = RMSNorm(c.hidden_size, c.layer_norm_epsilon)

    def forward(self, ids):
        h = self.embeddings(ids)
        for layer in self.layers:
            h = layer(h)
        return self.norm_f(h)


class FastNemotronH(nn.Module):
    """state_dict() keys equal transformers' NemotronHForCausalLM's (model.*, lm_head.weight)."""

    def __init__(self, config):
        super().__init__()
        self.model = Backbone(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(self, ids):
        return self.lm_head(self.model(ids))
