// Host-side launchers of the CUDA engine's kernels (implemented one concern per .cu file:
// elementwise.cu, norm.cu, mamba_conv.cu, ssd.cu, attention.cu, moe.cu, sampling.cu). All
// enqueue on `stream` and return at once; activations are fp32, weights bf16, states fp32,
// the KV cache bf16. Row-major throughout.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace nagent::engine::cuda {

using bf16 = __nv_bfloat16;

// --- elementwise.cu ---
// out[t, :] = table[tokens[t], :] as fp32.
void embed(const bf16* table, const int32_t* tokens, int64_t T, int64_t H, float* out, cudaStream_t stream);
void add_inplace(float* h, const float* y, int64_t n, cudaStream_t stream);
void to_bf16(const float* x, bf16* y, int64_t n, cudaStream_t stream);
// y = bf16(max(x, 0)^2): ReLU² on the fp32 value, rounded once (the MoE prefill's expert hidden rows).
void relu2_to_bf16(const float* x, bf16* y, int64_t n, cudaStream_t stream);
// x = max(x, 0)^2.
void relu2_inplace(float* x, int64_t n, cudaStream_t stream);
// y[t, n] += bias[n] for a [T, N] block with row stride ldy.
void add_bias(float* y, int64_t ldy, const float* bias, int64_t T, int64_t N, cudaStream_t stream);

// Raw tensor bytes of dtype code src_dtype (0 F32, 1 F16, 2 BF16) to bf16, n values.
void convert_to_bf16(const void* src, int src_dtype, int64_t n, bf16* dst, cudaStream_t stream);
// Deterministic pseudo-random fill, uniform in [-scale, scale] (benchmark shapes' weights).
void fill_uniform_bf16(bf16* dst, int64_t n, float scale, uint64_t seed, cudaStream_t stream);
void fill_uniform_f32(float* dst, int64_t n, float lo, float hi, uint64_t seed, cudaStream_t stream);

// *pos += n (the decode step's device-side position, advanced inside a captured graph).
void advance_position(int32_t* pos, int n, cudaStream_t stream);

// --- norm.cu ---
// y[t] = w * x[t] / sqrt(mean(x[t]^2) + eps) for T rows of H.
void rms_norm(const float* x, const float* w, int64_t T, int64_t H, float eps, float* y, cudaStream_t stream);
// The residual add fused with the next norm: h += delta; y = rms_norm(h).
void add_rms_norm(float* h, const float* delta, const float* w, int64_t T, int64_t H, float eps, float* y,
                  cudaStream_t stream);
// Mamba's gated grouped RMSNorm, in place on y [T, D]: u = y * silu(z) (z row stride ldz),
// normalised over each of G groups of D/G channels, times w [D].
void gated_group_rms_norm(float* y, const float* z, int64_t ldz, const float* w, int64_t T, int64_t D, int64_t G,
                          float eps, cudaStream_t stream);

// --- mamba_conv.cu / ssd.cu ---
struct MambaDims {
  int d_inner, conv_dim, heads, P, N, G, K, in_out;
};
// Causal depthwise conv1d + SiLU over [conv_state | xBC rows of zx] for T tokens (T = 1 is the
// decode step), then conv_state = the last K-1 inputs. conv_w is [K, conv_dim]. out [T, conv_dim].
void mamba_conv(const float* zx, int64_t T, const MambaDims& d, float* conv_state, const float* conv_w,
                const float* conv_b, float* out, cudaStream_t stream);
// dt[t, h] = clamp(softplus(zx[t, dt column h] + dt_bias[h]), lo, hi).
void mamba_dt(const float* zx, int64_t T, const MambaDims& d, const float* dt_bias, float lo, float hi, float* dt,
              cudaStream_t stream);
// Where the recurrent state of each row of a decode step lives: `one` sequence's state (the
// single-sequence step, rows == 1), or row r's own at rows[r] + offset (batched decode: a device
// array of one pointer per row, each 16-byte aligned; offset in floats, the same for all rows).
struct RowStates {
  float* one;
  float* const* rows;
  int64_t offset;
};
// dt's clamp [lo, hi]. With pos (device, one position per row), a row at position 0 clamps at
// lo_first instead (transformers' uncached first step, DtClamp::kTransformers); null: lo for all.
struct DtLimits {
  float lo, hi, lo_first;
  const int32_t* pos;
};
// The decode step's mamba_conv (T = 1) and mamba_dt in one launch, with the same results, for
// `rows` sequences at once: row r's zx row r, conv state states[r], out row r, dt row r.
void mamba_conv_dt_step(const float* zx, int64_t rows, const MambaDims& d, const RowStates& conv_state,
                        const float* conv_w, const float* conv_b, float* out, const float* dt_bias,
                        const DtLimits& limits, float* dt, cudaStream_t stream);
