#include "engine/cpu_kernels.h"

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
}
namespace avx2 {
void matmul_rows(const Matrix&, const float*, int64_t, float*, int64_t, const float*, int64_t, int64_t);
}
namespace generic {
void matmul_rows(const Matrix&, const float*, int64_t, float*, int64_t, const float*, int64_t, int64_t);
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
    v.push_back({"avx512", &avx512::matmul_rows});
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    v.push_back({"avx2", &avx2::matmul_rows});
  v.push_back({"generic", &generic::matmul_rows});
  return v;
}

const char* matmul_isa() { return isa().isa; }

void matmul(ThreadPool& pool, const Matrix& W, const float* x, int64_t tokens, float* y, int64_t ldy,
            const float* bias) {
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

void rms_norm(const float* x, const float* w, int64_t n, float eps, float* y) {
  double ss = 0.0;  // double: the sum of squares of a 4096-wide fp32 row, exactly enough
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = w[i] * (x[i] * r);
}

}  // namespace nagent::engine
