// AVX-512 build of the matrix kernel; the source is matmul_kernel.inc.
#include <algorithm>

#include "engine/cpu_kernels.h"

#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")
#define NAGENT_VW 16

namespace nagent::engine::avx512 {
#include "engine/matmul_kernel.inc"
}  // namespace nagent::engine::avx512
