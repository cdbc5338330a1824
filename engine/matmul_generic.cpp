// baseline x86-64 (SSE2) build of the matrix kernel; the source is matmul_kernel.inc.
#include <algorithm>

#include "engine/cpu_kernels.h"

#define NAGENT_VW 4

namespace nagent::engine::generic {
#include "engine/matmul_kernel.inc"
}  // namespace nagent::engine::generic
