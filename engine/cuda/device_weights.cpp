#include "engine/cuda/device_weights.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr size_t kStageBytes = 64 << 20;

// Copies tensors host -> device through two pinned staging buffers: the CPU fills one (reading
// the memory-mapped file) while the GPU converts the other to bf16.
class Uploader {
 public:
  Uploader(cudaStream_t stream) : stream_(stream) {
    for (int i = 0; i < 2; ++i) {
      NAGENT_CUDA_CHECK(cudaMallocHost(&pinned_[i], kStageBytes));
      NAGENT_CUDA_CHECK(cudaMalloc(&device_[i], kStageBytes));
      NAGENT_CUDA_CHECK(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming));
      NAGENT_CUDA_CHECK(cudaEventRecord(done_[i], stream_));
    }
  }
  ~Uploader() {
    cudaStreamSynchronize(stream_);
    for (int i = 0; i < 2; ++i) {
      cudaFreeHost(pinned_[i]);
      cudaFree(device_[i]);
      cudaEventDestroy(done_[i]);
    }
  }

  void matrix(const Matrix& m, bf16* dst) {
    const int code = m.dtype == DType::F32 ? 0 : m.dtype == DType::F16 ? 1 : 2;
    const size_t esize = dtype_size(m.dtype);
    const int64_t n = m.rows * m.cols, per = static_cast<int64_t>(kStageBytes / esize);
    const uint8_t* src = static_cast<const uint8_t*>(m.data);
    for (int64_t off = 0; off < n; off += per) {
      const int64_t cnt = std::min(per, n - off);
      NAGENT_CUDA_CHECK(cudaEventSynchronize(done_[next_]));
      std::memcpy(pinned_[next_], src + off * esize, static_cast<size_t>(cnt) * esize);
      NAGENT_CUDA_CHECK(cudaMemcpyAsync(device_[next_], pinned_[next_], static_cast<size_t>(cnt) * esize,
                                        cudaMemcpyHostToDevice, stream_));
      convert_to_bf16(device_[next_], code, cnt, dst + off, stream_);
      NAGENT_CUDA_CHECK(cudaEventRecord(done_[next_], stream_));
      next_ ^= 1;
    }
  }

  void vector(const std::vector<float>& v, float* dst) {
    NAGENT_CUDA_CHECK(cudaMemcpyAsync(dst, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice, stream_));
    NAGENT_CUDA_CHECK(cudaStreamSynchronize(stream_));  // v is pageable and may go away
  }

 private:
  cudaStream_t stream_;
  void* pinned_[2] = {};
  void* device_[2] = {};
  cudaEvent_t done_[2] = {};
  int next_ = 0;
};

// Walks the config's tensors once, allocating each and filling it from the checkpoint when one
// is given, else with random values (scaled so activations stay of unit size).
class Builder {
 public:
  Builder(const ModelConfig& c, const ModelWeights* host, Span experts, uint64_t seed, MemoryLedger& ledger,
          cudaStream_t stream)
      : c_(c), host_(host), experts_(experts), seed_(seed), ledger_(ledger), stream_(stream) {
    if (host_) uploader_ = std::make_unique<Uploader>(stream);
  }

  DeviceWeights build() {
    DeviceWeights w;
    w.config = c_;
    w.experts = experts_;
    out_ = &w;
    const int64_t H = c_.hidden_size, V = c_.vocab_size;
    w.embeddings = matrix("embeddings", V, H, host_ ? &host_->embeddings : nullptr);
    w.lm_head = c_.tie_word_embeddings ? w.embeddings : matrix("lm_head", V, H, host_ ? &host_->lm_head : nullptr);
    w.norm_f = vector("norms", H, host_ ? &host_->norm_f : nullptr, 1.0f, 1.0f);
    for (int64_t l = 0; l < c_.num_layers(); ++l) {
      const LayerWeights* hl = host_ ? &host_->layers[l] : nullptr;
      DeviceLayer dl;
      dl.type = c_.layers[l];
      dl.norm = vector("norms", H, hl ? &hl->norm : nullptr, 1.0f, 1.0f);
      switch (dl.type) {
        case LayerType::kMamba: dl.mamba = mamba(hl ? &hl->mamba : nullptr); break;
        case LayerType::kAttention: dl.attention = attention(hl ? &hl->attention : nullptr); break;
        case LayerType::kMlp: dl.mlp = mlp("mlp", hl ? &hl->mlp : nullptr, H, c_.intermediate_size); break;
        case LayerType::kMoe: dl.moe = moe(hl ? &hl->moe : nullptr); break;
      }
      w.layers.push_back(dl);
    }
    NAGENT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return w;
  }

