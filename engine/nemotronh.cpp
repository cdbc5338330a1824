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
  engine::matmul(*pool_, W, x, T, y, ldy, bias.empty() ? nullptr : bias.data(),
                 options_.bf16_activations && !fp32_activations_);
}

float* NemotronH::work(WorkSlot slot, int64_t n) {
  std::vector<float>& b = work_[slot];
  if (b.size() < static_cast<size_t>(n)) b.resize(static_cast<size_t>(n));
  return b.data();
}

std::string NemotronH::device_description() const {
  return std::string("cpu ") + matmul_isa() + ", " + std::to_string(pool_->size()) + " threads";
}

void NemotronH::check_tokens(const int32_t* tokens, int64_t n) const {
  const int64_t V = w_.config.vocab_size;
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= V)
      throw std::out_of_range("token id " + std::to_string(tokens[i]) + " is outside the vocabulary [0, " +
                              std::to_string(V) + ")");
}

void NemotronH::check_state(const ModelState& state) const {
  if (state.device || state.layers.size() != w_.layers.size())
    throw std::invalid_argument("state belongs to another model");
}

void NemotronH::forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions) {
  forward_shard(state, tokens, n, logits, all_positions, ShardHooks{});
}

void NemotronH::forward_shard(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions,
                              const ShardHooks& hooks) {
  const int64_t V = w_.config.vocab_size;
  check_tokens(tokens, n);
  check_state(state);
  ModelState* const states[1] = {&state};
  for (int64_t done = 0; done < n;) {
    const int64_t b = std::min(options_.max_batch, n - done);
    const bool last = done + b == n;
    float* out = nullptr;
    if (logits && all_positions) out = logits + done * V;
    else if (logits && last) out = logits;
    forward_rows(states, &b, 1, tokens + done, out, all_positions, &hooks);
    done += b;
  }
}

void NemotronH::decode_batch(ModelState* const* states, const int32_t* tokens, int64_t n, float* logits) {
  if (n <= 0) return;
  check_tokens(tokens, n);
  for (int64_t i = 0; i < n; ++i) {
    check_state(*states[i]);
    for (int64_t j = 0; j < i; ++j)
      if (states[j] == states[i]) throw std::invalid_argument("decode_batch: the same state twice in one batch");
  }
  if (counts_.size() < static_cast<size_t>(options_.max_batch)) counts_.assign(static_cast<size_t>(options_.max_batch), 1);
  struct Fp32Scope {  // restored on exceptions too
    bool& flag;
    ~Fp32Scope() { flag = false; }
  } scope{fp32_activations_ = true};
  const int64_t V = w_.config.vocab_size;
  for (int64_t done = 0; done < n;) {
    const int64_t b = std::min(options_.max_batch, n - done);
    forward_rows(states + done, counts_.data(), b, tokens + done, logits ? logits + done * V : nullptr, false);
    done += b;
  }
}

void NemotronH::forward_rows(ModelState* const* states, const int64_t* counts, int64_t nseq, const int32_t* tokens,
                             float* logits, bool all_positions, const ShardHooks* hooks) {
  const ModelConfig& c = w_.config;
  const int64_t H = c.hidden_size;
  const float eps = static_cast<float>(c.layer_norm_epsilon);
  if (seq_rows_.size() < static_cast<size_t>(nseq)) seq_rows_.resize(static_cast<size_t>(nseq));
  blocks::SeqRows* seqs = seq_rows_.data();
  int64_t T = 0;
  for (int64_t i = 0; i < nseq; ++i) {
    seqs[i] = {nullptr, states[i]->position, T, counts[i]};
    T += counts[i];
  }
  float* h = work(kWorkHidden, T * H);
  float* x = work(kWorkNormed, T * H);
  float* y = work(kWorkMixerOut, T * H);
  pool_->run(T, [&](int64_t t) {
    convert_to_f32(w_.embeddings.data, w_.embeddings.dtype, static_cast<int64_t>(tokens[t]) * H, H, &h[t * H]);
  });

  for (size_t l = 0; l < w_.layers.size(); ++l) {
    const LayerWeights& lw = w_.layers[l];
    for (int64_t i = 0; i < nseq; ++i) seqs[i].state = &states[i]->layers[l];
    pool_->run(T, [&](int64_t t) { rms_norm(&h[t * H], lw.norm.data(), H, eps, &x[t * H]); });
    switch (lw.type) {
      case LayerType::kMamba: blocks::mamba2_seqs(*this, lw.mamba, seqs, nseq, x, y); break;
      case LayerType::kAttention: blocks::attention_seqs(*this, lw.attention, seqs, nseq, x, y); break;
      case LayerType::kMlp: blocks::mlp(*this, lw.mlp, x, T, y); break;
      case LayerType::kMoe:
        if (hooks && hooks->moe) hooks->moe(lw.moe, x, T, y);
        else blocks::moe(*this, lw.moe, x, T, y);
        break;
    }
    if (hooks && hooks->all_reduce_sum) hooks->all_reduce_sum(y, T * H);
    pool_->run(T, [&](int64_t t) {
      for (int64_t i = t * H; i < (t + 1) * H; ++i) h[i] += y[i];
    });
  }
  for (int64_t i = 0; i < nseq; ++i) states[i]->position += counts[i];
  if (!logits) return;
  // The rows that get logits: all, or the last of each sequence, gathered normed into x.
  const int64_t rows = all_positions ? T : nseq;
  pool_->run(rows, [&](int64_t r) {
    const int64_t t = all_positions ? r : seqs[r].row0 + seqs[r].T - 1;
    rms_norm(&h[t * H], w_.norm_f.data(), H, eps, &x[r * H]);
  });
  matmul(w_.lm_head, x, rows, logits, c.vocab_size);
}

namespace blocks {
const SeqRows& seq_of_row(const SeqRows* seqs, int64_t n, int64_t row) {
  if (n == 1) return seqs[0];
  if (seqs[n - 1].row0 + seqs[n - 1].T == n) return seqs[row];  // one row each (batched decode)
  const SeqRows* it = std::upper_bound(seqs, seqs + n, row, [](int64_t r, const SeqRows& s) { return r < s.row0; });
  return *(it - 1);
}
}  // namespace blocks

}  // namespace nagent::engine
