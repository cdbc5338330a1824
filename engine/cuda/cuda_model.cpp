#include "engine/cuda/cuda_model.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "engine/cpu_kernels.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

MambaDims mamba_dims(const ModelConfig& c) {
  return {static_cast<int>(c.d_inner()), static_cast<int>(c.conv_dim()), static_cast<int>(c.mamba_num_heads),
          static_cast<int>(c.mamba_head_dim), static_cast<int>(c.ssm_state_size), static_cast<int>(c.n_groups),
          static_cast<int>(c.conv_kernel), static_cast<int>(c.in_proj_out())};
}

// MoE with at most this many (token, expert) pairs runs as GEMVs over expert ids on the
// device; more, from at most kMaxGroupedTokens tokens (a batched decode step, a short prefill
// chunk), are grouped by expert on the device; more still go through the host-side
// permutation and per-expert cuBLASLt GEMMs.
constexpr int64_t kMaxDecodeSlots = 64;
constexpr int64_t kMaxGroupedTokens = 256;

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

// Scratch buffers of the forward pass, grown to the largest batch seen.
struct CudaNemotronH::Workspace {
  explicit Workspace(MemoryLedger* l)
      : h(l, "workspace"), x(l, "workspace"), y(l, "workspace"), zx(l, "workspace"), conv(l, "workspace"),
        dt(l, "workspace"), ym(l, "workspace"), ssd(l, "workspace"), q(l, "workspace"), k(l, "workspace"),
        v(l, "workspace"), att(l, "workspace"), att_ws(l, "workspace"), router(l, "workspace"), ids(l, "workspace"),
        wts(l, "workspace"), xl(l, "workspace"), yl(l, "workspace"), hs(l, "workspace"), ys(l, "workspace"),
        xs_bf16(l, "workspace"), hs_bf16(l, "workspace"), perm(l, "workspace"), shared_h(l, "workspace"),
        shared_y(l, "workspace"), logits(l, "workspace"), tokens(l, "workspace"), groups(l, "workspace"),
        batch(l, "workspace") {}
  Scratch h, x, y, zx, conv, dt, ym, ssd, q, k, v, att, att_ws, router, ids, wts, xl, yl, hs, ys, xs_bf16, hs_bf16,
      perm, shared_h, shared_y, logits, tokens, groups, batch;
};

// ---------------------------------------------------------------------------------------------
// CudaState

CudaState::CudaState(CudaNemotronH& model) : model_(&model) {
  const size_t floats = model.mamba_layers_ * static_cast<size_t>(model.mamba_state_floats());
  mamba_ = DeviceBuffer(floats * sizeof(float), &model.ledger_, "mamba states");
  if (floats) NAGENT_CUDA_CHECK(cudaMemsetAsync(mamba_.get(), 0, floats * sizeof(float), model.stream_));
  const int64_t max_pages = (model.config().max_position_embeddings + model.options_.page_size - 1) /
                            model.options_.page_size;
  page_table_ = DeviceBuffer(static_cast<size_t>(std::max<int64_t>(1, max_pages)) * sizeof(int32_t), &model.ledger_,
                             "kv page tables");
  pos_ = DeviceBuffer(sizeof(int32_t), &model.ledger_, "kv page tables");
  NAGENT_CUDA_CHECK(cudaMemsetAsync(pos_.get(), 0, sizeof(int32_t), model.stream_));
}

CudaState::~CudaState() {
  if (!pages_.empty()) model_->kv_->give_back(pages_);
}

float* CudaState::mamba(size_t layer) const {
  return mamba_.as<float>() + model_->mamba_index_[layer] * model_->mamba_state_floats();
}

void CudaState::reserve(int64_t tokens) {
  if (model_->kv_->slots() == 0) return;
  const int64_t ps = model_->kv_->page_size();
  const int64_t need = (tokens + ps - 1) / ps;
  if (need * ps > model_->config().max_position_embeddings + ps)
    throw std::runtime_error("sequence of " + std::to_string(tokens) + " tokens is longer than the model's context");
  if (need <= static_cast<int64_t>(pages_.size())) return;
  const size_t old = pages_.size();
  const std::vector<int32_t> more = model_->kv_->take(need - static_cast<int64_t>(old));
  pages_.insert(pages_.end(), more.begin(), more.end());
  // Synchronous: the new entries come from pageable memory that later growth may move.
  NAGENT_CUDA_CHECK(cudaMemcpyAsync(page_table_.as<int32_t>() + old, pages_.data() + old,
                                    (pages_.size() - old) * sizeof(int32_t), cudaMemcpyHostToDevice, model_->stream_));
  NAGENT_CUDA_CHECK(cudaStreamSynchronize(model_->stream_));
}

