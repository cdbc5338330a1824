#include "engine/model_loader.h"

#include <cstdlib>
#include <stdexcept>

#if NAGENT_CUDA
#include "engine/cuda/cuda_model.h"
#endif

namespace nagent::engine {

namespace {

int cuda_devices() {
#if NAGENT_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

}  // namespace

bool built_with_cuda() { return NAGENT_CUDA != 0; }

DeviceChoice resolve_device(const std::string& name) {
  if (name == "cpu") return {};
  if (name == "auto" || name.empty()) return cuda_devices() > 0 ? DeviceChoice{true, 0} : DeviceChoice{};
  if (name.rfind("cuda", 0) != 0)
    throw std::invalid_argument("unknown device '" + name + "' (known: cpu, cuda, cuda:N, auto)");
  int ordinal = 0;
  if (name.size() > 4) {
    char* end = nullptr;
    const long v = name[4] == ':' ? std::strtol(name.c_str() + 5, &end, 10) : -1;
    if (name[4] != ':' || name.size() == 5 || *end != '\0' || v < 0 || v > 1023)
      throw std::invalid_argument("device '" + name + "': expected cuda or cuda:N with N a GPU number");
    ordinal = static_cast<int>(v);
  }
  if (!built_with_cuda())
    throw std::invalid_argument("device '" + name +
                                "': this nagent was built without CUDA (configure with -DNAGENT_CUDA=ON where the CUDA "
                                "toolkit is installed), use --device cpu");
  const int n = cuda_devices();
  if (ordinal >= n)
    throw std::invalid_argument("device '" + name + "': this machine has " + std::to_string(n) + " CUDA GPU" +
                                (n == 1 ? "" : "s"));
  return {true, ordinal};
}

std::unique_ptr<LanguageModel> load_language_model(const std::string& dir, const std::string& device,
                                                   const EngineOptions& options) {
  [[maybe_unused]] const DeviceChoice d = resolve_device(device);  // validates the name either way
#if NAGENT_CUDA
  if (d.cuda) return cuda::load_model(dir, d.ordinal, options);
#endif
  return NemotronH::load(dir, options);
}

}  // namespace nagent::engine
