#include "engine/cpu_kernels.h"
#include "engine/matmul_amx.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace nagent::engine {

namespace avx512 {
void matmul_rows(const Matrix&, const float*, int64_t, float*, int64_t, const float*, int64_t, int64_t);
void gemm_f32(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool, bool);
}
namespace avx2 {
void matmul_rows(const Matrix&, const float*, int64_t, float*, int64_t, const float*, int64_t, int64_t);
void gemm_f32(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool, bool);
}
namespace generic {
void matmul_rows(const Matrix&, const float*, int64_t, float*, int64_t, const float*, int64_t, int64_t);
void gemm_f32(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool, bool);
}

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    u = sign;
  } else {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while (!(mant & 0x400u));
    u = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float load_as_f32(const void* data, DType dtype, int64_t i) {
  float f = 0.0f;
  convert_to_f32(data, dtype, i, 1, &f);
  return f;
}

void convert_to_f32(const void* data, DType dtype, int64_t first, int64_t n, float* out) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  switch (dtype) {
    case DType::F32: std::memcpy(out, p + first * 4, static_cast<size_t>(n) * 4); break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + (first + i) * 2, 2);
        out[i] = bf16_to_f32(h);
      }
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + (first + i) * 2, 2);
        out[i] = f16_to_f32(h);
      }
      break;
    default: std::fill(out, out + n, 0.0f); break;  // not reachable: weights are validated
  }
}

// ---------------------------------------------------------------------------------------------
// Thread pool. Workers spin briefly before sleeping: a forward pass issues a few hundred small
// parallel regions, and waking sleeping workers through the kernel for each one costs more than
// the work (measured on a 16-core VM: prefill spent more time in wake-ups than in matmuls).
constexpr std::chrono::microseconds kSpin(2000);

struct ThreadPool::State {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<uint64_t> generation{0};
  std::atomic<int64_t> next{0};
  std::atomic<int> busy{0};
  int64_t n = 0;
  const std::function<void(int64_t)>* fn = nullptr;
  bool stop = false;
  std::vector<std::thread> workers;

  void work() {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) (*fn)(i);
  }
};

ThreadPool::ThreadPool(int threads) : state_(std::make_unique<State>()) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = threads;
  State* s = state_.get();
  for (int i = 1; i < threads; ++i) {
    s->workers.emplace_back([s] {
      uint64_t seen = 0;
      for (;;) {
        // Spin for up to kSpin of wall time (not a count of pauses: PAUSE costs from 10 to 140
        // cycles across CPUs, and hypervisors may trap it), then sleep.
        uint64_t g = s->generation.load(std::memory_order_acquire);
        const auto until = std::chrono::steady_clock::now() + kSpin;
        for (int spin = 1; g == seen; ++spin) {
          __builtin_ia32_pause();
          g = s->generation.load(std::memory_order_acquire);
          if (spin % 256 == 0 && std::chrono::steady_clock::now() > until) break;
        }
        if (g == seen) {
          std::unique_lock<std::mutex> lock(s->mu);
          s->cv.wait(lock, [&] { return s->stop || s->generation.load() != seen; });
          if (s->stop) return;
          g = s->generation.load();
        }
        seen = g;
        s->work();
        s->busy.fetch_sub(1, std::memory_order_acq_rel);
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  for (auto& t : state_->workers) t.join();
}

void ThreadPool::run(int64_t n, const std::function<void(int64_t)>& fn) {
  State* s = state_.get();
  if (n <= 0) return;
  if (s->workers.empty() || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->fn = &fn;
    s->n = n;
    s->next.store(0, std::memory_order_relaxed);
    s->busy.store(static_cast<int>(s->workers.size()), std::memory_order_relaxed);
    s->generation.fetch_add(1, std::memory_order_release);
  }
  s->cv.notify_all();
  s->work();
  while (s->busy.load(std::memory_order_acquire) != 0) __builtin_ia32_pause();
}

// ---------------------------------------------------------------------------------------------

namespace {

const MatmulVariant& isa() {
  static const MatmulVariant chosen = matmul_variants().front();
  return chosen;
}

}  // namespace

std::vector<MatmulVariant> matmul_variants() {
  __builtin_cpu_init();
  std::vector<MatmulVariant> v;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("f16c"))
    v.push_back({"avx512", &avx512::matmul_rows, &avx512::gemm_f32});
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    v.push_back({"avx2", &avx2::matmul_rows, &avx2::gemm_f32});
  v.push_back({"generic", &generic::matmul_rows, &generic::gemm_f32});
  return v;
}

const char* matmul_isa() { return isa().isa; }

bool matmul_has_amx() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-bf16") &&
           __builtin_cpu_supports("avx512bf16") && amx::usable();
  }();
  return ok;
}

