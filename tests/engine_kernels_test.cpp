// CPU kernels: every matrix-kernel build this CPU runs (AVX-512, AVX2, generic) against a
// double-precision reference, for each weight dtype and for ragged shapes (rows not a multiple
// of 4, K not a multiple of the vector width, 1..9 and 33 tokens, bias, ldy > rows); the fp32
// GEMM of the Mamba scan likewise; the AMX-BF16 prefill path against the same reference on
// bf16-rounded activations (on CPUs with AMX); half and bfloat16 conversions; the thread pool.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "engine/cpu_kernels.h"

using namespace nagent::engine;

namespace {

uint16_t f32_to_f16(float f) {  // test-side encoder (truncating; tiny values flush to zero)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const int exp = static_cast<int>((u >> 23) & 0xff) - 127 + 15;
  const uint32_t mant = (u >> 13) & 0x3ffu;
  if (exp <= 0) return static_cast<uint16_t>(sign);
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exp) << 10) | mant);
}

}  // namespace

TEST_CASE("half and bfloat16 conversions") {
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0xc000) == -2.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f16_to_f32(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(std::isinf(f16_to_f32(0x7c00)));
  CHECK(std::isnan(f16_to_f32(0x7e00)));
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  // Round to nearest even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 -> 1 (even mantissa).
  CHECK(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);
  CHECK(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST_CASE("every matmul build matches a double reference for every dtype and ragged shapes") {
  const auto variants = matmul_variants();
  REQUIRE(!variants.empty());
  INFO("dispatch picks " << matmul_isa());
  CHECK(std::string(matmul_isa()) == variants.front().isa);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (int64_t N : {1, 7, 20}) {
    for (int64_t K : {5, 16, 37, 70}) {
      std::vector<float> wf(static_cast<size_t>(N * K));
      for (auto& v : wf) v = normal(rng);
      std::vector<uint16_t> wb(wf.size()), wh(wf.size());
      for (size_t i = 0; i < wf.size(); ++i) {
        wb[i] = f32_to_bf16(wf[i]);
        wh[i] = f32_to_f16(wf[i]);
      }
      std::vector<float> bias(static_cast<size_t>(N));
      for (auto& v : bias) v = normal(rng);
      for (int64_t T : {1, 2, 3, 4, 5, 9, 33}) {
        std::vector<float> x(static_cast<size_t>(T * K));
        for (auto& v : x) v = normal(rng);
        const int64_t ldy = N + 3;
        for (auto [dtype, data] : {std::pair<DType, const void*>{DType::F32, wf.data()},
                                   {DType::BF16, wb.data()}, {DType::F16, wh.data()}}) {
          const Matrix W{data, dtype, N, K};
          for (const auto& v : variants) {
            INFO(v.isa << " " << dtype_name(dtype) << " N=" << N << " K=" << K << " T=" << T);
            std::vector<float> y(static_cast<size_t>(T * ldy), -12345.0f);
            v.rows(W, x.data(), T, y.data(), ldy, bias.data(), 0, N);
            for (int64_t t = 0; t < T; ++t) {
              for (int64_t n = 0; n < N; ++n) {
                double ref = bias[n], mag = std::fabs(bias[n]);
                for (int64_t k = 0; k < K; ++k) {
                  const double w = load_as_f32(data, dtype, n * K + k);
                  ref += w * x[t * K + k];
                  mag += std::fabs(w * x[t * K + k]);
                }
                REQUIRE(std::fabs(y[t * ldy + n] - ref) <= 1e-5 * mag + 1e-6);
              }
              for (int64_t n = N; n < ldy; ++n) REQUIRE(y[t * ldy + n] == -12345.0f);  // padding untouched
            }
          }
        }
      }
    }
  }
}

TEST_CASE("every gemm_f32 build matches a double reference: strides, accumulate, lower-triangular A") {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  for (const auto& v : matmul_variants()) {
    for (int64_t M : {1, 3, 4, 9}) {
      for (int64_t N : {1, 5, 16, 33, 64, 70}) {
        for (int64_t K : {1, 6, 17, 64}) {
          for (bool accumulate : {false, true}) {
            for (bool lower : {false, true}) {
              INFO(v.isa << " M=" << M << " N=" << N << " K=" << K << " acc=" << accumulate << " lower=" << lower);
              const int64_t lda = K + 2, ldb = N + 3, ldc = N + 1;
              std::vector<float> A(static_cast<size_t>(M * lda)), B(static_cast<size_t>(K * ldb)),
                  C(static_cast<size_t>(M * ldc));
              for (auto& x : A) x = normal(rng);
              for (auto& x : B) x = normal(rng);
              for (auto& x : C) x = normal(rng);
              if (lower)
                for (int64_t i = 0; i < M; ++i)
                  for (int64_t k = i + 1; k < K; ++k) A[i * lda + k] = 0.0f;
              const std::vector<float> before = C;
              v.gemm(M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc, accumulate, lower);
              for (int64_t i = 0; i < M; ++i) {
                for (int64_t j = 0; j < N; ++j) {
                  double ref = accumulate ? before[i * ldc + j] : 0.0, mag = std::fabs(ref);
                  for (int64_t k = 0; k < K; ++k) {
                    ref += double(A[i * lda + k]) * B[k * ldb + j];
                    mag += std::fabs(double(A[i * lda + k]) * B[k * ldb + j]);
                  }
                  REQUIRE(std::fabs(C[i * ldc + j] - ref) <= 1e-5 * mag + 1e-6);
                }
                for (int64_t j = N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == before[i * ldc + j]);  // padding untouched
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("AMX prefill matmul: bf16 weights on bf16-rounded activations, every row and token once") {
  if (!matmul_has_amx()) {
    WARN("this CPU has no AMX-BF16: the AMX path is not exercised here");
    return;
  }
  ThreadPool pool(3);
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  // Rows: one partial tile, a 16+8 tail, many blocks with a tail; tokens: one tile, ragged.
  for (int64_t N : {5, 24, 100, 1031}) {
    for (int64_t K : {32, 96}) {
      for (int64_t T : {16, 17, 40, 128}) {
        INFO("N=" << N << " K=" << K << " T=" << T);
        std::vector<uint16_t> w(static_cast<size_t>(N * K));
        for (auto& v : w) v = f32_to_bf16(normal(rng));
        std::vector<float> x(static_cast<size_t>(T * K)), bias(static_cast<size_t>(N));
        for (auto& v : x) v = normal(rng);
        for (auto& v : bias) v = normal(rng);
        const int64_t ldy = N + 2;
        std::vector<float> y(static_cast<size_t>(T * ldy), -12345.0f), exact(y);
        const Matrix W{w.data(), DType::BF16, N, K};
        matmul(pool, W, x.data(), T, y.data(), ldy, bias.data(), true);
        matmul(pool, W, x.data(), T, exact.data(), ldy, bias.data(), false);
        double diff = 0;
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t n = 0; n < N; ++n) {
            double ref = bias[n], mag = std::fabs(bias[n]);
            for (int64_t k = 0; k < K; ++k) {
              const double p = double(bf16_to_f32(w[n * K + k])) * bf16_to_f32(f32_to_bf16(x[t * K + k]));
              ref += p;
              mag += std::fabs(p);
            }
            REQUIRE(std::fabs(y[t * ldy + n] - ref) <= 1e-5 * mag + 1e-6);
            diff = std::max(diff, double(std::fabs(y[t * ldy + n] - exact[t * ldy + n])));
          }
          for (int64_t n = N; n < ldy; ++n) REQUIRE(y[t * ldy + n] == -12345.0f);
        }
        CHECK(diff > 0.0);  // the rounding is real: the fp32-activation path differs
      }
    }
  }
}

TEST_CASE("the threaded matmul covers every row exactly once") {
  ThreadPool pool(4);
  const int64_t N = 1031, K = 64, T = 3;
  std::vector<float> w(static_cast<size_t>(N * K), 0.0f), x(static_cast<size_t>(T * K), 1.0f), y(static_cast<size_t>(T * N));
  for (int64_t n = 0; n < N; ++n) w[n * K] = static_cast<float>(n);  // y[t, n] = n
  matmul(pool, Matrix{w.data(), DType::F32, N, K}, x.data(), T, y.data(), N);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) REQUIRE(y[t * N + n] == static_cast<float>(n));
}

TEST_CASE("thread pool runs each index once, repeatedly") {
  ThreadPool pool(3);
  for (int rep = 0; rep < 200; ++rep) {
    std::vector<std::atomic<int>> hits(97);
    pool.run(97, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
    for (auto& h : hits) REQUIRE(h.load() == 1);
  }
}
