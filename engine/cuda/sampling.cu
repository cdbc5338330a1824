// Sampling on the GPU: greedy argmax per row, and the CPU Sampler's distribution (temperature,
// top-k, min-p, top-p, in that order, over tokens ordered by probability with ties to the lower
// id) followed by an inverse-CDF draw in id order. One block of 1024 threads per row: the
// k-th largest probability is found by bisection on its bit pattern (positive floats order as
// integers), so nothing is sorted.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kThreads = 1024;
using Reduce = cub::BlockReduce<double, kThreads>;

__global__ void __launch_bounds__(kThreads) argmax_kernel(const float* logits, int64_t V, int32_t* out) {
  const float* row = logits + blockIdx.x * V;
  float best = -INFINITY;
  int64_t idx = V;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x)  // ascending ids: strictly larger wins
    if (idx == V || row[i] > best) {
      best = row[i];
      idx = i;
    }
  __shared__ float bv[kThreads];
  __shared__ int64_t bi[kThreads];
  bv[threadIdx.x] = best;
  bi[threadIdx.x] = idx;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      const float ov = bv[threadIdx.x + s];
      const int64_t oi = bi[threadIdx.x + s];
      if (oi < V && (bi[threadIdx.x] == V || ov > bv[threadIdx.x] || (ov == bv[threadIdx.x] && oi < bi[threadIdx.x]))) {
        bv[threadIdx.x] = ov;
        bi[threadIdx.x] = oi;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<int32_t>(bi[0]);
}

// Sum over the block of f(i) for i < V, in double; every thread gets the result.
template <typename F>
__device__ double block_total(int64_t V, F f, Reduce::TempStorage& tmp, double* shared_result) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) s += f(i);
  s = Reduce(tmp).Sum(s);
  if (threadIdx.x == 0) *shared_result = s;
  __syncthreads();
  const double r = *shared_result;
  __syncthreads();
  return r;
}

// The largest positive float v with pred(v) true, where pred is monotone (true up to some v).
template <typename P>
__device__ float bisect(P pred) {
  uint32_t lo = 0, hi = 0x7f800000u;  // pred(0) holds; +inf is the upper end
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo + 1) / 2;
    if (pred(__uint_as_float(mid))) lo = mid;
    else hi = mid - 1;
  }
  return __uint_as_float(lo);
}

__global__ void __launch_bounds__(kThreads) distribution_kernel(const float* logits, int64_t V, SamplingParams p, float* e) {
  __shared__ Reduce::TempStorage tmp;
  __shared__ double result;
  __shared__ float mx_shared;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, logits[i]);
  mx = static_cast<float>(Reduce(tmp).Reduce(double(mx), [](double a, double b) { return a > b ? a : b; }));
  if (threadIdx.x == 0) mx_shared = mx;
  __syncthreads();
  mx = mx_shared;
  const double inv_t = 1.0 / p.temperature;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) e[i] = static_cast<float>(exp((logits[i] - mx) * inv_t));
  __syncthreads();
  auto count_ge = [&](float v) { return block_total(V, [&](int64_t i) { return e[i] >= v ? 1.0 : 0.0; }, tmp, &result); };
  const double total = block_total(V, [&](int64_t i) { return double(e[i]); }, tmp, &result);
  int64_t keep = V;
  if (p.top_k > 0) keep = min64(keep, p.top_k);
  if (p.min_p > 0.0f) {
    const float floor = p.min_p;  // min_p * p_max, and the largest e is exp(0) = 1
    keep = max64(1, min64(keep, static_cast<int64_t>(count_ge(floor))));
  }
  if (p.top_p < 1.0f) {
    const double target = double(p.top_p) * total;
    const float v = bisect([&](float v) {
      return block_total(V, [&](int64_t i) { return e[i] >= v ? double(e[i]) : 0.0; }, tmp, &result) >= target;
    });
    keep = max64(1, min64(keep, static_cast<int64_t>(count_ge(v))));
  }
  // The keep-th largest value, then the kept set: larger values, and equal ones by id.
  const float vk = bisect([&](float v) { return count_ge(v) >= double(keep); });
  const int64_t above = static_cast<int64_t>(block_total(V, [&](int64_t i) { return e[i] > vk ? 1.0 : 0.0; }, tmp, &result));
  const int64_t equal = static_cast<int64_t>(count_ge(vk)) - above;
  if (keep - above < equal && threadIdx.x == 0) {  // a tie at the cut: keep the lowest ids (rare)
    int64_t need = keep - above;
    for (int64_t i = 0; i < V; ++i)
      if (e[i] == vk) {
        if (need > 0) --need;
        else e[i] = 0.0f;
      }
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x)
    if (e[i] < vk) e[i] = 0.0f;
  __syncthreads();
  const double kept = block_total(V, [&](int64_t i) { return double(e[i]); }, tmp, &result);
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) e[i] = static_cast<float>(e[i] / kept);
}

__global__ void __launch_bounds__(kThreads) sample_kernel(const float* probs, int64_t V, double u, int32_t* out) {
  using Scan = cub::BlockScan<double, kThreads>;
  __shared__ typename Scan::TempStorage tmp;
  __shared__ double offset;
  __shared__ int64_t found, last;
  if (threadIdx.x == 0) {
    offset = 0.0;
    found = V;
    last = 0;
  }
  __syncthreads();
  for (int64_t base = 0; base < V; base += blockDim.x) {
    const int64_t i = base + threadIdx.x;
    const double pi = i < V ? double(probs[i]) : 0.0;
    double incl, chunk;
    Scan(tmp).InclusiveSum(pi, incl, chunk);
    const double acc = offset + incl;
    if (pi > 0.0) {
      if (u < acc) atomicMin(reinterpret_cast<unsigned long long*>(&found), static_cast<unsigned long long>(i));
      atomicMax(reinterpret_cast<unsigned long long*>(&last), static_cast<unsigned long long>(i));
    }
    __syncthreads();
    if (threadIdx.x == 0) offset += chunk;
    __syncthreads();
    if (found < V) break;
  }
  if (threadIdx.x == 0) out[0] = static_cast<int32_t>(found < V ? found : last);
}

}  // namespace

void argmax_rows(const float* logits, int64_t rows, int64_t V, int32_t* out, cudaStream_t stream) {
  if (rows == 0) return;
  argmax_kernel<<<rows, kThreads, 0, stream>>>(logits, V, out);
  NAGENT_LAUNCH_CHECK();
}

void sampling_distribution(const float* logits, int64_t V, const SamplingParams& p, float* probs,
                           cudaStream_t stream) {
  distribution_kernel<<<1, kThreads, 0, stream>>>(logits, V, p, probs);
  NAGENT_LAUNCH_CHECK();
}

void sample_from(const float* probs, int64_t V, double u, int32_t* out, cudaStream_t stream) {
  sample_kernel<<<1, kThreads, 0, stream>>>(probs, V, u, out);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