// One token per row: S = exp(dt A) S + dt x B^T, y = S C + D x, per head. conv: [rows, conv_dim]
// (x | B | C), dt [rows, heads], y [rows, d_inner]; row r's SSM state is ssm's row r.
void ssd_step(const float* conv, const float* dt, const float* A, const float* D, const MambaDims& d, int64_t rows,
              const RowStates& ssm, float* y, cudaStream_t stream);
// T tokens in chunks of Q (chunked SSD: intra-chunk quadratic form, chunk states, state passing,
// inter-chunk output), advancing ssm. y [T, d_inner]. workspace: ssd_workspace_floats(...).
int64_t ssd_workspace_floats(int64_t T, int64_t Q, const MambaDims& d);
void ssd_chunked(const float* conv, const float* dt, const float* A, const float* D, int64_t T, int64_t Q,
                 const MambaDims& d, float* ssm, float* y, float* workspace, cudaStream_t stream);
// Largest chunk, head and state sizes the SSD kernels take ("" when d/Q fit, else why not).
const char* ssd_unsupported(int64_t Q, const MambaDims& d);

// --- attention.cu ---
// A sequence's keys and values in the paged cache: page p of the sequence is pool page
// pages[p]; a pool page holds, for each of `slots` attention layers, K then V for page_size
// tokens of kvd = Hkv * hd values.
struct KvView {
  bf16* pool;
  const int32_t* pages;  // device
  int page_size, slots, slot, kvd;
};
// The rows of a decode step in the cache (device memory, read when the kernels run, so that a
// captured graph serves every position): row r is the token at position pos[r] of the sequence
// whose page table is tables[r] (tables null: kv.pages, one sequence).
struct DecodeSeqs {
  const int32_t* pos;
  const int32_t* const* tables;
};
// Writes k, v [T, kvd] (fp32) as positions pos.. pos+T-1 of kv.pages; with seqs.pos (the decode
// step) row t instead goes to its own sequence at seqs.pos[t] (pos unused).
void kv_append(const float* k, const float* v, int64_t T, int64_t pos, const KvView& kv, cudaStream_t stream,
               const DecodeSeqs& seqs = {nullptr, nullptr});
// Causal GQA attention of T new queries q [T, Hq*hd] at positions pos.. over keys 0..pos+t of
// the cache (already appended), scale hd^-0.5, fp32 softmax. Tiled, online softmax. out [T, Hq*hd].
void attention_prefill(const float* q, int64_t T, int64_t pos, int Hq, int Hkv, int hd, const KvView& kv, float* out,
                       cudaStream_t stream);
// One query per head for each of `rows` decode rows (q, out [rows, Hq*hd]; row r over keys
// 0..seqs.pos[r] of its sequence), split over the keys (flash-decoding) and combined. The grid
// is fixed by the row count (the most splits any length gets, fewer when many rows fill the GPU)
// and the split of the keys is computed on the device, so one captured launch serves every
// position. workspace: attention_decode_workspace_floats(...), independent of the positions.
int64_t attention_decode_workspace_floats(int64_t rows, int Hq, int Hkv, int hd);
void attention_decode(const float* q, int64_t rows, const DecodeSeqs& seqs, int Hq, int Hkv, int hd,
                      const KvView& kv, float* workspace, float* out, cudaStream_t stream);
const char* attention_unsupported(int Hq, int Hkv, int hd);

// --- moe.cu ---
struct RouteConfig {
  int E, k, n_group, topk_group;
  float scaling;
  bool norm_topk;
};
// Per token: sigmoid scores, correction bias for selection only, group-limited top-k (ties to
// the lower index), renormalised and scaled weights. ids/weights [T, k]. One warp per token
// (warp-wide arg-max per pick), the same picks in the same order as engine/moe.cpp's route().
void moe_route(const float* logits, const float* correction_bias, int64_t T, const RouteConfig& rc, int32_t* ids,
               float* weights, cudaStream_t stream);
// y[s, :] = act(W_e x_r) for slots s < S, W_e = W + ids[s] * expert_stride ([N, K] bf16),
// x_r = x + (s / x_div) * ldx. act: ReLU² when relu2. (Batched decode of routed experts.)
void expert_gemv(const bf16* W, int64_t expert_stride, const int32_t* ids, int64_t S, const float* x, int64_t ldx,
                 int x_div, int64_t K, int64_t N, bool relu2, float* y, cudaStream_t stream);
// The S = T*k slots grouped by expert on the device (no host round trip; a few tokens' worth,
// as batched decode has): slots[offsets[e] .. offsets[e+1]) are expert e's slots in slot order,
// experts[0 .. *n_experts) the experts with any slot, ascending. Sizes: offsets E+1, slots S,
// experts min(E, S), n_experts 1 (all device); S at most 10240.
struct ExpertGroups {
  int32_t* offsets;
  int32_t* slots;
  int32_t* experts;
  int32_t* n_experts;
};
void moe_group(const int32_t* ids, int64_t S, int E, const ExpertGroups& g, cudaStream_t stream);

