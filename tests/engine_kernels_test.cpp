// CPU kernels: every matrix-kernel build this CPU runs (AVX-512, AVX2, generic) against a
// double-precision reference, for each weight dtype and for ragged shapes (rows not a multiple
// of 4, K not a multiple of the vector width, 1..9 and 33 tokens, bias, ldy > rows); half and
// bfloat16 conversions; the thread pool.
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
