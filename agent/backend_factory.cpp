#include "agent/backend_factory.h"

#include "agent/errors.h"
#include "engine/local_backend.h"
#include "engine/openai_client.h"

namespace nagent {

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  std::string kind = options.kind;
  if (kind.empty()) kind = options.endpoint.empty() ? "" : "openai";
  if (kind == "openai") {
    if (options.endpoint.empty())
      throw ConfigError("--backend openai needs a server: pass --endpoint URL or set NAGENT_ENDPOINT "
                        "(e.g. http://127.0.0.1:8000/v1 for vLLM or SGLang)");
    OpenAIClientConfig config;
    config.endpoint = options.endpoint;
    config.model = options.model;
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
    if (options.model.empty())
      throw ConfigError("--backend local needs a model directory: pass --model DIR (config.json, *.safetensors, tokenizer.json)");
    LocalBackendOptions local;
    local.model_dir = options.model;
    return make_local_backend(local);
  }
  if (kind.empty())
    throw ConfigError("no model configured: pass --endpoint URL (an OpenAI-compatible server such as vLLM or "
                      "SGLang serving Nemotron 3) or set NAGENT_ENDPOINT; see docs/backends.md");
  throw ConfigError("unknown backend '" + kind + "' (known: openai, local)");
}

}  // namespace nagent
