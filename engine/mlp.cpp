// Dense MLP block (reference doc 1.6): down(relu(up(x))^2), no gate matrix.
#include <algorithm>

#include "engine/nemotronh.h"

namespace nagent::engine::blocks {

void mlp(NemotronH& m, const MlpWeights& w, const float* x, int64_t T, float* out) {
  const int64_t I = w.up.rows;
  float* h = m.work(kMixer0, T * I);
  m.matmul(w.up, x, T, h, I, w.up_bias);
  m.pool().run(T, [&](int64_t t) {
    for (float* v = h + t * I; v < h + (t + 1) * I; ++v) {
      const float r = std::max(*v, 0.0f);
      *v = r * r;
    }
  });
  m.matmul(w.down, h, T, out, w.down.rows, w.down_bias);
}

}  // namespace nagent::engine::blocks