namespace {

// The AMX path: pack the tokens once (16 per task), then tasks of (W rows, 32 tokens) blocks,
// about 4 per thread, neighbouring tasks on the same W rows so those stay in the shared cache.
void matmul_amx(ThreadPool& pool, const Matrix& W, const float* x, int64_t tokens, float* y, int64_t ldy,
                const float* bias) {
  thread_local std::vector<uint16_t> packed;  // reused: the caller's thread owns it
  const int64_t K = W.cols, padded = (tokens + 15) / 16 * 16;
  if (packed.size() < static_cast<size_t>(padded * K)) packed.resize(static_cast<size_t>(padded * K));
  uint16_t* xp = packed.data();
  pool.run(padded / 16, [&](int64_t b) { amx::pack_tokens(x, tokens, K, b, xp); });
  const int64_t row_blocks = (W.rows + 31) / 32, token_groups = (padded + 31) / 32;
  const int64_t per_task = std::max<int64_t>(1, row_blocks * token_groups / (static_cast<int64_t>(pool.size()) * 4));
  const int64_t row_tasks = (row_blocks + per_task - 1) / per_task;
  pool.run(row_tasks * token_groups, [&](int64_t i) {
    const int64_t r0 = (i / token_groups) * per_task * 32, t0 = (i % token_groups) * 32;
    amx::matmul_rows(W, xp, tokens, y, ldy, bias, r0, std::min(W.rows, r0 + per_task * 32), t0,
                     std::min(padded, t0 + 32));
  });
}

}  // namespace

void matmul(ThreadPool& pool, const Matrix& W, const float* x, int64_t tokens, float* y, int64_t ldy,
            const float* bias, bool bf16_activations) {
  if (bf16_activations && W.dtype == DType::BF16 && tokens >= kAmxMinTokens && W.cols % 32 == 0 &&
      matmul_has_amx())
    return matmul_amx(pool, W, x, tokens, y, ldy, bias);
  const MatmulRowsFn fn = isa().rows;
  // Tasks of whole 4-row blocks; about 4 tasks per thread balances uneven progress without
  // making the W blocks too small to stream efficiently.
  const int64_t rows = W.rows;
  const int64_t target_tasks = static_cast<int64_t>(pool.size()) * 4;
  int64_t per_task = std::max<int64_t>(4, (rows / std::max<int64_t>(1, target_tasks) + 3) / 4 * 4);
  if (tokens * rows * W.cols < (1 << 16)) per_task = rows;  // tiny: not worth waking workers
  const int64_t tasks = (rows + per_task - 1) / per_task;
  pool.run(tasks, [&](int64_t i) {
    const int64_t r0 = i * per_task;
    fn(W, x, tokens, y, ldy, bias, r0, std::min(rows, r0 + per_task));
  });
}

void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
              int64_t ldc, bool accumulate, bool lower) {
  isa().gemm(M, N, K, A, lda, B, ldb, C, ldc, accumulate, lower);
}

void rms_norm(const float* x, const float* w, int64_t n, float eps, float* y) {
  double ss = 0.0;  // double: the sum of squares of a 4096-wide fp32 row, exactly enough
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = w[i] * (x[i] * r);
}

}  // namespace nagent::engine
