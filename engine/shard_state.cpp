#include "engine/shard_state.h"

#include <stdexcept>

namespace nagent::engine {

namespace {

// Where a rank's part of a row lives in the full row: ranges [begin, end) of the full row,
// concatenated in order in the rank's row.
using Parts = std::vector<Span>;

// Mamba conv channels [x | B | C] (as shard_weights slices conv_w).
Parts conv_parts(const ModelConfig& c, const PartitionPlan& p) {
  const int64_t P = c.mamba_head_dim, N = c.ssm_state_size, di = c.d_inner(), gn = c.gn();
  return {{p.mamba_heads.begin * P, p.mamba_heads.end * P},
          {di + p.mamba_groups.begin * N, di + p.mamba_groups.end * N},
          {di + gn + p.mamba_groups.begin * N, di + gn + p.mamba_groups.end * N}};
}
Parts ssm_parts(const ModelConfig& c, const PartitionPlan& p) {
  const int64_t per_head = c.mamba_head_dim * c.ssm_state_size;
  return {{p.mamba_heads.begin * per_head, p.mamba_heads.end * per_head}};
}
Parts kv_parts(const ModelConfig& c, const PartitionPlan& p) {
  return {{p.kv_heads.begin * c.head_dim, p.kv_heads.end * c.head_dim}};
}
int64_t width(const Parts& parts) {
  int64_t w = 0;
  for (const Span& s : parts) w += s.size();
  return w;
}

// Rows of `full_w` values -> rows of the parts.
std::vector<float> slice_rows(const std::vector<float>& v, int64_t full_w, const Parts& parts) {
  if (v.empty()) return {};
  if (static_cast<int64_t>(v.size()) % full_w) throw std::invalid_argument("layer state of the wrong size");
  std::vector<float> out;
  out.reserve(static_cast<size_t>(static_cast<int64_t>(v.size()) / full_w * width(parts)));
  for (size_t row = 0; row < v.size(); row += static_cast<size_t>(full_w))
    for (const Span& s : parts) out.insert(out.end(), v.begin() + row + s.begin, v.begin() + row + s.end);
  return out;
}

// The parts' rows written back into rows of `full_w` values (out already sized).
void place_rows(const std::vector<float>& part, int64_t full_w, const Parts& parts, std::vector<float>& out) {
  const int64_t w = width(parts);
  if (w == 0) return;
  if (static_cast<int64_t>(part.size()) * full_w != static_cast<int64_t>(out.size()) * w)
    throw std::invalid_argument("rank layer state of the wrong size");
  size_t src = 0;
  for (size_t row = 0; row < out.size(); row += static_cast<size_t>(full_w))
    for (const Span& s : parts) {
      std::copy(part.begin() + src, part.begin() + src + s.size(), out.begin() + row + s.begin);
      src += s.size();
    }
}

}  // namespace

std::vector<LayerState> shard_layer_states(const ModelConfig& c, const PartitionPlan& p,
                                           const std::vector<LayerState>& layers) {
  if (layers.size() != c.layers.size()) throw std::invalid_argument("state belongs to another model");
  std::vector<LayerState> out(layers.size());
  const int64_t kvd = c.num_key_value_heads * c.head_dim;
  for (size_t l = 0; l < layers.size(); ++l) {
    if (c.layers[l] == LayerType::kMamba) {
      out[l].conv = slice_rows(layers[l].conv, c.conv_dim(), conv_parts(c, p));
      out[l].ssm = slice_rows(layers[l].ssm, c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size, ssm_parts(c, p));
    } else if (c.layers[l] == LayerType::kAttention) {
      out[l].k = slice_rows(layers[l].k, kvd, kv_parts(c, p));
      out[l].v = slice_rows(layers[l].v, kvd, kv_parts(c, p));
    }
  }
  return out;
}

std::vector<LayerState> unshard_layer_states(const ModelConfig& c, const std::vector<PartitionPlan>& plans,
                                             const std::vector<std::vector<LayerState>>& ranks) {
  if (plans.empty() || ranks.size() != plans.size()) throw std::invalid_argument("one layer state per rank expected");
  const size_t L = c.layers.size();
  for (const auto& r : ranks)
    if (r.size() != L) throw std::invalid_argument("state belongs to another model");
  std::vector<LayerState> out(L);
  const int64_t kvd = c.num_key_value_heads * c.head_dim, ssm_w = c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size;
  for (size_t l = 0; l < L; ++l) {
    if (c.layers[l] == LayerType::kMamba) {
      const int64_t conv_part = width(conv_parts(c, plans[0])), ssm_part = width(ssm_parts(c, plans[0]));
      const int64_t rows = conv_part ? static_cast<int64_t>(ranks[0][l].conv.size()) / conv_part : 0;
      out[l].conv.assign(static_cast<size_t>(rows * c.conv_dim()), 0.0f);
      out[l].ssm.assign(ssm_part ? ranks[0][l].ssm.size() / ssm_part * ssm_w : 0, 0.0f);
      for (size_t r = 0; r < plans.size(); ++r) {
        place_rows(ranks[r][l].conv, c.conv_dim(), conv_parts(c, plans[r]), out[l].conv);
        place_rows(ranks[r][l].ssm, ssm_w, ssm_parts(c, plans[r]), out[l].ssm);
      }
    } else if (c.layers[l] == LayerType::kAttention) {
      const int64_t part = width(kv_parts(c, plans[0]));
      const size_t n = part ? ranks[0][l].k.size() / static_cast<size_t>(part) * static_cast<size_t>(kvd) : 0;
      out[l].k.assign(n, 0.0f);
      out[l].v.assign(n, 0.0f);
      // Each KV head from the first rank holding it (ranks in order hold ascending heads).
      int64_t next_head = 0;
      for (size_t r = 0; r < plans.size(); ++r) {
        const Span held = plans[r].kv_heads;
        if (held.end <= next_head) continue;  // a replica of heads already placed
        if (held.begin != next_head) throw std::invalid_argument("ranks do not cover the KV heads in order");
        place_rows(ranks[r][l].k, kvd, kv_parts(c, plans[r]), out[l].k);
        place_rows(ranks[r][l].v, kvd, kv_parts(c, plans[r]), out[l].v);
        next_head = held.end;
      }
    }
  }
  return out;
}

}  // namespace nagent::engine
