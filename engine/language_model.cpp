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

ModelState LanguageModel::host_state(const ModelState& s) const {
  if (!s.device) return s;
  ModelState h;
  h.position = s.position;
  h.layers = s.device.get()->to_host();
  return h;
}

void LanguageModel::decode_batch(ModelState* const* states, const int32_t* tokens, int64_t n, float* logits) {
  const int64_t vocab = config().vocab_size;
  for (int64_t i = 0; i < n; ++i) forward(*states[i], tokens + i, 1, logits + i * vocab, false);
}

}  // namespace nagent::engine
