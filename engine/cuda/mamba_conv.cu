// Mamba-2's causal depthwise conv1d with SiLU, over the carried conv state and the new xBC
// rows, for prefill (T tokens) and the decode step (one token of each of one or more sequences);
// then the conv state update. Also dt = softplus(dt_raw + dt_bias), clamped.
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

// Input row i of [state (K-1 rows) | xBC (T rows)] for channel ch.
__device__ __forceinline__ float conv_input(const float* zx, const float* state, const MambaDims& d, int64_t i,
                                            int ch) {
  return i < d.K - 1 ? state[i * d.conv_dim + ch] : zx[(i - (d.K - 1)) * d.in_out + d.d_inner + ch];
}

__global__ void conv_kernel(const float* zx, int64_t T, MambaDims d, const float* state, const float* w,
                            const float* b, float* out) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t t = blockIdx.y;
  if (ch >= d.conv_dim) return;
  float acc = b[ch];
  for (int k = 0; k < d.K; ++k) acc += w[k * d.conv_dim + ch] * conv_input(zx, state, d, t + k, ch);
  out[t * d.conv_dim + ch] = silu_f(acc);
}

// New state row r = input row T + r; ascending r reads each old row before it is overwritten.
__global__ void conv_state_kernel(const float* zx, int64_t T, MambaDims d, float* state) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= d.conv_dim) return;
  for (int r = 0; r < d.K - 1; ++r) state[r * d.conv_dim + ch] = conv_input(zx, state, d, T + r, ch);
}

__global__ void dt_kernel(const float* zx, int64_t T, MambaDims d, const float* dt_bias, float lo, float hi,
                          float* dt) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= T * d.heads) return;
  const int64_t t = i / d.heads;
  const int h = static_cast<int>(i % d.heads);
  const float x = zx[t * d.in_out + d.d_inner + d.conv_dim + h] + dt_bias[h];
  const float sp = x > 20.0f ? x : log1pf(expf(x));
  dt[i] = fminf(hi, fmaxf(lo, sp));
}

// The decode step in one launch, block row y = one sequence's row: thread ch convolves channel
// ch over its K-1 state rows and the new row, shifts its own state column (no other thread
// reads it), and threads h < heads also compute dt of head h. The same float operations as
// conv_kernel, conv_state_kernel, dt_kernel.
__global__ void conv_dt_step_kernel(const float* zx, MambaDims d, RowStates states, const float* w, const float* b,
                                    float* out, const float* dt_bias, DtLimits lim, float* dt) {
  const int64_t row = blockIdx.y;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  zx += row * d.in_out;
  if (i < d.heads) {
    const float lo = lim.pos && lim.pos[row] == 0 ? lim.lo_first : lim.lo;
    const float x = zx[d.d_inner + d.conv_dim + i] + dt_bias[i];
    const float sp = x > 20.0f ? x : log1pf(expf(x));
    dt[row * d.heads + i] = fminf(lim.hi, fmaxf(lo, sp));
  }
  if (i >= d.conv_dim) return;
  const int ch = i;
  float* state = row_state(states, row);
  float acc = b[ch];
  for (int k = 0; k < d.K; ++k) acc += w[k * d.conv_dim + ch] * conv_input(zx, state, d, k, ch);
  out[row * d.conv_dim + ch] = silu_f(acc);
  for (int r = 0; r < d.K - 1; ++r) state[r * d.conv_dim + ch] = conv_input(zx, state, d, 1 + r, ch);
}

}  // namespace

void mamba_conv_dt_step(const float* zx, int64_t rows, const MambaDims& d, const RowStates& conv_state,
                        const float* conv_w, const float* conv_b, float* out, const float* dt_bias,
                        const DtLimits& limits, float* dt, cudaStream_t stream) {
  if (rows == 0) return;
  const int n = d.conv_dim > d.heads ? d.conv_dim : d.heads;
  conv_dt_step_kernel<<<dim3(blocks_for(n, 256), static_cast<unsigned>(rows)), 256, 0, stream>>>(
      zx, d, conv_state, conv_w, conv_b, out, dt_bias, limits, dt);
  NAGENT_LAUNCH_CHECK();
}

void mamba_conv(const float* zx, int64_t T, const MambaDims& d, float* conv_state, const float* conv_w,
                const float* conv_b, float* out, cudaStream_t stream) {
  if (T == 0) return;
  conv_kernel<<<dim3(blocks_for(d.conv_dim, 256), T), 256, 0, stream>>>(zx, T, d, conv_state, conv_w, conv_b, out);
  NAGENT_LAUNCH_CHECK();
  conv_state_kernel<<<blocks_for(d.conv_dim, 256), 256, 0, stream>>>(zx, T, d, conv_state);
  NAGENT_LAUNCH_CHECK();
}

void mamba_dt(const float* zx, int64_t T, const MambaDims& d, const float* dt_bias, float lo, float hi, float* dt,
              cudaStream_t stream) {
  if (T == 0) return;
  dt_kernel<<<blocks_for(T * d.heads, 256), 256, 0, stream>>>(zx, T, d, dt_bias, lo, hi, dt);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
