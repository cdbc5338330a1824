// AVX2 build of the matrix kernel; the source is matmul_kernel.inc.
#include <algorithm>

#include "engine/cpu_kernels.h"

#pragma GCC target("avx2,fma,f16c")
#define NAGENT_VW 8

namespace nagent::engine::avx2 {
#include "engine/matmul_kernel.inc"
}  // namespace nagent::engine::avx2
