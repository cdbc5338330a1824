// Dense MLP block (reference doc 1.6): down(relu(up(x))^2), no gate matrix.
#include <algorithm>

#include "engine/nemotronh.h"

namespace nagent::engine::blocks {

void mlp(NemotronH& m, const MlpWeights& w, const float* x, int64_t T, float* out) {
  const int64_t I = w.up.rows;
  std::vector<float> h(static_cast<size_t>(T * I));
  matmul(m.pool(), w.up, x, T, h.data(), I, w.up_bias.empty() ? nullptr : w.up_bias.data());
  for (float& v : h) {
    const float r = std::max(v, 0.0f);
    v = r * r;
  }
  matmul(m.pool(), w.down, h.data(), T, out, w.down.rows, w.down_bias.empty() ? nullptr : w.down_bias.data());
}

}  // namespace nagent::engine::blocks
