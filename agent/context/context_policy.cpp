#include "agent/context/context_policy.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace nagent {

ContextPolicy ContextPolicy::from_json(const json& spec, const ContextPolicy& defaults) {
  ContextPolicy p = defaults;
  if (!spec.is_object()) throw std::invalid_argument("context must be a table of settings, e.g. {threshold = 0.7}");
  auto number = [&](const char* key, double lo, double hi, bool lo_open) -> std::optional<double> {
    if (!spec.contains(key)) return std::nullopt;
    const json& v = spec[key];
    const bool ok = v.is_number() && (lo_open ? v.get<double>() > lo : v.get<double>() >= lo) && v.get<double>() <= hi;
    if (!ok)
      throw std::invalid_argument(std::string("context.") + key + " must be a number in " + (lo_open ? "(" : "[") +
                                  std::to_string(lo).substr(0, 4) + ", " + std::to_string(hi).substr(0, 4) + "]");
    return v.get<double>();
  };
  auto integer = [&](const char* key, int64_t lo, int64_t hi) -> std::optional<int64_t> {
    if (!spec.contains(key)) return std::nullopt;
    const json& v = spec[key];
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
      throw std::invalid_argument(std::string("context.") + key + " must be an integer from " + std::to_string(lo) +
                                  " to " + std::to_string(hi));
    return v.get<int64_t>();
  };
  static const char* known[] = {"window",     "threshold",      "target",         "min_free",  "keep_recent",
                                "artifact_bytes", "view_bytes", "summary_tokens", "strategy"};
  for (const auto& [key, value] : spec.items())
    if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return key == k; }))
      throw std::invalid_argument("context: unknown setting '" + key +
                                  "' (known: window, threshold, target, min_free, keep_recent, artifact_bytes, "
                                  "view_bytes, summary_tokens, strategy)");
  if (auto v = integer("window", 1024, kMaxWindow)) p.window = *v;
  if (auto v = number("threshold", 0, 1, true)) p.threshold = *v;
  if (auto v = number("target", 0, 1, true)) p.target = *v;
  if (auto v = number("min_free", 0, 1, true)) p.min_free = *v;
  if (auto v = integer("keep_recent", 1, 1000)) p.keep_recent = int(*v);
  if (auto v = integer("artifact_bytes", 256, int64_t(1) << 30)) p.artifact_bytes = uint64_t(*v);
  if (auto v = integer("view_bytes", 256, int64_t(1) << 30)) p.view_bytes = uint64_t(*v);
  if (auto v = integer("summary_tokens", 64, kMaxWindow)) p.summary_tokens = *v;
  if (spec.contains("strategy")) {
    const json& s = spec["strategy"];
    if (!s.is_string() || (s != "summarize" && s != "elide" && s != "none"))
      throw std::invalid_argument("context.strategy must be \"summarize\", \"elide\" or \"none\"");
    p.strategy = s.get<std::string>();
  }
  // The values too: one of them may come from the policy file, the other from the recipe.
  auto share = [](double v) { return std::to_string(v).substr(0, 4); };
  if (p.target >= p.threshold)
    throw std::invalid_argument("context.target (" + share(p.target) + ") must be below context.threshold (" +
                                share(p.threshold) + ")");
  if (p.min_free > p.threshold)
    throw std::invalid_argument("context.min_free (" + share(p.min_free) + ") must not exceed context.threshold (" +
                                share(p.threshold) + ")");
  return p;
}

ContextPolicy ContextPolicy::from_policy(const sandbox::Policy& policy, const ContextPolicy& defaults) {
  ContextPolicy p = defaults;
  for (const auto& layer : policy.context) {
    try {
      p = from_json(layer.settings, p);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("policy " + layer.file + ": " + e.what());
    }
  }
  return p;
}

int64_t ContextPolicy::resolve_window(int64_t backend_window) const {
  const int64_t w = window > 0 ? window : backend_window > 0 ? backend_window : kDefaultWindow;
  return std::min(w, kMaxWindow);
}

}  // namespace nagent
