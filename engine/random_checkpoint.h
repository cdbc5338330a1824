// Random BF16 checkpoints of a config, for benchmarks (bench/engine_cpu.cpp and
// `nagent bench-engine --shape`): config.json plus one model.safetensors with every tensor the
// loader expects for Mamba, attention, MLP and MoE layers (no MTP layers, no optional biases
// except the conv bias). Matrices ~ N(0, 1/cols), vectors ~ 1 + N(0, 0.01).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model_config.h"

namespace nagent::engine {

// The bench_torch.py shape: H 768, 14 layers M-M-M*-M-M-M*-, vocab 32000 (~104M parameters).
nlohmann::json small_benchmark_config();
// Nemotron 3 Nano 30B-A3B's config.json (tests/fixtures/nemotronh/configs/nemotron3_nano_30b_a3b.json,
// compiled in; a test checks they agree).
nlohmann::json nemotron3_nano_30b_a3b_config();
// The config of a named benchmark shape: "small" or "nemotron-3-nano-30b-a3b"; nullopt if unknown.
std::optional<nlohmann::json> benchmark_shape_config(const std::string& name);

// (name, shape) of every tensor a random checkpoint of `c` holds, in the order it writes them.
std::vector<std::pair<std::string, std::vector<int64_t>>> checkpoint_tensor_shapes(const ModelConfig& c);
// Their element count (the parameter count).
int64_t checkpoint_parameters(const ModelConfig& c);

// Writes DIR/config.json (config, torch_dtype set to bfloat16) and DIR/model.safetensors
// (created if missing). Holds the whole checkpoint in memory while writing (2 bytes a parameter).
void write_random_checkpoint(const std::string& dir, nlohmann::json config, uint32_t seed = 7);

}  // namespace nagent::engine
