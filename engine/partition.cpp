#include "engine/partition.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

namespace nagent::engine {

namespace {

std::string num(int64_t v) { return std::to_string(v); }

// Part `rank` of `n` items split into `world` contiguous parts whose sizes differ by at most one.
Span balanced(int64_t n, int world, int rank) { return {n * rank / world, n * (rank + 1) / world}; }

void check_tokens(const int32_t* tokens, int64_t n, int64_t V) {
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= V)
      throw std::out_of_range("token id " + std::to_string(tokens[i]) + " is outside the vocabulary [0, " +
                              std::to_string(V) + ")");
}

bool has_layer(const ModelConfig& c, LayerType t) { return std::find(c.layers.begin(), c.layers.end(), t) != c.layers.end(); }

}  // namespace

PartitionPlan plan_partition(const ModelConfig& c, int world, int rank) {
  if (world < 1) throw PartitionError("world size must be at least 1, got " + num(world));
  if (rank < 0 || rank >= world)
    throw PartitionError("rank " + num(rank) + " is outside world size " + num(world));
  PartitionPlan p;
  p.world = world;
  p.rank = rank;
  const std::string ws = "world size " + num(world);

  const int64_t Hq = c.num_attention_heads, Hkv = c.num_key_value_heads;
  if (has_layer(c, LayerType::kAttention)) {
    if (Hq % world)
      throw PartitionError("attention: num_attention_heads " + num(Hq) + " is not divisible by " + ws);
    // KV heads split whole when W divides them; when W is a multiple of them, each KV head is
    // replicated on W / Hkv ranks, each holding a part of its query heads (as vLLM does).
    if (Hkv % world && world % Hkv)
      throw PartitionError("attention: num_key_value_heads " + num(Hkv) + " is neither divisible by " + ws +
                           " nor a divisor of it (KV heads are split whole or replicated)");
  }
  if (Hq > 0 && Hkv > 0 && Hq % world == 0) {
    const int64_t per = Hq / world, rep = Hq / Hkv;
    p.q_heads = {rank * per, (rank + 1) * per};
    p.kv_heads = {p.q_heads.begin / rep, (p.q_heads.end + rep - 1) / rep};
    p.kv_replicas = world > Hkv ? world / Hkv : 1;
  }

  const int64_t G = c.n_groups;
  if (has_layer(c, LayerType::kMamba) && G % world)
    throw PartitionError("mamba: n_groups " + num(G) + " is not divisible by " + ws +
                         " (a B/C group stays whole on one rank with its heads)");
  if (G > 0 && G % world == 0) {
    const int64_t hpg = c.mamba_num_heads / G;
    p.mamba_groups = {rank * (G / world), (rank + 1) * (G / world)};
    p.mamba_heads = {p.mamba_groups.begin * hpg, p.mamba_groups.end * hpg};
  }

  if (has_layer(c, LayerType::kMlp) && c.intermediate_size < world)
    throw PartitionError("mlp: intermediate_size " + num(c.intermediate_size) + " is smaller than " + ws);
  p.mlp_cols = balanced(c.intermediate_size, world, rank);

  if (has_layer(c, LayerType::kMoe)) {
    // A rank may hold no routed expert (W > n_routed_experts): it still holds shared columns.
    if (c.n_shared_experts > 0 && c.shared_width() < world)
      throw PartitionError("moe: shared expert width " + num(c.shared_width()) + " is smaller than " + ws);
  }
  p.experts = balanced(c.n_routed_experts, world, rank);
  p.shared_cols = balanced(c.n_shared_experts > 0 ? c.shared_width() : 0, world, rank);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Slicing

namespace {

// Owned slices of a shard, plus what its views point into.
struct ShardStorage {
  std::shared_ptr<const Checkpoint> checkpoint;
  std::shared_ptr<const void> parent;  // the full model's own storage, if any
  std::deque<std::vector<unsigned char>> blocks;
};

const unsigned char* bytes_of(const Matrix& m) { return static_cast<const unsigned char*>(m.data); }

// Rows [r.begin, r.end) of m: contiguous in the row-major layout, so a view.
Matrix row_slice(const Matrix& m, Span r) {
  if (r.begin == 0 && r.end == m.rows) return m;
  Matrix s = m;
  s.rows = r.size();
  s.data = bytes_of(m) + static_cast<size_t>(r.begin * m.cols) * dtype_size(m.dtype);
  return s;
}

// Rows assembled from several row ranges of m (Mamba in_proj's z/x/B/C/dt parts): a copy,
// unless the ranges are the whole matrix in order.
Matrix rows_gather(ShardStorage& st, const Matrix& m, const std::vector<Span>& parts) {
  int64_t rows = 0;
  bool whole = true;
  for (const Span& p : parts) {
    whole = whole && p.begin == rows;
    rows += p.size();
  }
  if (whole && rows == m.rows) return m;
  const size_t row_bytes = static_cast<size_t>(m.cols) * dtype_size(m.dtype);
  std::vector<unsigned char>& b = st.blocks.emplace_back(static_cast<size_t>(rows) * row_bytes);
  unsigned char* dst = b.data();
  for (const Span& p : parts) {
    std::memcpy(dst, bytes_of(m) + static_cast<size_t>(p.begin) * row_bytes, static_cast<size_t>(p.size()) * row_bytes);
    dst += static_cast<size_t>(p.size()) * row_bytes;
  }
  Matrix s = m;
  s.rows = rows;
  s.data = b.data();
  return s;
}

// Columns [c.begin, c.end) of every row: strided, so copied.
Matrix col_slice(ShardStorage& st, const Matrix& m, Span c) {
  if (c.begin == 0 && c.end == m.cols) return m;
  const size_t es = dtype_size(m.dtype), out_row = static_cast<size_t>(c.size()) * es;
  std::vector<unsigned char>& b = st.blocks.emplace_back(static_cast<size_t>(m.rows) * out_row);
  for (int64_t r = 0; r < m.rows; ++r)
    std::memcpy(&b[static_cast<size_t>(r) * out_row], bytes_of(m) + (static_cast<size_t>(r * m.cols + c.begin)) * es,
                out_row);
  Matrix s = m;
  s.cols = c.size();
  s.data = b.data();
  return s;
}

std::vector<float> vec_gather(const std::vector<float>& v, const std::vector<Span>& parts) {
  if (v.empty()) return {};
  std::vector<float> out;
  for (const Span& p : parts) out.insert(out.end(), v.begin() + p.begin, v.begin() + p.end);
  return out;
}
std::vector<float> vec_slice(const std::vector<float>& v, Span s) { return vec_gather(v, {s}); }

// The bias of a row-parallel product: added once, by rank 0, since the outputs are summed.
std::vector<float> rank0_bias(const std::vector<float>& b, const PartitionPlan& p) {
  return p.rank == 0 ? b : std::vector<float>{};
}

// A Span scaled by `unit` elements per item, offset by `base`.
Span scaled(Span s, int64_t unit, int64_t base = 0) { return {base + s.begin * unit, base + s.end * unit}; }

MlpWeights shard_mlp(ShardStorage& st, const MlpWeights& w, Span cols, const PartitionPlan& p) {
  MlpWeights s;
  s.up = row_slice(w.up, cols);
  s.down = col_slice(st, w.down, cols);
  s.up_bias = vec_slice(w.up_bias, cols);
  s.down_bias = rank0_bias(w.down_bias, p);
  return s;
}

MambaWeights shard_mamba(ShardStorage& st, const MambaWeights& w, const ModelConfig& c, const PartitionPlan& p) {
  const int64_t P = c.mamba_head_dim, N = c.ssm_state_size, di = c.d_inner(), gn = c.gn(), K = c.conv_kernel;
  const Span ch = scaled(p.mamba_heads, P);  // this rank's channels of d_inner
  // in_proj rows: [z | x | B | C | dt]; conv channels: [x | B | C].
  const std::vector<Span> in_rows = {ch, scaled(p.mamba_heads, P, di), scaled(p.mamba_groups, N, 2 * di),
                                     scaled(p.mamba_groups, N, 2 * di + gn), scaled(p.mamba_heads, 1, 2 * di + 2 * gn)};
  const std::vector<Span> conv_ch = {ch, scaled(p.mamba_groups, N, di), scaled(p.mamba_groups, N, di + gn)};
  MambaWeights s;
  s.in_proj = rows_gather(st, w.in_proj, in_rows);
  s.in_proj_bias = vec_gather(w.in_proj_bias, in_rows);
  s.out_proj = col_slice(st, w.out_proj, ch);
  s.out_proj_bias = rank0_bias(w.out_proj_bias, p);
  const int64_t conv = c.conv_dim();
  for (int64_t k = 0; k < K; ++k) {  // conv_w is [K, conv_dim]
    const std::vector<float> tap(w.conv_w.begin() + k * conv, w.conv_w.begin() + (k + 1) * conv);
    const std::vector<float> part = vec_gather(tap, conv_ch);
    s.conv_w.insert(s.conv_w.end(), part.begin(), part.end());
  }
  s.conv_b = vec_gather(w.conv_b, conv_ch);
  s.A = vec_slice(w.A, p.mamba_heads);
  s.dt_bias = vec_slice(w.dt_bias, p.mamba_heads);
  s.D = vec_slice(w.D, p.mamba_heads);
  s.norm = vec_slice(w.norm, ch);  // whole groups, so the per-group normalisation is unchanged
  return s;
}

AttentionWeights shard_attention(ShardStorage& st, const AttentionWeights& w, const ModelConfig& c,
                                 const PartitionPlan& p) {
  const int64_t hd = c.head_dim;
  const Span q = scaled(p.q_heads, hd), kv = scaled(p.kv_heads, hd);
  AttentionWeights s;
  s.q = row_slice(w.q, q);
  s.k = row_slice(w.k, kv);
  s.v = row_slice(w.v, kv);
  s.o = col_slice(st, w.o, q);
  s.q_bias = vec_slice(w.q_bias, q);
  s.k_bias = vec_slice(w.k_bias, kv);
  s.v_bias = vec_slice(w.v_bias, kv);
  s.o_bias = rank0_bias(w.o_bias, p);
  return s;
}

MoeWeights shard_moe(ShardStorage& st, const MoeWeights& w, const PartitionPlan& p) {
  MoeWeights s;
  s.router = w.router;
  s.correction_bias = w.correction_bias;
  // An expert is held whole by one rank, which adds its down bias; the others hold it empty.
  s.experts.resize(w.experts.size());
  for (int64_t e = p.experts.begin; e < p.experts.end; ++e) s.experts[e] = w.experts[e];
  s.has_shared = w.has_shared;
  if (w.has_shared) s.shared = shard_mlp(st, w.shared, p.shared_cols, p);
  s.latent = w.latent;
  s.fc1_latent = w.fc1_latent;  // replicated: its output feeds the experts of every rank
  s.fc2_latent = w.fc2_latent;  // replicated: applied to each rank's partial latent sum
  s.fc1_bias = w.fc1_bias;
  s.fc2_bias = rank0_bias(w.fc2_bias, p);
  return s;
}

}  // namespace

ModelWeights shard_weights(const ModelWeights& full, const PartitionPlan& p) {
  const ModelConfig& c = full.config;
  if (!(plan_partition(c, p.world, p.rank) == p))
    throw PartitionError("shard_weights: the plan was not made for this model's config");
  auto st = std::make_shared<ShardStorage>();
  st->checkpoint = full.checkpoint;
  st->parent = full.storage;

  ModelWeights s;
  s.config = c;
  ModelConfig& sc = s.config;
  sc.num_attention_heads = p.q_heads.size();
  sc.num_key_value_heads = p.kv_heads.size();
  sc.mamba_num_heads = p.mamba_heads.size();
  sc.n_groups = p.mamba_groups.size();
  sc.intermediate_size = p.mlp_cols.size();
  if (c.n_shared_experts > 0) {  // the shard's shared columns read as one shared expert
    sc.n_shared_experts = 1;
    sc.moe_shared_expert_intermediate_size = p.shared_cols.size();
  }
  s.embeddings = full.embeddings;
  s.norm_f = full.norm_f;
  s.lm_head = full.lm_head;
  s.mapped_bytes = full.mapped_bytes;
  for (const LayerWeights& lw : full.layers) {
    LayerWeights l;
    l.type = lw.type;
    l.norm = lw.norm;
    switch (lw.type) {
      case LayerType::kMamba: l.mamba = shard_mamba(*st, lw.mamba, c, p); break;
      case LayerType::kAttention: l.attention = shard_attention(*st, lw.attention, c, p); break;
      case LayerType::kMlp: l.mlp = shard_mlp(*st, lw.mlp, p.mlp_cols, p); break;
      case LayerType::kMoe: l.moe = shard_moe(*st, lw.moe, p); break;
    }
    s.layers.push_back(std::move(l));
  }
  s.checkpoint = full.checkpoint;
  s.storage = st;
  return s;
}

// ---------------------------------------------------------------------------------------------
// In-process collective

namespace {

// Thrown to the ranks waiting on one that failed (the group stays failed).
struct CollectiveAborted : std::runtime_error {
  CollectiveAborted() : std::runtime_error("all_reduce_sum: another rank failed") {}
};

// The last rank to arrive sums the W buffers in rank order and writes the sum into all of
// them while the others wait; a generation counter tells waiters their round is done.
class InProcessGroup {
 public:
  explicit InProcessGroup(int world) : bufs_(static_cast<size_t>(world)), world_(world) {}

  void all_reduce_sum(int rank, float* buf, int64_t n) {
    std::unique_lock lock(mu_);
    if (aborted_) throw CollectiveAborted();
    if (arrived_ == 0) n_ = n;
    else if (n != n_)
      throw std::logic_error("all_reduce_sum: rank " + num(rank) + " reduces " + num(n) + " floats, another " + num(n_));
    bufs_[rank] = buf;
    const uint64_t gen = generation_;
    if (++arrived_ == world_) {
      for (int64_t i = 0; i < n; ++i) {
        float s = bufs_[0][i];
        for (int r = 1; r < world_; ++r) s += bufs_[r][i];
        for (int r = 0; r < world_; ++r) bufs_[r][i] = s;
      }
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != gen || aborted_; });
    if (generation_ == gen) throw CollectiveAborted();
  }

  void abort() {
    std::lock_guard lock(mu_);
    aborted_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<float*> bufs_;
  int world_;
  int arrived_ = 0;
  int64_t n_ = 0;
  uint64_t generation_ = 0;
  bool aborted_ = false;
};

class InProcessCollective : public Collective {
 public:
  InProcessCollective(std::shared_ptr<InProcessGroup> g, int world, int rank) : g_(std::move(g)), world_(world), rank_(rank) {}
  int world_size() const override { return world_; }
  int rank() const override { return rank_; }
  void all_reduce_sum(float* buf, int64_t n) override {
    if (world_ > 1) g_->all_reduce_sum(rank_, buf, n);
  }
  void abort() override { g_->abort(); }

 private:
  std::shared_ptr<InProcessGroup> g_;
  int world_, rank_;
};

}  // namespace

std::vector<std::unique_ptr<Collective>> make_in_process_collectives(int world) {
  if (world < 1) throw PartitionError("world size must be at least 1, got " + num(world));
  auto g = std::make_shared<InProcessGroup>(world);
  std::vector<std::unique_ptr<Collective>> out;
  for (int r = 0; r < world; ++r) out.push_back(std::make_unique<InProcessCollective>(g, world, r));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sharded forward

void moe_expert_parallel(NemotronH& m, const PartitionPlan& p, const MoeWeights& w, const float* x, int64_t T,
                         float* out) {
  const ModelConfig& c = m.config();
  const int64_t E = c.n_routed_experts, H = c.hidden_size, L = c.latent();
  // The replicated router, as blocks::moe runs it: the same logits on every rank, so the same
  // routing as the unsharded model.
  const Matrix router{w.router.data(), DType::F32, E, H};
  std::vector<float> logits(static_cast<size_t>(T * E));
  m.matmul(router, x, T, logits.data(), E);
  std::vector<std::vector<std::pair<int64_t, float>>> tokens_of(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t)
    for (auto [e, wt] : blocks::route(c, &logits[t * E], w.correction_bias.data()))
      if (e >= p.experts.begin && e < p.experts.end) tokens_of[e].emplace_back(t, wt);

  std::vector<float> xl;
  const float* xin = x;
  if (w.latent) {
    xl.resize(static_cast<size_t>(T * L));
    m.matmul(w.fc1_latent, x, T, xl.data(), L, w.fc1_bias);
    xin = xl.data();
  }
  std::vector<float> yl(static_cast<size_t>(T * L), 0.0f), xe, ye;
  for (int64_t e = p.experts.begin; e < p.experts.end; ++e) {
    const auto& mine = tokens_of[e];
    if (mine.empty()) continue;
    const int64_t n = static_cast<int64_t>(mine.size());
    xe.resize(static_cast<size_t>(n * L));
    ye.resize(static_cast<size_t>(n * L));
    for (int64_t i = 0; i < n; ++i) std::copy_n(xin + mine[i].first * L, L, &xe[i * L]);
    blocks::mlp(m, w.experts[e], xe.data(), n, ye.data());
    for (int64_t i = 0; i < n; ++i) {
      float* dst = &yl[mine[i].first * L];
      const float wt = mine[i].second;
      for (int64_t j = 0; j < L; ++j) dst[j] += wt * ye[i * L + j];
    }
  }
  if (w.latent) m.matmul(w.fc2_latent, yl.data(), T, out, H, w.fc2_bias);
  else std::copy(yl.begin(), yl.end(), out);
  if (w.has_shared) {
    std::vector<float> shared(static_cast<size_t>(T * H));
    blocks::mlp(m, w.shared, x, T, shared.data());
    for (size_t i = 0; i < shared.size(); ++i) out[i] += shared[i];
  }
}

void forward_rank(NemotronH& m, const PartitionPlan& p, Collective& comm, std::vector<LayerState>& layers,
                  int64_t position, const int32_t* tokens, int64_t n, float* logits, bool all_positions) {
  // The engine's own layer loop on the shard: at W = 1 no hook is set, so the result is
  // bitwise the unsharded model's.
  ShardHooks hooks;
  if (p.world > 1) {
    hooks.moe = [&](const MoeWeights& w, const float* x, int64_t T, float* y) { moe_expert_parallel(m, p, w, x, T, y); };
    hooks.all_reduce_sum = [&](float* data, int64_t count) { comm.all_reduce_sum(data, count); };
  }
  ModelState state;
  state.position = position;
  state.layers = std::move(layers);
  try {
    m.forward_shard(state, tokens, n, logits, all_positions, hooks);
  } catch (...) {
    layers = std::move(state.layers);
    throw;
  }
  layers = std::move(state.layers);
}

ShardedNemotronH::ShardedNemotronH(const ModelWeights& full, int world, const EngineOptions& options)
    : config_(full.config), comms_(make_in_process_collectives(world)) {
  for (int r = 0; r < world; ++r) {
    plans_.push_back(plan_partition(full.config, world, r));
    shards_.push_back(std::make_unique<NemotronH>(shard_weights(full, plans_.back()), options));
  }
}

ShardedNemotronH::~ShardedNemotronH() = default;

ModelState ShardedNemotronH::new_state() const {
  ModelState s;
  for (const auto& m : shards_) {
    ModelState part = zero_host_state(m->config());
    for (LayerState& l : part.layers) s.layers.push_back(std::move(l));
  }
  return s;
}

void ShardedNemotronH::forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions) {
  const int64_t V = config_.vocab_size, L = config_.num_layers();
  const int W = world();
  check_tokens(tokens, n, V);  // before the ranks start: bad input is not a rank failure
  if (state.device || static_cast<int64_t>(state.layers.size()) != W * L)
    throw std::invalid_argument("state belongs to another model");
  // Each rank's slice of the state is moved out and back, so forward_rank sees a vector.
  std::vector<std::vector<LayerState>> parts(static_cast<size_t>(W));
  for (int r = 0; r < W; ++r)
    for (int64_t l = 0; l < L; ++l) parts[r].push_back(std::move(state.layers[r * L + l]));
  // Only rank 0's logits are kept (the LM head is replicated: the others compute the same).
  std::vector<std::vector<float>> scratch(static_cast<size_t>(W));
  const int64_t rows = all_positions ? n : 1;
  for (int r = 1; r < W && logits; ++r) scratch[r].resize(static_cast<size_t>(rows * V));
  // A failing rank aborts the group (for good: the ranks' states are out of step); its error,
  // not the waiters' CollectiveAborted, is rethrown.
  std::vector<std::exception_ptr> errors(static_cast<size_t>(W));
  std::atomic<bool> aborted{false};
  auto run = [&](int r) {
    float* out = logits && r > 0 ? scratch[r].data() : logits;
    try {
      forward_rank(*shards_[r], plans_[r], *comms_[r], parts[r], state.position, tokens, n, out, all_positions);
    } catch (const CollectiveAborted&) {
      aborted = true;
    } catch (...) {
      errors[r] = std::current_exception();
      comms_[r]->abort();
    }
  };
  if (W == 1) {
    run(0);
  } else {
    std::vector<std::thread> threads;
    for (int r = 1; r < W; ++r) threads.emplace_back(run, r);
    run(0);
    for (auto& t : threads) t.join();
  }
  for (int r = 0; r < W; ++r)
    for (int64_t l = 0; l < L; ++l) state.layers[r * L + l] = std::move(parts[r][l]);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  if (aborted) throw std::runtime_error("sharded forward: a rank failed earlier; this model cannot run on");
  state.position += n;
}

std::string ShardedNemotronH::device_description() const {
  return "cpu reference of " + std::to_string(world()) + " shards (" + shards_[0]->device_description() + " each)";
}

}  // namespace nagent::engine
