#include "engine/nemotronh.h"

#include <algorithm>
#include <stdexcept>

namespace nagent::engine {

std::unique_ptr<NemotronH> NemotronH::load(const std::string& dir, const EngineOptions& options) {
  return std::make_unique<NemotronH>(load_model_weights(dir), options);
}

NemotronH::NemotronH(ModelWeights weights, const EngineOptions& options)
    : w_(std::move(weights)), options_(options), pool_(std::make_unique<ThreadPool>(options.threads)) {
  if (options_.max_batch < 1) options_.max_batch = 1;
}

void NemotronH::matmul(const Matrix& W, const float* x, int64_t T, float* y, int64_t ldy,
                       const std::vector<float>& bias) {
  engine::matmul(*pool_, W, x, T, y, ldy, bias.empty() ? nullptr : bias.data(), options_.bf16_activations);
}

float* NemotronH::work(WorkSlot slot, int64_t n) {
  std::vector<float>& b = work_[slot];
  if (b.size() < static_cast<size_t>(n)) b.resize(static_cast<size_t>(n));
  return b.data();
}

std::string NemotronH::device_description() const {
  return std::string("cpu ") + matmul_isa() + ", " + std::to_string(pool_->size()) + " threads";
}

void NemotronH::forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions) {
  const int64_t V = w_.config.vocab_size;
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= V)
      throw std::out_of_range("token id " + std::to_string(tokens[i]) + " is outside the vocabulary [0, " +
                              std::to_string(V) + ")");
  if (state.device || state.layers.size() != w_.layers.size())
    throw std::invalid_argument("state belongs to another model");
  for (int64_t done = 0; done < n;) {
    const int64_t b = std::min(options_.max_batch, n - done);
    const bool last = done + b == n;
    float* out = nullptr;
    if (logits && all_positions) out = logits + done * V;
    else if (logits && last) out = logits;
    forward_batch(state, tokens + done, b, out, all_positions);
    done += b;
  }
}

void NemotronH::forward_batch(ModelState& state, const int32_t* tokens, int64_t T, float* logits,
                              bool all_positions) {
  const ModelConfig& c = w_.config;
  const int64_t H = c.hidden_size;
  const float eps = static_cast<float>(c.layer_norm_epsilon);
  float* h = work(kWorkHidden, T * H);
  float* x = work(kWorkNormed, T * H);
  float* y = work(kWorkMixerOut, T * H);
  for (int64_t t = 0; t < T; ++t)
    convert_to_f32(w_.embeddings.data, w_.embeddings.dtype, static_cast<int64_t>(tokens[t]) * H, H, &h[t * H]);

  for (size_t l = 0; l < w_.layers.size(); ++l) {
    const LayerWeights& lw = w_.layers[l];
    pool_->run(T, [&](int64_t t) { rms_norm(&h[t * H], lw.norm.data(), H, eps, &x[t * H]); });
    switch (lw.type) {
      case LayerType::kMamba: blocks::mamba2(*this, lw.mamba, state.layers[l], state.position, x, T, y); break;
      case LayerType::kAttention: blocks::attention(*this, lw.attention, state.layers[l], state.position, x, T, y); break;
      case LayerType::kMlp: blocks::mlp(*this, lw.mlp, x, T, y); break;
      case LayerType::kMoe: blocks::moe(*this, lw.moe, x, T, y); break;
    }
    pool_->run(T, [&](int64_t t) {
      for (int64_t i = t * H; i < (t + 1) * H; ++i) h[i] += y[i];
    });
  }
  state.position += T;
  if (!logits) return;
  const int64_t first = all_positions ? 0 : T - 1;
  const int64_t rows = T - first;
  for (int64_t t = first; t < T; ++t) rms_norm(&h[t * H], w_.norm_f.data(), H, eps, &x[(t - first) * H]);
  matmul(w_.lm_head, x, rows, logits, c.vocab_size);
}

}  // namespace nagent::engine
