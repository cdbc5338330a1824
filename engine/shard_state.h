// A sequence's host-form layer states (ModelState::layers) under a PartitionPlan: the slice a
// rank holds (its Mamba channels, B/C groups and heads; its attention KV heads) and, from every
// rank's slice, the unsharded layout again. A sharded model's host form is the unsharded one,
// so snapshots and session files (EngineSession) are the same as on one device.
#pragma once

#include <vector>

#include "engine/language_model.h"
#include "engine/partition.h"

namespace nagent::engine {

// Rank plan.rank's part of `layers` (full's layout, one per layer of full.layers).
std::vector<LayerState> shard_layer_states(const ModelConfig& full, const PartitionPlan& plan,
                                           const std::vector<LayerState>& layers);
// The inverse: ranks[r] is rank plans[r].rank's part (shard_layer_states' layout); a KV head
// held by several ranks (plan.kv_replicas > 1) is read from the first.
std::vector<LayerState> unshard_layer_states(const ModelConfig& full, const std::vector<PartitionPlan>& plans,
                                             const std::vector<std::vector<LayerState>>& ranks);

}  // namespace nagent::engine
