// Parsing of the engine settings that come as text (command line, settings files).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model_config.h"

namespace nagent::engine {

// "1,2,3" -> {1, 2, 3}. Throws std::invalid_argument naming the bad element.
std::vector<int32_t> parse_token_ids(const std::string& text);
// "limit" (NVIDIA kernels / vLLM) or "transformers". Throws std::invalid_argument.
DtClamp parse_dt_clamp(const std::string& text);
// --tensor-parallel / NAGENT_TP: a GPU count from 1 to 1024. Throws std::invalid_argument.
int parse_tensor_parallel(const std::string& text);

}  // namespace nagent::engine