 private:
  template <typename T>
  T* alloc(const std::string& component, int64_t n) {
    out_->buffers.emplace_back(static_cast<size_t>(n) * sizeof(T), &ledger_, component);
    return out_->buffers.back().as<T>();
  }

  DeviceMatrix matrix(const std::string& component, int64_t rows, int64_t cols, const Matrix* src) {
    DeviceMatrix m{alloc<bf16>(component, rows * cols), rows, cols};
    if (src) uploader_->matrix(*src, m.data);
    else fill_uniform_bf16(m.data, rows * cols, std::sqrt(3.0f / static_cast<float>(cols)), seed_++, stream_);
    return m;
  }

  // Random fill: uniform in [lo, hi].
  float* vector(const std::string& component, int64_t n, const std::vector<float>* src, float lo, float hi) {
    float* d = alloc<float>(component, n);
    if (src) {
      if (static_cast<int64_t>(src->size()) != n) throw std::logic_error("weight vector size mismatch");
      uploader_->vector(*src, d);
    } else {
      fill_uniform_f32(d, n, lo, hi, seed_++, stream_);
    }
    return d;
  }
  float* bias(const std::string& component, int64_t n, const std::vector<float>* src, bool present) {
    if (src && src->empty()) return nullptr;  // a row-parallel bias on a rank other than 0
    return present ? vector(component, n, src, -0.01f, 0.01f) : nullptr;
  }

  DeviceMlp mlp(const std::string& component, const MlpWeights* h, int64_t d_in, int64_t width) {
    DeviceMlp m;
    m.up = matrix(component, width, d_in, h ? &h->up : nullptr);
    m.down = matrix(component, d_in, width, h ? &h->down : nullptr);
    m.up_bias = bias(component, width, h ? &h->up_bias : nullptr, c_.mlp_bias);
    m.down_bias = bias(component, d_in, h ? &h->down_bias : nullptr, c_.mlp_bias);
    return m;
  }

  DeviceMamba mamba(const MambaWeights* h) {
    DeviceMamba m;
    const int64_t H = c_.hidden_size, Hm = c_.mamba_num_heads, conv = c_.conv_dim();
    m.in_proj = matrix("mamba", c_.in_proj_out(), H, h ? &h->in_proj : nullptr);
    m.out_proj = matrix("mamba", H, c_.d_inner(), h ? &h->out_proj : nullptr);
    m.in_proj_bias = bias("mamba", c_.in_proj_out(), h ? &h->in_proj_bias : nullptr, c_.use_bias);
    m.out_proj_bias = bias("mamba", H, h ? &h->out_proj_bias : nullptr, c_.use_bias);
    m.conv_w = vector("mamba", c_.conv_kernel * conv, h ? &h->conv_w : nullptr, -0.5f, 0.5f);
    m.conv_b = vector("mamba", conv, h ? &h->conv_b : nullptr, -0.1f, 0.1f);
    m.A = vector("mamba", Hm, h ? &h->A : nullptr, -8.0f, -1.0f);
    m.dt_bias = vector("mamba", Hm, h ? &h->dt_bias : nullptr, -4.0f, -2.0f);
    m.D = vector("mamba", Hm, h ? &h->D : nullptr, 0.5f, 1.5f);
    m.norm = vector("mamba", c_.d_inner(), h ? &h->norm : nullptr, 1.0f, 1.0f);
    return m;
  }

  DeviceAttention attention(const AttentionWeights* h) {
    DeviceAttention a;
    const int64_t H = c_.hidden_size, q = c_.num_attention_heads * c_.head_dim, kv = c_.num_key_value_heads * c_.head_dim;
    a.q = matrix("attention", q, H, h ? &h->q : nullptr);
    a.k = matrix("attention", kv, H, h ? &h->k : nullptr);
    a.v = matrix("attention", kv, H, h ? &h->v : nullptr);
    a.o = matrix("attention", H, q, h ? &h->o : nullptr);
    a.q_bias = bias("attention", q, h ? &h->q_bias : nullptr, c_.attention_bias);
    a.k_bias = bias("attention", kv, h ? &h->k_bias : nullptr, c_.attention_bias);
    a.v_bias = bias("attention", kv, h ? &h->v_bias : nullptr, c_.attention_bias);
    a.o_bias = bias("attention", H, h ? &h->o_bias : nullptr, c_.attention_bias);
    return a;
  }

