// The embedded engine as a Backend: renders the request with the Nemotron 3 chat template,
// tokenizes, prefills only what its pooled session does not already hold, generates, and
// splits reasoning from content. Tool calls stay as qwen3_coder text in content (the agent
// parses them). chat() is thread-safe: concurrent calls are batched by engine/scheduler.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/language_model.h"

namespace nagent {

struct LocalBackendOptions {
  std::string model_dir;  // config.json, safetensors, tokenizer.json, tokenizer_config.json
  int threads = 0;        // 0: all hardware threads
  std::string device = "auto";  // cpu | cuda | cuda:N | auto (engine/model_loader.h)
  int tensor_parallel = 1;      // GPUs the model is sharded over, from `device` (EngineOptions)
  // The scheduler (engine/scheduler.h) that serves concurrent chat() calls: bytes of session
  // state the pool may hold (running and idle), prompt tokens prefilled per step. 0: defaults.
  int64_t pool_bytes = 0;
  int64_t prefill_chunk = 0;
};

// Throws BackendError (one line: what and how to fix) when the model or tokenizer cannot load.
std::unique_ptr<Backend> make_local_backend(const LocalBackendOptions& options);

}  // namespace nagent
