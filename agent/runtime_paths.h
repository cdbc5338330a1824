// Where nagent finds its shipped data (recipes/, policies/): $NAGENT_DATA_DIR, else the
// source tree it was built from; and reading its environment settings.
#pragma once

#include <string>

namespace nagent {

std::string data_dir();
// The shipped default model: $NAGENT_DEFAULT_MODEL, else data_dir()/models/nagent-default.
std::string default_model_dir();
// The environment variable's value, or fallback when it is unset or empty.
std::string env_or(const char* name, const std::string& fallback);
// A recipe file path as given, or NAME / NAME.lua under data_dir()/recipes. Throws
// ConfigError listing the shipped recipes when neither exists.
std::string resolve_recipe(const std::string& name_or_path);

}  // namespace nagent
