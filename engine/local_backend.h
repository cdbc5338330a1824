// The embedded engine as a Backend: renders the request with the Nemotron 3 chat template,
// tokenizes, prefills only what its session does not already hold, generates, and splits
// reasoning from content. Tool calls stay as qwen3_coder text in content (the agent parses them).
#pragma once

#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/language_model.h"

namespace nagent {

struct LocalBackendOptions {
  std::string model_dir;  // config.json, safetensors, tokenizer.json, tokenizer_config.json
  int threads = 0;        // 0: all hardware threads
  std::string device = "auto";  // cpu | cuda | cuda:N | auto (engine/model_loader.h)
};

// Throws BackendError (one line: what and how to fix) when the model or tokenizer cannot load.
std::unique_ptr<Backend> make_local_backend(const LocalBackendOptions& options);

}  // namespace nagent
