// Chooses and builds the model backend from the CLI / environment settings.
#pragma once

#include <memory>
#include <string>

#include "engine/backend.h"

namespace nagent {

struct BackendOptions {
  std::string kind;      // "openai" | "local" | "": openai with an endpoint, else the shipped default model
  std::string endpoint;  // --endpoint / NAGENT_ENDPOINT
  std::string model;     // --model / NAGENT_MODEL (a name for openai, a directory for local)
  std::string api_key;   // NAGENT_API_KEY
  int64_t context_length = 0;  // --context-length; 0: ask the backend
  int max_retries = -1;        // NAGENT_MAX_RETRIES; -1: the client's default
};

// Throws ConfigError when no usable backend is configured, naming the flag to set.
std::unique_ptr<Backend> make_backend(const BackendOptions& options);

}  // namespace nagent
