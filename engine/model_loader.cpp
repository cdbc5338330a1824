#include "engine/model_loader.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#if NAGENT_CUDA
#include "engine/cuda/cuda_model.h"
#include "engine/cuda/cuda_sharded.h"
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

std::vector<int> tensor_parallel_devices(const DeviceChoice& d, int world, int cuda_devices) {
  if (world < 1) throw std::invalid_argument("tensor parallel size must be at least 1, got " + std::to_string(world));
  if (world > 1 && !d.cuda)
    throw std::invalid_argument("tensor parallel over " + std::to_string(world) +
                                " GPUs needs a CUDA device (--device cuda or cuda:N)");
  if (world > 1 && d.ordinal + world > cuda_devices)
    throw std::invalid_argument("tensor parallel over " + std::to_string(world) + " GPUs from cuda:" +
                                std::to_string(d.ordinal) + " needs cuda:" + std::to_string(d.ordinal) + " to cuda:" +
                                std::to_string(d.ordinal + world - 1) + "; this machine has " +
                                std::to_string(cuda_devices) + " CUDA GPU" + (cuda_devices == 1 ? "" : "s"));
  std::vector<int> devices;
  for (int r = 0; r < world; ++r) devices.push_back(d.ordinal + r);
  return devices;
}

std::unique_ptr<LanguageModel> load_language_model(const std::string& dir, const std::string& device,
                                                   const EngineOptions& options) {
  [[maybe_unused]] const DeviceChoice d = resolve_device(device);  // validates the name either way
  [[maybe_unused]] const std::vector<int> devices =
      tensor_parallel_devices(d, options.tensor_parallel, d.cuda ? cuda_devices() : 0);
#if NAGENT_CUDA
  // One GPU is the plain model (no rank thread, no collective): the no-op cost of world size 1.
  if (d.cuda && devices.size() > 1) return cuda::load_sharded_model(dir, devices, options);
  if (d.cuda) return cuda::load_model(dir, d.ordinal, options);
#endif
  return NemotronH::load(dir, options);
}

}  // namespace nagent::engine
