#include "agent/backend_factory.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "agent/errors.h"
#include "agent/runtime_paths.h"
#include "engine/engine_options.h"
#include "engine/local_backend.h"
#include "engine/openai_client.h"

namespace nagent {

namespace {

// A positive integer from the environment, 0 when unset; anything else is a ConfigError.
int64_t env_count(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  if (*end != '\0' || n <= 0 || n > (int64_t{1} << 40))
    throw ConfigError(std::string(name) + "=" + v + " is not a positive whole number");
  return n;
}

}  // namespace

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  std::string kind = options.kind;
  std::string model = options.model;
  if (kind.empty() && !options.endpoint.empty()) kind = "openai";
  // Neither a server nor a model: the small model nagent ships (models/nagent-default), run by
  // the embedded engine, so the main job works on a machine with no GPU and no network.
  if ((kind.empty() || kind == "local") && model.empty() &&
      std::filesystem::is_regular_file(default_model_dir() + "/config.json")) {
    kind = "local";
    model = default_model_dir();
  }
  if (kind == "openai") {
    if (options.endpoint.empty())
      throw ConfigError("--backend openai needs a server: pass --endpoint URL or set NAGENT_ENDPOINT "
                        "(e.g. http://127.0.0.1:8000/v1 for vLLM or SGLang)");
    OpenAIClientConfig config;
    config.endpoint = options.endpoint;
    config.model = model;
    config.api_key = options.api_key;
    config.context_window = options.context_length;
    if (options.max_retries >= 0) config.retry.max_retries = options.max_retries;
    try {
      return std::make_unique<OpenAIClient>(config);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(e.what());
    }
  }
  if (kind == "local") {
    if (model.empty())
      throw ConfigError("--backend local needs a model directory: pass --model DIR (config.json, *.safetensors, "
                        "tokenizer.json); the shipped default model is missing from " + default_model_dir());
    LocalBackendOptions local;
    local.model_dir = model;
    if (const char* d = std::getenv("NAGENT_DEVICE")) local.device = d;  // cpu | cuda | cuda:N | auto
    try {  // GPUs to shard the model over, from NAGENT_DEVICE's (engine/cuda/cuda_sharded.h)
      if (const char* tp = std::getenv("NAGENT_TP")) local.tensor_parallel = engine::parse_tensor_parallel(tp);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("NAGENT_TP: ") + e.what());
    }
    // The embedded engine's scheduler (docs/backends.md): session pool budget, prefill chunk.
    local.pool_bytes = env_count("NAGENT_SESSION_POOL_MB") << 20;
    local.prefill_chunk = env_count("NAGENT_PREFILL_CHUNK");
    return make_local_backend(local);
  }
  if (kind.empty())
    throw ConfigError("no model configured and no default model at " + default_model_dir() +
                      ": pass --endpoint URL (an OpenAI-compatible server such as vLLM or SGLang serving Nemotron 3), "
                      "set NAGENT_ENDPOINT, or --model DIR; see docs/backends.md");
  throw ConfigError("unknown backend '" + kind + "' (known: openai, local)");
}

}  // namespace nagent
