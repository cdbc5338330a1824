#include "engine/engine_session.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace nagent::engine {

namespace {

constexpr char kMagic[8] = {'N', 'A', 'G', 'S', 'E', 'S', 'S', '1'};

// What must agree between the model that wrote a session file and the one reading it.
std::string fingerprint(const ModelConfig& c) {
  return c.pattern() + "|" + std::to_string(c.vocab_size) + "|" + std::to_string(c.hidden_size) + "|" +
         std::to_string(c.conv_kernel) + "|" + std::to_string(c.conv_dim()) + "|" +
         std::to_string(c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size) + "|" +
         std::to_string(c.num_key_value_heads * c.head_dim);
}

bool is_prefix(const std::vector<int32_t>& p, const std::vector<int32_t>& of) {
  return p.size() <= of.size() && std::equal(p.begin(), p.end(), of.begin());
}

template <typename T>
void put(std::ofstream& out, const T& v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof(v));
}
template <typename T>
void put_vec(std::ofstream& out, const std::vector<T>& v) {
  put<uint64_t>(out, v.size());
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}

struct Reader {
  std::ifstream in;
  std::string path;
  uint64_t remaining;
  void bytes(void* dst, uint64_t n) {
    if (n > remaining || !in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n)))
      throw std::runtime_error(path + ": session file is truncated");
    remaining -= n;
  }
  template <typename T>
  T get() {
    T v;
    bytes(&v, sizeof(v));
    return v;
  }
  template <typename T>
  std::vector<T> vec(uint64_t expected) {
    const uint64_t n = get<uint64_t>();
    if (n != expected)
      throw std::runtime_error(path + ": session file has an array of " + std::to_string(n) + " values where " +
                               std::to_string(expected) + " were expected");
    std::vector<T> v(static_cast<size_t>(n));
    bytes(v.data(), n * sizeof(T));
    return v;
  }
};

}  // namespace

EngineSession::EngineSession(LanguageModel& model) : model_(&model) { snap_.state = model.new_state(); }

const std::vector<float>& EngineSession::append(const int32_t* tokens, int64_t n) {
  if (n <= 0) return snap_.last_logits;
  snap_.last_logits.resize(static_cast<size_t>(model_->config().vocab_size));
  model_->forward(snap_.state, tokens, n, snap_.last_logits.data(), false);
  snap_.tokens.insert(snap_.tokens.end(), tokens, tokens + n);
  return snap_.last_logits;
}

void EngineSession::append_batch(EngineSession* const* sessions, const int32_t* tokens, int64_t n) {
  if (n <= 0) return;
  LanguageModel& model = *sessions[0]->model_;
  const size_t V = static_cast<size_t>(model.config().vocab_size);
  std::vector<ModelState*> states(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (sessions[i]->model_ != &model) throw std::invalid_argument("append_batch: sessions of different models");
    states[i] = &sessions[i]->snap_.state;
  }
  std::vector<float> logits(static_cast<size_t>(n) * V);
  model.decode_batch(states.data(), tokens, n, logits.data());
  for (int64_t i = 0; i < n; ++i) {
    SessionSnapshot& s = sessions[i]->snap_;
    s.last_logits.assign(logits.begin() + static_cast<std::ptrdiff_t>(i * V), logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * V));
    s.tokens.push_back(tokens[i]);
  }
}

int64_t EngineSession::sync(const std::vector<int32_t>& tokens, const SessionSnapshot* fallback) {
  if (!is_prefix(snap_.tokens, tokens)) {
    if (fallback && is_prefix(fallback->tokens, tokens)) restore(*fallback);
    else reset();
  }
  const int64_t start = static_cast<int64_t>(snap_.tokens.size());
  append(tokens.data() + start, static_cast<int64_t>(tokens.size()) - start);
  return static_cast<int64_t>(tokens.size()) - start;
}

void EngineSession::reset() {
  snap_ = SessionSnapshot{};
  snap_.state = model_->new_state();
}

void EngineSession::restore(SessionSnapshot s) {
  if (!s.state.device && s.state.layers.size() != model_->config().layers.size())
    throw std::invalid_argument("snapshot belongs to a model with another layer count");
  snap_ = std::move(s);
}

SessionSnapshot EngineSession::host_snapshot() const {
  SessionSnapshot s;
  s.state = model_->host_state(snap_.state);
  s.tokens = snap_.tokens;
  s.last_logits = snap_.last_logits;
  return s;
}

void EngineSession::save(const std::string& path) const {
  const ModelState host = model_->host_state(snap_.state);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot create session file");
  out.write(kMagic, sizeof(kMagic));
  const std::string fp = fingerprint(model_->config());
  put<uint64_t>(out, fp.size());
  out.write(fp.data(), static_cast<std::streamsize>(fp.size()));
  put<int64_t>(out, host.position);
  put_vec(out, snap_.tokens);
  put_vec(out, snap_.last_logits);
  for (const LayerState& l : host.layers) {
    put_vec(out, l.conv);
    put_vec(out, l.ssm);
    put_vec(out, l.k);
    put_vec(out, l.v);
  }
  if (!out) throw std::runtime_error(path + ": write failed");
}

void EngineSession::load(const std::string& path) {
  Reader r{std::ifstream(path, std::ios::binary | std::ios::ate), path, 0};
  if (!r.in) throw std::runtime_error(path + ": cannot open session file");
  r.remaining = static_cast<uint64_t>(r.in.tellg());
  r.in.seekg(0);
  char magic[sizeof(kMagic)];
  r.bytes(magic, sizeof(magic));
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) throw std::runtime_error(path + ": not a session file");
  const ModelConfig& c = model_->config();
  const std::string want = fingerprint(c);
  const uint64_t fp_len = r.get<uint64_t>();
  if (fp_len != want.size()) throw std::runtime_error(path + ": session file was written for another model");
  std::string fp(fp_len, '\0');
  r.bytes(fp.data(), fp_len);
  if (fp != want) throw std::runtime_error(path + ": session file was written for another model (" + fp + ")");
  SessionSnapshot s;
  s.state = zero_host_state(c);
  s.state.position = r.get<int64_t>();
  if (s.state.position < 0 || static_cast<uint64_t>(s.state.position) > r.remaining)
    throw std::runtime_error(path + ": session file has an impossible position");
  const uint64_t pos = static_cast<uint64_t>(s.state.position);
  s.tokens = r.vec<int32_t>(pos);
  s.last_logits = r.vec<float>(pos ? static_cast<uint64_t>(c.vocab_size) : 0);
  const uint64_t kvd = static_cast<uint64_t>(c.num_key_value_heads * c.head_dim);
  for (size_t l = 0; l < s.state.layers.size(); ++l) {
    LayerState& ls = s.state.layers[l];
    const bool attn = c.layers[l] == LayerType::kAttention;
    ls.conv = r.vec<float>(ls.conv.size());
    ls.ssm = r.vec<float>(ls.ssm.size());
    ls.k = r.vec<float>(attn ? pos * kvd : 0);
    ls.v = r.vec<float>(attn ? pos * kvd : 0);
  }
  if (r.remaining != 0) throw std::runtime_error(path + ": session file has trailing bytes");
  snap_ = std::move(s);
}

}  // namespace nagent::engine
