#include "agent/cli/arguments.h"

namespace nagent::cli {

std::optional<std::string> Arguments::get(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Arguments::all(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : occurrences)
    if (n == name) out.push_back(v);
  return out;
}

long long Arguments::integer(const std::string& name, long long fallback, long long min, long long max) const {
  auto v = get(name);
  if (!v) return fallback;
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v->size() || n < min || n > max)
    throw UsageError(name + " expects an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                     ", got '" + *v + "'");
  return n;
}

Arguments parse_arguments(const std::vector<std::string>& args, const std::set<std::string>& valued,
                          const std::set<std::string>& switches) {
  Arguments out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.rest.assign(args.begin() + long(i) + 1, args.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-' || a == "-") {
      out.positional.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    if (switches.count(name)) {
      if (inline_value) throw UsageError(name + " takes no value");
      out.switches.insert(name);
    } else if (valued.count(name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) throw UsageError(name + " needs a value");
        value = args[++i];
      }
      out.values[name] = value;
      out.occurrences.emplace_back(name, value);
    } else {
      throw UsageError("unknown option " + name);
    }
  }
  return out;
}

}  // namespace nagent::cli
