// A small command-line parser shared by the subcommands: --name VALUE, --name=VALUE,
// boolean --switches, positional arguments, and "--" ending the options.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace nagent::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Arguments {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // "--endpoint" -> "http://..." (the last one given)
  std::vector<std::pair<std::string, std::string>> occurrences;  // every valued option, in order
  std::set<std::string> switches;             // "--json"
  std::vector<std::string> rest;              // everything after "--"

  std::optional<std::string> get(const std::string& name) const;
  bool has(const std::string& name) const { return switches.count(name) > 0; }
  // Every value of an option that may be repeated ("--arg a=1 --arg b=2").
  std::vector<std::string> all(const std::string& name) const;
  // The value of an integer option, or fallback; UsageError if not a number in [min, max].
  long long integer(const std::string& name, long long fallback, long long min, long long max) const;
};

// Throws UsageError naming an unknown option or a missing value.
Arguments parse_arguments(const std::vector<std::string>& args, const std::set<std::string>& valued,
                          const std::set<std::string>& switches);

}  // namespace nagent::cli
