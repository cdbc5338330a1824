#include "engine/engine_options.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <stdexcept>

namespace nagent::engine {

std::vector<int32_t> parse_token_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno || v < 0 || v > INT32_MAX)
      throw std::invalid_argument("expected comma-separated token ids, got '" + item + "'");
    ids.push_back(static_cast<int32_t>(v));
    start = comma + 1;
  }
  return ids;
}

DtClamp parse_dt_clamp(const std::string& text) {
  if (text == "limit") return DtClamp::kTimeStepLimit;
  if (text == "transformers") return DtClamp::kTransformers;
  throw std::invalid_argument("dt clamp must be 'limit' or 'transformers', got '" + text + "'");
}

int parse_tensor_parallel(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno || v < 1 || v > 1024)
    throw std::invalid_argument("tensor parallel size must be a GPU count from 1 to 1024, got '" + text + "'");
  return static_cast<int>(v);
}

}  // namespace nagent::engine