std::unique_ptr<DeviceState> CudaState::clone() const {
  auto c = std::make_unique<CudaState>(*model_);
  c->position = position;
  const cudaStream_t st = model_->stream_;
  if (mamba_.bytes())
    NAGENT_CUDA_CHECK(cudaMemcpyAsync(c->mamba_.get(), mamba_.get(), mamba_.bytes(), cudaMemcpyDeviceToDevice, st));
  c->reserve(static_cast<int64_t>(pages_.size()) * model_->kv_->page_size());
  const size_t page_bytes = static_cast<size_t>(model_->kv_->page_elements()) * sizeof(bf16);
  for (size_t p = 0; p < pages_.size(); ++p)
    NAGENT_CUDA_CHECK(cudaMemcpyAsync(model_->kv_->page(c->pages_[p]), model_->kv_->page(pages_[p]), page_bytes,
                                      cudaMemcpyDeviceToDevice, st));
  NAGENT_CUDA_CHECK(cudaStreamSynchronize(st));
  return c;
}

std::vector<LayerState> CudaState::to_host() const {
  const ModelConfig& c = model_->config();
  const cudaStream_t st = model_->stream_;
  NAGENT_CUDA_CHECK(cudaStreamSynchronize(st));
  std::vector<LayerState> out(c.layers.size());
  const KvPool& kv = *model_->kv_;
  std::vector<uint16_t> pages(pages_.size() * static_cast<size_t>(kv.page_elements()));
  for (size_t p = 0; p < pages_.size(); ++p)
    NAGENT_CUDA_CHECK(cudaMemcpy(pages.data() + p * kv.page_elements(), kv.page(pages_[p]),
                                 static_cast<size_t>(kv.page_elements()) * sizeof(bf16), cudaMemcpyDeviceToHost));
  const int64_t conv_n = (c.conv_kernel - 1) * c.conv_dim();
  for (size_t l = 0; l < c.layers.size(); ++l) {
    if (c.layers[l] == LayerType::kMamba) {
      std::vector<float> all(static_cast<size_t>(model_->mamba_state_floats()));
      NAGENT_CUDA_CHECK(cudaMemcpy(all.data(), mamba(l), all.size() * sizeof(float), cudaMemcpyDeviceToHost));
      out[l].conv.assign(all.begin(), all.begin() + conv_n);
      out[l].ssm.assign(all.begin() + conv_n, all.end());
    } else if (c.layers[l] == LayerType::kAttention) {
      const int slot = kv.slot_of_layer(l), ps = kv.page_size(), kvd = kv.kvd();
      out[l].k.resize(static_cast<size_t>(position * kvd));
      out[l].v.resize(out[l].k.size());
      for (int64_t j = 0; j < position; ++j) {
        const uint16_t* page = pages.data() + (j / ps) * kv.page_elements();
        const uint16_t* krow = page + (int64_t(slot) * 2 * ps + j % ps) * kvd;
        const uint16_t* vrow = krow + int64_t(ps) * kvd;
        for (int e = 0; e < kvd; ++e) {
          out[l].k[j * kvd + e] = bf16_to_f32(krow[e]);
          out[l].v[j * kvd + e] = bf16_to_f32(vrow[e]);
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Construction

CudaNemotronH::CudaNemotronH(const ModelWeights& host, const CudaOptions& options) : options_(options) {
  const std::string why = cuda_unsupported(host.config);
  if (!why.empty()) throw std::runtime_error("the CUDA engine cannot run this model: " + why);
  NAGENT_CUDA_CHECK(cudaSetDevice(options_.device));
  NAGENT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  w_ = upload_weights(host, Span{0, host.config.n_routed_experts}, ledger_, stream_);
  init();
}

CudaNemotronH::CudaNemotronH(const ModelWeights& shard, const PartitionPlan& plan, const CudaOptions& options)
    : options_(options), world_(plan.world) {
  const std::string why = cuda_unsupported(shard.config);
  if (!why.empty()) throw std::runtime_error("the CUDA engine cannot run this shard of the model: " + why);
  NAGENT_CUDA_CHECK(cudaSetDevice(options_.device));
  NAGENT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  w_ = upload_weights(shard, plan.experts, ledger_, stream_);
  init();
}

CudaNemotronH::CudaNemotronH(const ModelConfig& config, uint64_t seed, const CudaOptions& options)
    : options_(options) {
  const std::string why = cuda_unsupported(config);
  if (!why.empty()) throw std::runtime_error("the CUDA engine cannot run this model: " + why);
  NAGENT_CUDA_CHECK(cudaSetDevice(options_.device));
  NAGENT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  w_ = random_weights(config, seed, ledger_, stream_);
  init();
}

void CudaNemotronH::init() {
  const ModelConfig& c = w_.config;
  if (options_.max_batch < 1) options_.max_batch = 1;
  gemm_ = std::make_unique<Gemm>(stream_, &ledger_);
  kv_ = std::make_unique<KvPool>(c, options_.kv_capacity, options_.page_size, ledger_);
  mamba_index_.assign(c.layers.size(), 0);
  for (size_t l = 0; l < c.layers.size(); ++l)
    if (c.layers[l] == LayerType::kMamba) mamba_index_[l] = mamba_layers_++;
  ws_ = std::make_unique<Workspace>(&ledger_);
  cudaDeviceProp prop{};
  NAGENT_CUDA_CHECK(cudaGetDeviceProperties(&prop, options_.device));
  gpu_name_ = prop.name;
  NAGENT_CUDA_CHECK(cudaEventCreateWithFlags(&batch_uploaded_, cudaEventDisableTiming));
  if (const char* e = std::getenv("NAGENT_CUDA_GRAPHS")) options_.graphs = std::string(e) != "0";
}

CudaNemotronH::~CudaNemotronH() {
  if (stream_) {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
  if (batch_uploaded_) cudaEventDestroy(batch_uploaded_);
}

int64_t CudaNemotronH::mamba_state_floats() const {
  const ModelConfig& c = w_.config;
  return (c.conv_kernel - 1) * c.conv_dim() + c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size;
}

std::string CudaNemotronH::device_description() const {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "cuda:%d %s, %.2f GiB on the GPU", options_.device, gpu_name_.c_str(),
                static_cast<double>(ledger_.total()) / (1 << 30));
  return buf;
}

ModelState CudaNemotronH::new_state() const {
  ModelState s;
  s.device = DeviceStateHandle(std::make_unique<CudaState>(const_cast<CudaNemotronH&>(*this)));
  return s;
}

// A host-form state becomes a device state here (uploaded once).
CudaState& CudaNemotronH::device_state(ModelState& s) {
  if (s.device) {
    auto* cs = dynamic_cast<CudaState*>(s.device.get());
    if (!cs || cs->model_ != this) throw std::invalid_argument("state belongs to another model");
    return *cs;
  }
  const ModelConfig& c = w_.config;
  if (s.layers.size() != c.layers.size()) throw std::invalid_argument("state belongs to another model");
  auto cs = std::make_unique<CudaState>(*this);
  // The new state's buffers are zeroed on stream_, which does not order with the synchronous
  // copies below (legacy stream): wait for the zeroing first.
  NAGENT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  cs->position = s.position;
  cs->reserve(s.position);
  const KvPool& kv = *kv_;
  std::vector<uint16_t> pages(cs->pages_.size() * static_cast<size_t>(kv.page_elements()), 0);
  const int64_t conv_n = (c.conv_kernel - 1) * c.conv_dim();
  for (size_t l = 0; l < c.layers.size(); ++l) {
    const LayerState& ls = s.layers[l];
    if (c.layers[l] == LayerType::kMamba) {
      NAGENT_CUDA_CHECK(cudaMemcpy(cs->mamba(l), ls.conv.data(), conv_n * sizeof(float), cudaMemcpyHostToDevice));
      NAGENT_CUDA_CHECK(
          cudaMemcpy(cs->mamba(l) + conv_n, ls.ssm.data(), ls.ssm.size() * sizeof(float), cudaMemcpyHostToDevice));
    } else if (c.layers[l] == LayerType::kAttention) {
      const int slot = kv.slot_of_layer(l), ps = kv.page_size(), kvd = kv.kvd();
      for (int64_t j = 0; j < s.position; ++j) {
        uint16_t* page = pages.data() + (j / ps) * kv.page_elements();
        uint16_t* krow = page + (int64_t(slot) * 2 * ps + j % ps) * kvd;
        for (int e = 0; e < kvd; ++e) {
          krow[e] = f32_to_bf16(ls.k[j * kvd + e]);
          krow[int64_t(ps) * kvd + e] = f32_to_bf16(ls.v[j * kvd + e]);
        }
      }
    }
  }
  for (size_t p = 0; p < cs->pages_.size(); ++p)
    NAGENT_CUDA_CHECK(cudaMemcpy(kv.page(cs->pages_[p]), pages.data() + p * kv.page_elements(),
                                 static_cast<size_t>(kv.page_elements()) * sizeof(bf16), cudaMemcpyHostToDevice));
  s.layers.clear();
  s.device = DeviceStateHandle(std::move(cs));
  return *static_cast<CudaState*>(s.device.get());
}

// ---------------------------------------------------------------------------------------------
// Forward

void CudaNemotronH::check_tokens(const int32_t* tokens, int64_t n) const {
  const int64_t V = w_.config.vocab_size;
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= V)
      throw std::out_of_range("token id " + std::to_string(tokens[i]) + " is outside the vocabulary [0, " +
                              std::to_string(V) + ")");
}

void CudaNemotronH::forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions) {
  const int64_t V = w_.config.vocab_size;
  check_tokens(tokens, n);
  CudaState& s = device_state(state);
  for (int64_t done = 0; done < n;) {
    const int64_t b = std::min(options_.max_batch, n - done);
    const bool last = done + b == n;
    int32_t* d_tokens = ws_->tokens.get<int32_t>(b);
    NAGENT_CUDA_CHECK(cudaMemcpyAsync(d_tokens, tokens + done, b * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    const bool want = logits && (all_positions || last);
    const int64_t rows = all_positions ? b : 1;
    float* d_logits = want ? ws_->logits.get<float>(rows * V) : nullptr;
    forward_device(s, d_tokens, b, d_logits, all_positions);
    if (want) {
      float* dst = all_positions ? logits + done * V : logits;
      NAGENT_CUDA_CHECK(cudaMemcpyAsync(dst, d_logits, rows * V * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    }
    // The host token buffer and logits are only valid once the stream is done with them.
    NAGENT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    done += b;
  }
  state.position = s.position;
}

void CudaNemotronH::forward_device(CudaState& s, const int32_t* d_tokens, int64_t T, float* d_logits,
                                   bool all_positions) {
  if (T <= 0) return;
  s.reserve(s.position + T);
  if (s.device_position_ != s.position) {  // restored, cloned, rewound or advanced by decode_batch
    if (s.position > INT32_MAX) throw std::runtime_error("position past 2^31");
    s.pos_upload_ = static_cast<int32_t>(s.position);
    NAGENT_CUDA_CHECK(
        cudaMemcpyAsync(s.pos_.get(), &s.pos_upload_, sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    s.device_position_ = s.position;
  }
  // The first token of a sequence differs (Mamba's dt clamp of the uncached step): eager.
  const Step step{&s, nullptr, T};
  const auto enqueue = [&] { enqueue_step(step, d_tokens, d_logits, all_positions); };
  if (T == 1 && options_.graphs && !census_on_ && s.position > 0)
    s.graph_.run(
        stream_, [&] { return GraphKey{d_tokens, d_logits, Scratch::growths(), gemm_->fast_gemv(), pdl()}; },
        enqueue, graph_stats_);
  else
    enqueue();
  s.position += T;
  s.device_position_ += T;
}

void CudaNemotronH::decode_batch(ModelState* const* states, const int32_t* tokens, int64_t n, float* logits) {
  if (n <= 0) return;
  check_tokens(tokens, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j)
      if (states[j] == states[i]) throw std::invalid_argument("decode_batch: the same state twice in one batch");
  const int64_t V = w_.config.vocab_size;
  std::vector<CudaState*> seqs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) seqs[i] = &device_state(*states[i]);
  for (int64_t done = 0; done < n;) {
    const int64_t b = std::min(options_.max_batch, n - done);
    int32_t* d_tokens = ws_->tokens.get<int32_t>(b);
    NAGENT_CUDA_CHECK(cudaMemcpyAsync(d_tokens, tokens + done, b * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    float* d_logits = logits ? ws_->logits.get<float>(b * V) : nullptr;
    decode_batch_device(seqs.data() + done, d_tokens, b, d_logits);
    if (logits)
      NAGENT_CUDA_CHECK(
          cudaMemcpyAsync(logits + done * V, d_logits, b * V * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    // The host tokens and logits are only valid once the stream is done with them.
    NAGENT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    done += b;
  }
  for (int64_t i = 0; i < n; ++i) states[i]->position = seqs[i]->position;
}

void CudaNemotronH::decode_batch_device(CudaState* const* seqs, const int32_t* d_tokens, int64_t n, float* d_logits) {
  if (n <= 0) return;
  if (n > options_.max_batch)
    throw std::invalid_argument("decode_batch: " + std::to_string(n) + " sequences, more than max_batch");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j)
      if (seqs[j] == seqs[i]) throw std::invalid_argument("decode_batch: the same state twice in one batch");
  for (int64_t i = 0; i < n; ++i) {
    if (seqs[i]->position >= INT32_MAX) throw std::runtime_error("position past 2^31");
    seqs[i]->reserve(seqs[i]->position + 1);
  }
  // The rows' arrays (BatchRows) in one upload: mamba pointers, page table pointers, positions.
  const size_t ptrs = static_cast<size_t>(n) * sizeof(void*);
  const size_t bytes = 2 * ptrs + static_cast<size_t>(n) * sizeof(int32_t);
  NAGENT_CUDA_CHECK(cudaEventSynchronize(batch_uploaded_));  // the previous step's upload has read batch_host_
  batch_host_.resize(bytes);
  for (int64_t i = 0; i < n; ++i) {
    const float* mamba = seqs[i]->mamba_.as<float>();
    const int32_t* table = seqs[i]->page_table();
    const auto pos = static_cast<int32_t>(seqs[i]->position);
    std::memcpy(batch_host_.data() + i * sizeof(void*), &mamba, sizeof(void*));
    std::memcpy(batch_host_.data() + ptrs + i * sizeof(void*), &table, sizeof(void*));
    std::memcpy(batch_host_.data() + 2 * ptrs + i * sizeof(int32_t), &pos, sizeof(int32_t));
  }
  unsigned char* dev = ws_->batch.get<unsigned char>(static_cast<int64_t>(bytes));
  NAGENT_CUDA_CHECK(cudaMemcpyAsync(dev, batch_host_.data(), bytes, cudaMemcpyHostToDevice, stream_));
  NAGENT_CUDA_CHECK(cudaEventRecord(batch_uploaded_, stream_));
  const BatchRows rows{reinterpret_cast<float* const*>(dev), reinterpret_cast<const int32_t* const*>(dev + ptrs),
                       reinterpret_cast<const int32_t*>(dev + 2 * ptrs)};
  const Step step{nullptr, &rows, n};
  const auto enqueue = [&] { enqueue_step(step, d_tokens, d_logits, true); };
  if (options_.graphs && !census_on_ && !step_syncs(n))
    batch_graphs_[n].run(
        stream_, [&] { return GraphKey{d_tokens, d_logits, Scratch::growths(), gemm_->fast_gemv(), pdl()}; },
        enqueue, graph_stats_);
  else
    enqueue();
  for (int64_t i = 0; i < n; ++i) ++seqs[i]->position;
}

// Everything one step enqueues (captured as is into the decode graphs): no host synchronisation,
// no allocation once the workspace has grown to the step's size.
void CudaNemotronH::enqueue_step(const Step& step, const int32_t* d_tokens, float* d_logits, bool all_positions) {
  const ModelConfig& c = w_.config;
  const int64_t H = c.hidden_size, T = step.T;
  const float eps = static_cast<float>(c.layer_norm_epsilon);
  float* h = ws_->h.get<float>(T * H);
  float* x = ws_->x.get<float>(T * H);
  float* y = ws_->y.get<float>(T * H);
  embed(w_.embeddings.data, d_tokens, T, H, h, stream_);
  for (size_t l = 0; l < w_.layers.size(); ++l) {
    const DeviceLayer& L = w_.layers[l];
    // The previous layer's residual add is fused into this layer's norm.
    if (l == 0) rms_norm(h, L.norm, T, H, eps, x, stream_);
    else add_rms_norm(h, y, L.norm, T, H, eps, x, stream_);
    switch (L.type) {
      case LayerType::kMamba: mamba_layer(l, step, x, y); break;
      case LayerType::kAttention: attention_layer(l, step, x, y); break;
      case LayerType::kMlp: mlp(L.mlp, x, T, y); break;
      case LayerType::kMoe: moe_layer(l, x, T, y); break;
    }
    if (world_ > 1) reduce_layer_output(y, T * H);
  }
  if (w_.layers.empty()) rms_norm(h, w_.norm_f, T, H, eps, x, stream_);
  else add_rms_norm(h, y, w_.norm_f, T, H, eps, x, stream_);
  if (step.seq) advance_position(step.seq->device_position(), static_cast<int>(T), stream_);
  if (!d_logits) return;
  const int64_t first = all_positions ? 0 : T - 1;
  gemm_->run(w_.lm_head, x + first * H, T - first, d_logits, c.vocab_size);
}

void CudaNemotronH::reduce_layer_output(float* y, int64_t n) {
  if (!comm_) throw std::logic_error("a sharded CudaNemotronH needs set_collective before it runs");
  comm_->all_reduce_sum(y, n);  // in place, in stream order (capturable: NCCL records into graphs)
}

void CudaNemotronH::mamba_layer(size_t l, const Step& step, const float* x, float* out) {
  const ModelConfig& c = w_.config;
  const DeviceMamba& m = w_.layers[l].mamba;
  const MambaDims d = mamba_dims(c);
  const int64_t T = step.T, conv_n = (c.conv_kernel - 1) * c.conv_dim();
  float* zx = ws_->zx.get<float>(T * d.in_out);
  gemm_->run(m.in_proj, x, T, zx, d.in_out);
  if (m.in_proj_bias) add_bias(zx, d.in_out, m.in_proj_bias, T, d.in_out, stream_);
  float* conv = ws_->conv.get<float>(T * d.conv_dim);
  float* dt = ws_->dt.get<float>(T * d.heads);
  float* ym = ws_->ym.get<float>(T * d.d_inner);
  // transformers clamps dt at time_step_min except in its cached one-token step (the CPU
  // engine's mamba2_seqs): per row in a batch, from the row's position on the device.
  const double lo = c.time_step_limit[0], hi = c.time_step_limit[1];
  const double lo_uncached = options_.dt_clamp == DtClamp::kTransformers ? std::max(lo, c.time_step_min) : lo;
  if (step.batch) {
    const int64_t offset = static_cast<int64_t>(mamba_index_[l]) * mamba_state_floats();
    const DtLimits limits{static_cast<float>(lo), static_cast<float>(hi), static_cast<float>(lo_uncached),
                          step.batch->pos};
    mamba_conv_dt_step(zx, T, d, RowStates{nullptr, step.batch->mamba, offset}, m.conv_w, m.conv_b, conv, m.dt_bias,
                       limits, dt, stream_);
    ssd_step(conv, dt, m.A, m.D, d, T, RowStates{nullptr, step.batch->mamba, offset + conv_n}, ym, stream_);
  } else {
    CudaState& s = *step.seq;
    float* conv_state = s.mamba(l);
    float* ssm = conv_state + conv_n;
    const float lo_s = static_cast<float>(s.position > 0 && T == 1 ? lo : lo_uncached);
    if (T == 1) {
      mamba_conv_dt_step(zx, 1, d, RowStates{conv_state, nullptr, 0}, m.conv_w, m.conv_b, conv, m.dt_bias,
                         DtLimits{lo_s, static_cast<float>(hi), lo_s, nullptr}, dt, stream_);
      ssd_step(conv, dt, m.A, m.D, d, 1, RowStates{ssm, nullptr, 0}, ym, stream_);
    } else {
      mamba_conv(zx, T, d, conv_state, m.conv_w, m.conv_b, conv, stream_);
      mamba_dt(zx, T, d, m.dt_bias, lo_s, static_cast<float>(hi), dt, stream_);
      float* ws = ws_->ssd.get<float>(ssd_workspace_floats(T, c.chunk_size, d));
      ssd_chunked(conv, dt, m.A, m.D, T, c.chunk_size, d, ssm, ym, ws, stream_);
    }
  }
  gated_group_rms_norm(ym, zx, d.in_out, m.norm, T, d.d_inner, d.G, static_cast<float>(c.layer_norm_epsilon), stream_);
  gemm_->run(m.out_proj, ym, T, out, c.hidden_size);
  if (m.out_proj_bias) add_bias(out, c.hidden_size, m.out_proj_bias, T, c.hidden_size, stream_);
}

void CudaNemotronH::attention_layer(size_t l, const Step& step, const float* x, float* out) {
  const ModelConfig& c = w_.config;
  const DeviceAttention& a = w_.layers[l].attention;
  const int Hq = static_cast<int>(c.num_attention_heads), Hkv = static_cast<int>(c.num_key_value_heads),
            hd = static_cast<int>(c.head_dim);
  const int64_t qd = int64_t(Hq) * hd, kvd = int64_t(Hkv) * hd, T = step.T;
  float* q = ws_->q.get<float>(T * qd);
  float* k = ws_->k.get<float>(T * kvd);
  float* v = ws_->v.get<float>(T * kvd);
  gemm_->run(a.q, x, T, q, qd);
  gemm_->run(a.k, x, T, k, kvd);
  gemm_->run(a.v, x, T, v, kvd);
  if (a.q_bias) add_bias(q, qd, a.q_bias, T, qd, stream_);
  if (a.k_bias) add_bias(k, kvd, a.k_bias, T, kvd, stream_);
  if (a.v_bias) add_bias(v, kvd, a.v_bias, T, kvd, stream_);
  const KvView view{kv_->data(), step.seq ? step.seq->page_table() : nullptr, kv_->page_size(), kv_->slots(),
                    kv_->slot_of_layer(l), static_cast<int>(kvd)};
  float* att = ws_->att.get<float>(T * qd);
  if (step.batch || T == 1) {
    // Decode reads the positions from the device (a captured graph serves every position).
    const DecodeSeqs seqs = step.batch ? DecodeSeqs{step.batch->pos, step.batch->tables}
                                       : DecodeSeqs{step.seq->device_position(), nullptr};
    kv_append(k, v, T, 0, view, stream_, seqs);
    float* ws = ws_->att_ws.get<float>(attention_decode_workspace_floats(T, Hq, Hkv, hd));
    attention_decode(q, T, seqs, Hq, Hkv, hd, view, ws, att, stream_);
  } else {
    kv_append(k, v, T, step.seq->position, view, stream_);
    attention_prefill(q, T, step.seq->position, Hq, Hkv, hd, view, att, stream_);
  }
  gemm_->run(a.o, att, T, out, c.hidden_size);
  if (a.o_bias) add_bias(out, c.hidden_size, a.o_bias, T, c.hidden_size, stream_);
}

// accumulate: out += the MLP's output (else out =).
void CudaNemotronH::mlp(const DeviceMlp& m, const float* x, int64_t T, float* out, bool accumulate) {
  if (accumulate && (m.down_bias || !Gemm::uses_gemv(T, m.down.cols))) {
    // The GEMV paths add into out themselves; otherwise (and with a bias) a separate add.
    float* sh = ws_->shared_y.get<float>(T * m.down.rows);
    mlp(m, x, T, sh, false);
    add_inplace(out, sh, T * m.down.rows, stream_);
    return;
  }
  const int64_t I = m.up.rows;
  float* hbuf = ws_->shared_h.get<float>(T * I);
  if (m.up_bias) {  // the bias comes before the activation
    gemm_->run(m.up, x, T, hbuf, I);
    add_bias(hbuf, I, m.up_bias, T, I, stream_);
    relu2_inplace(hbuf, T * I, stream_);
  } else {
    gemm_->run(m.up, x, T, hbuf, I, Epilogue::kRelu2);
  }
  gemm_->run(m.down, hbuf, T, out, m.down.rows, Epilogue::kNone, accumulate);
  if (m.down_bias) add_bias(out, m.down.rows, m.down_bias, T, m.down.rows, stream_);
}

void CudaNemotronH::moe_layer(size_t l, const float* x, int64_t T, float* out) {
  const ModelConfig& c = w_.config;
  const DeviceMoe& m = w_.layers[l].moe;
  const int64_t H = c.hidden_size, L = c.latent(), I = c.moe_intermediate_size;
  // E: the routed experts held here (all of them on one GPU). Under expert parallelism every
  // rank routes every token over all E_all experts alike (replicated router), then keeps the
  // slots of its own experts, as local ids (moe_localize; -1 for the others, which add nothing).
  const int64_t E_all = c.n_routed_experts, E = w_.experts.size();
  const bool ep = E != E_all;
  const int k = static_cast<int>(c.num_experts_per_tok);
  const int64_t S = T * k;
  float* logits = ws_->router.get<float>(T * E_all);
  gemm_->run_f32(m.router, E_all, H, x, T, logits);
  int32_t* ids = ws_->ids.get<int32_t>(S);
  float* wts = ws_->wts.get<float>(S);
  const RouteConfig rc{static_cast<int>(E_all), k, static_cast<int>(c.n_group), static_cast<int>(c.topk_group),
                       static_cast<float>(c.routed_scaling_factor), c.norm_topk_prob};
  moe_route(logits, m.correction_bias, T, rc, ids, wts, stream_);
  if (census_on_) {
    std::vector<int32_t> chosen(static_cast<size_t>(S));
    NAGENT_CUDA_CHECK(cudaMemcpyAsync(chosen.data(), ids, S * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_));
    NAGENT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::vector<bool> seen(static_cast<size_t>(E_all), false);
    for (int32_t e : chosen) {
      census_.experts += !seen[e];
      seen[e] = true;
    }
    ++census_.layer_runs;
  }
  if (ep) moe_localize(ids, S, static_cast<int>(w_.experts.begin), static_cast<int>(E), stream_);
  const int32_t* local_ids = ep ? ids : nullptr;  // the combine skips other ranks' slots
  const float* xin = x;
  if (m.latent) {
    float* xl = ws_->xl.get<float>(T * L);
    gemm_->run(m.fc1, x, T, xl, L);
    if (m.fc1_bias) add_bias(xl, L, m.fc1_bias, T, L, stream_);
    xin = xl;
  }
  float* routed = m.latent ? ws_->yl.get<float>(T * L) : out;
  float* hs = ws_->hs.get<float>(S * I);
  float* ys = ws_->ys.get<float>(S * L);
  if (E == 0) {  // a rank that holds no routed expert (more ranks than experts)
    NAGENT_CUDA_CHECK(cudaMemsetAsync(routed, 0, T * L * sizeof(float), stream_));
  } else if (!ep && S <= kMaxDecodeSlots && gemm_->fast_gemv() && mv_supported(m.up, L, xin, L) &&
             mv_supported(m.down, I, hs, I)) {
    // All slots' up projections in one launch, then the down projections with the weighted
    // combine fused (no per-slot outputs); the expert ids never leave the device.
    expert_mv(m.up, I * L, ids, S, xin, L, k, L, I, true, hs, stream_);
    expert_mv_combine(m.down, I * L, ids, wts, T, k, hs, I, I, L, routed, stream_);
  } else if (S <= kMaxDecodeSlots && !(ep && moe_grouped(m, T))) {
    // (Under expert parallelism the grouped path below instead: it reads only the experts held.)
    expert_gemv(m.up, I * L, ids, S, xin, L, k, L, I, true, hs, stream_);
    expert_gemv(m.down, I * L, ids, S, hs, I, 1, I, L, false, ys, stream_);
    moe_combine(ys, L, nullptr, local_ids, wts, T, k, routed, stream_);
  } else if (moe_grouped(m, T)) {
    // Each touched expert's weights read once for all its slots; slot outputs in slot order.
    int32_t* gbuf = ws_->groups.get<int32_t>(2 * E + 2 + S);
    const ExpertGroups g{gbuf, gbuf + E + 1, gbuf + E + 1 + S, gbuf + 2 * E + 1 + S};
    moe_group(ids, S, static_cast<int>(E), g, stream_);
    expert_group_mv(m.up, I * L, g, S, xin, L, k, L, I, true, hs, stream_);
    expert_group_mv(m.down, I * L, g, S, hs, I, 1, I, L, false, ys, stream_);
    moe_combine(ys, L, nullptr, local_ids, wts, T, k, routed, stream_);
  } else {
    // Counting sort of the (token, expert) slots by expert: perm[row] = token of the slot placed
    // at row, slot_row[slot] = its row; each expert's rows are contiguous.
    std::vector<int32_t> host_ids(static_cast<size_t>(S));
    NAGENT_CUDA_CHECK(cudaMemcpyAsync(host_ids.data(), ids, S * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_));
    NAGENT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::vector<int64_t> start(static_cast<size_t>(E + 1), 0);
    for (int32_t e : host_ids)
      if (e >= 0) ++start[e + 1];  // -1: another rank's expert, placed nowhere
    for (int64_t e = 0; e < E; ++e) start[e + 1] += start[e];
    std::vector<int32_t> perm_host(static_cast<size_t>(2 * S));
    int32_t* perm = perm_host.data();
    int32_t* slot_row = perm + S;
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t s = 0; s < S; ++s) {
      if (host_ids[s] < 0) continue;
      const int64_t row = fill[host_ids[s]]++;
      perm[row] = static_cast<int32_t>(s / k);
      slot_row[s] = static_cast<int32_t>(row);
    }
    int32_t* d_perm = ws_->perm.get<int32_t>(2 * S);
    NAGENT_CUDA_CHECK(cudaMemcpyAsync(d_perm, perm, 2 * S * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    bf16* xs = ws_->xs_bf16.get<bf16>(S * L);
    gather_rows_bf16(xin, L, d_perm, start[E], xs, stream_);  // start[E]: the slots placed (S on one GPU)
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = start[e + 1] - start[e];
      if (n) gemm_->run_bf16(m.expert_up(static_cast<int>(e), I, L), xs + start[e] * L, L, n, hs + start[e] * I, I);
    }
    // ReLU² of all experts' rows in the pass that rounds them to bf16 for the down projections.
    bf16* hb = ws_->hs_bf16.get<bf16>(S * I);
    relu2_to_bf16(hs, hb, S * I, stream_);
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = start[e + 1] - start[e];
      if (n) gemm_->run_bf16(m.expert_down(static_cast<int>(e), I, L), hb + start[e] * I, I, n, ys + start[e] * L, L);
    }
    moe_combine(ys, L, d_perm + S, local_ids, wts, T, k, routed, stream_);
    NAGENT_CUDA_CHECK(cudaStreamSynchronize(stream_));  // perm_host is read by the copy above
  }
  if (m.latent) {
    gemm_->run(m.fc2, routed, T, out, H);
    if (m.fc2_bias) add_bias(out, H, m.fc2_bias, T, H, stream_);
  }
  if (m.has_shared) mlp(m.shared, x, T, out, true);  // out += shared expert
}

bool CudaNemotronH::moe_grouped(const DeviceMoe& m, int64_t T) const {
  const ModelConfig& c = w_.config;
  // The activations (x or the latent, and the expert hidden rows) are workspace rows: 16-byte
  // aligned when their widths are multiples of 8, which mv_supported requires of K anyway.
  return T <= kMaxGroupedTokens && mv_supported(m.up, c.latent(), nullptr, c.latent()) &&
         mv_supported(m.down, c.moe_intermediate_size, nullptr, c.moe_intermediate_size);
}

bool CudaNemotronH::step_syncs(int64_t T) const {
  const int64_t S = T * w_.config.num_experts_per_tok;
  for (const DeviceLayer& L : w_.layers)
    if (L.type == LayerType::kMoe && S > kMaxDecodeSlots && !moe_grouped(L.moe, T)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------

std::unique_ptr<LanguageModel> load_model(const std::string& dir, int device, const EngineOptions& options) {
  const ModelWeights host = load_model_weights(dir);
  CudaOptions o;
  o.device = device;
  o.dt_clamp = options.dt_clamp;
  auto m = std::make_unique<CudaNemotronH>(host, o);
  std::fprintf(stderr, "nagent: %s loaded on %s; GPU memory by component:\n%s", dir.c_str(),
               m->device_description().c_str(), m->memory().report().c_str());
  return m;
}

}  // namespace nagent::engine::cuda