  DeviceMoe moe(const MoeWeights* h) {
    DeviceMoe m;
    const int64_t H = c_.hidden_size, E = c_.n_routed_experts, L = c_.latent(), I = c_.moe_intermediate_size;
    const int64_t held = experts_.size();
    const float r = 1.0f / std::sqrt(static_cast<float>(H));
    m.router = vector("moe router", E * H, h ? &h->router : nullptr, -r, r);
    m.correction_bias = vector("moe router", E, h ? &h->correction_bias : nullptr, -0.01f, 0.01f);
    m.up = alloc<bf16>("moe experts", held * I * L);
    m.down = alloc<bf16>("moe experts", held * I * L);
    for (int64_t e = 0; e < held; ++e) {
      if (h) {
        uploader_->matrix(h->experts[experts_.begin + e].up, m.up + e * I * L);
        uploader_->matrix(h->experts[experts_.begin + e].down, m.down + e * I * L);
      }
    }
    if (!h) {
      fill_uniform_bf16(m.up, held * I * L, std::sqrt(3.0f / static_cast<float>(L)), seed_++, stream_);
      fill_uniform_bf16(m.down, held * I * L, std::sqrt(3.0f / static_cast<float>(I)), seed_++, stream_);
    }
    m.has_shared = c_.n_shared_experts > 0;
    if (m.has_shared) m.shared = mlp("moe shared expert", h ? &h->shared : nullptr, H, c_.shared_width());
    m.latent = c_.moe_latent_size > 0;
    if (m.latent) {
      m.fc1 = matrix("moe latent", L, H, h ? &h->fc1_latent : nullptr);
      m.fc2 = matrix("moe latent", H, L, h ? &h->fc2_latent : nullptr);
      m.fc1_bias = bias("moe latent", L, h ? &h->fc1_bias : nullptr, c_.mlp_bias);
      m.fc2_bias = bias("moe latent", H, h ? &h->fc2_bias : nullptr, c_.mlp_bias);
    }
    return m;
  }

  const ModelConfig& c_;
  const ModelWeights* host_;
  Span experts_;
  uint64_t seed_;
  MemoryLedger& ledger_;
  cudaStream_t stream_;
  std::unique_ptr<Uploader> uploader_;
  DeviceWeights* out_ = nullptr;
};

}  // namespace

std::string cuda_unsupported(const ModelConfig& c) {
  const MambaDims d{static_cast<int>(c.d_inner()), static_cast<int>(c.conv_dim()), static_cast<int>(c.mamba_num_heads),
                    static_cast<int>(c.mamba_head_dim), static_cast<int>(c.ssm_state_size), static_cast<int>(c.n_groups),
                    static_cast<int>(c.conv_kernel), static_cast<int>(c.in_proj_out())};
  bool has_mamba = false, has_attention = false, has_moe = false;
  for (LayerType t : c.layers) {
    has_mamba |= t == LayerType::kMamba;
    has_attention |= t == LayerType::kAttention;
    has_moe |= t == LayerType::kMoe;
  }
  if (has_mamba) {
    const std::string why = ssd_unsupported(c.chunk_size, d);
    if (!why.empty()) return "Mamba: " + why;
  }
  if (has_attention) {
    const std::string why = attention_unsupported(static_cast<int>(c.num_attention_heads),
                                                  static_cast<int>(c.num_key_value_heads), static_cast<int>(c.head_dim));
    if (!why.empty()) return "attention: " + why;
    if (c.sliding_window > 0) return "attention: sliding_window is not supported on CUDA yet";
  }
  if (has_moe) {
    if (c.mlp_bias) return "MoE: expert biases (mlp_bias) are not supported on CUDA yet";
    if (c.n_routed_experts > 512 || c.num_experts_per_tok > 32) return "MoE: at most 512 experts and top-32";
  }
  return "";
}

DeviceWeights upload_weights(const ModelWeights& host, Span experts, MemoryLedger& ledger, cudaStream_t stream) {
  if (experts.begin < 0 || experts.end > host.config.n_routed_experts || experts.size() < 0)
    throw std::invalid_argument("upload_weights: expert range outside the model's experts");
  return Builder(host.config, &host, experts, 0, ledger, stream).build();
}

DeviceWeights random_weights(const ModelConfig& config, uint64_t seed, MemoryLedger& ledger, cudaStream_t stream) {
  return Builder(config, nullptr, Span{0, config.n_routed_experts}, seed, ledger, stream).build();
}

}  // namespace nagent::engine::cuda
