#include "engine/language_model.h"

namespace nagent::engine {

ModelState zero_host_state(const ModelConfig& c) {
  ModelState s;
  s.layers.resize(c.layers.size());
  for (size_t l = 0; l < c.layers.size(); ++l) {
    if (c.layers[l] == LayerType::kMamba) {
      s.layers[l].conv.assign(static_cast<size_t>((c.conv_kernel - 1) * c.conv_dim()), 0.0f);
      s.layers[l].ssm.assign(static_cast<size_t>(c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size), 0.0f);
    }
  }
  return s;
}

}  // namespace nagent::engine