// --- gemv.cu: bandwidth-bound products for the decode step (one token, or a few slots) ---
// All read the bf16 weights once with 16-byte streaming loads (coalesced across the warp, four
// in flight per lane), fp32 activations and accumulation, one to four warps per output row as
// the row count needs to fill the GPU. Each needs mv_supported(...) (K a multiple of 8, 16-byte
// aligned weights and activation rows); callers fall back to the older kernels otherwise.
bool mv_supported(const void* W, int64_t K, const float* x, int64_t ldx);
// Programmatic dependent launch of these kernels (see gemv.cu; NAGENT_CUDA_PDL=1 at start).
bool pdl();
void set_pdl(bool on);
// y[n] (+)= act(sum_k W[n, k] x[k]) for one token; accumulate adds to y (after the activation).
void gemv1(const bf16* W, int64_t N, int64_t K, const float* x, bool relu2, bool accumulate, float* y,
           cudaStream_t stream);
// Routed experts, all slots in one launch: y[s, :] = act(W_{ids[s]} x_{s / x_div}) as expert_gemv.
void expert_mv(const bf16* W, int64_t expert_stride, const int32_t* ids, int64_t S, const float* x, int64_t ldx,
               int x_div, int64_t K, int64_t N, bool relu2, float* y, cudaStream_t stream);
// Down projection fused with the weighted combine: out[t, n] = sum_j weights[t*k + j] *
// (W_{ids[t*k + j]} h_{t*k + j})[n], h rows of stride ldh; no per-slot outputs.
void expert_mv_combine(const bf16* W, int64_t expert_stride, const int32_t* ids, const float* weights, int64_t T,
                       int k, const float* h, int64_t ldh, int64_t K, int64_t N, float* out, cudaStream_t stream);
// Routed experts of grouped slots (moe_group): y[s, :] = act(W_e x_{s / x_div}) for every slot s
// of every expert e, each expert's rows read once for all its slots (batched decode, where most
// experts serve a few tokens each). One persistent block per SM whatever the routing, so a
// captured graph serves any. Needs mv_supported(W, K, x, ldx) and K up to about 3000 (eight
// slots' activations in shared memory; fewer slots per pass beyond, invalid_argument past about 25000).
void expert_group_mv(const bf16* W, int64_t expert_stride, const ExpertGroups& g, int64_t S, const float* x,
                     int64_t ldx, int x_div, int64_t K, int64_t N, bool relu2, float* y, cudaStream_t stream);
// fp32 router for a few tokens: logits[t, e] = sum_k W[e, k] x[t, k] (fp32 weights [E, K]).
void router_logits(const float* W, int64_t E, int64_t K, const float* x, int64_t T, float* logits,
                   cudaStream_t stream);

// out[i, :] = bf16(x[rows[i], :]) for i < n (token permutation into expert order).
void gather_rows_bf16(const float* x, int64_t L, const int32_t* rows, int64_t n, bf16* out, cudaStream_t stream);
// out[t, :] = sum_j weights[t, j] * ys[row(t*k + j), :], row = slot_row ? slot_row[s] : s, over
// the slots whose local_ids entry is not -1 (local_ids null: all of them).
void moe_combine(const float* ys, int64_t L, const int32_t* slot_row, const int32_t* local_ids, const float* weights,
                 int64_t T, int k, float* out, cudaStream_t stream);
// Expert parallelism (one rank of several, engine/partition.h): ids [S] in place become local
// expert indices, id - first where that is in [0, count), else -1 (another rank's expert).
// expert_gemv writes no row for a slot of id -1 and moe_group puts it in no group (the
// grouped and host-permuted paths then skip it); moe_combine then skips those slots, so their
// rows may be left unwritten.
void moe_localize(int32_t* ids, int64_t S, int first, int count, cudaStream_t stream);

// --- sampling.cu ---
// out[r] = argmax of logits row r (ties: lower id).
void argmax_rows(const float* logits, int64_t rows, int64_t V, int32_t* out, cudaStream_t stream);
struct SamplingParams {
  float temperature;  // > 0
  int top_k;          // 0: off
  float top_p;        // 1: off
  float min_p;        // 0: off
};
// The distribution the CPU Sampler draws from (engine/sampler.h): softmax at the temperature,
// then top-k, min-p, top-p over the tokens ordered by probability (ties: lower id). probs [V].
void sampling_distribution(const float* logits, int64_t V, const SamplingParams& p, float* probs, cudaStream_t stream);
// out = the first token whose running sum of probs (in id order) exceeds u, as Sampler::sample.
void sample_from(const float* probs, int64_t V, double u, int32_t* out, cudaStream_t stream);

}  // namespace nagent::engine::cuda
